"""Errors that the command lines turn into a one-line message instead of a traceback."""

from __future__ import annotations


class FerbenchError(Exception):
    """Base class: an error the user can fix (bad data, bad config)."""


class DataError(FerbenchError):
    """A data set is missing, in an unknown layout, or holds a corrupt / unexpected file."""


class OutputError(FerbenchError):
    """An output cannot be written: its folder is read-only or missing, the disk is (nearly) full, or the
    output exists and replacing it was not asked for."""


def user_error(exc: BaseException | None) -> FerbenchError | None:
    """Our error behind `exc` (itself, or what it was raised from, e.g. when Hydra's instantiate
    wrapped it); None for real bugs, which keep their traceback."""
    while exc is not None:
        if isinstance(exc, FerbenchError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class ConfigError(FerbenchError, ValueError):
    """A configuration value is invalid, or two choices cannot be combined.

    A `ValueError`, so scikit-learn-style callers that catch invalid parameters catch it too.
    `key` names the offending value when it is known: the parameter's name where it was checked
    (`size`), made into the config path (`detector.size`) by `under` as the error travels up. The
    message then reads "<key> <text>", e.g. "detector.size must be an integer >= 8, got 4".
    """

    def __init__(self, text: str, key: str | None = None):
        super().__init__(text)
        self.text, self.key = text, key

    def __str__(self) -> str:
        return self.text if self.key is None else f"{self.key} {self.text}"

    def under(self, prefix: str) -> ConfigError:
        """The same error with its key seen from the config node `prefix` (e.g. "method"); an error
        without a key is returned as it is (its message already says what it is about)."""
        if not prefix or self.key is None:
            return self
        return ConfigError(self.text, f"{prefix}.{self.key}")
