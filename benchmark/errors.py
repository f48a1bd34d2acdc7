"""Errors that the command line turns into a clear message instead of a traceback."""


class FerbenchError(Exception):
    """Base class: an error the user can fix (bad data, bad config)."""


class DataError(FerbenchError):
    """A data set is missing, in an unknown layout, or holds a corrupt / unexpected file."""


class ConfigError(FerbenchError):
    """A configuration value is invalid or two choices cannot be combined."""
