"""The CLI's one error for bad arguments: printed as one line, exit code 2."""


class UsageError(ValueError):
    """Bad arguments: printed as one line, exit code 2."""
