"""Errors the command line reports as one line."""


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""
