"""Tuning studies: Bayesian optimisation (Optuna's TPE) of each cell's hyperparameters on validation error."""
