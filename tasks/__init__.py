"""What `main.py` runs: `compress` (one benchmark run), and the experiments of the theory papers."""
