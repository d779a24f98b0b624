"""The CLI's errors that end a command with one line: bad arguments (exit code 2), a store it cannot open (1)."""


class UsageError(ValueError):
    """Bad arguments: printed as one line, exit code 2."""


class StoreUnavailable(RuntimeError):
    """The configured store cannot be opened (no driver for its URL, server down, refused): one line, exit code 1."""
