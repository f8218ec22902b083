"""Errors a user can cause: they end a run with one clear line, never a traceback."""


class UserError(Exception):
    """Bad input from the user (config value, missing data, unknown option).

    The message must name the offending value and what is allowed; `main.py`
    prints it as a single line and exits with status 2.
    """
