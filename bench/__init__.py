"""The engine of the compression benchmark: budget, training, evaluation, export, records."""
