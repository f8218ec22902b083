"""The harness as an installed package: its console commands (`compression_bench/commands.py`).

The project's own folders (`bench`, `datasets`, `methods`, ...) stay top-level folders of the
clone and are not installed: `pip install -e .` installs this package only, so `import datasets`
elsewhere still finds Hugging Face's. A command puts the clone on its own import path first.
"""
