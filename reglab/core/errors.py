"""The exceptions reglab raises on purpose.

Every one derives from :class:`ReglabError`, so ``except ReglabError`` catches
what reglab itself reports, and from the built-in class a caller would expect
(``ValueError`` for a bad argument, ``FileNotFoundError`` for missing data),
so existing handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "ReglabError",
    "InvalidArgumentError",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "CorruptDataError",
    "ChecksumError",
    "DivergenceError",
    "MissingExtraError",
    "OutputError",
]


class ReglabError(Exception):
    """Base class of the errors reglab raises on purpose."""


class InvalidArgumentError(ReglabError, ValueError):
    """An argument is outside its allowed range or of the wrong kind.

    The message is always one sentence of the form
    "Invalid value received for argument `p`. Expected a float between 0 and 1.
    Received: p=1.5", built by :func:`reglab.core.checks.invalid_argument`.
    """


class ConfigError(ReglabError, ValueError):
    """An experiment setting (a ``key=value`` override) cannot be applied."""


class DataError(ReglabError):
    """A data file is missing, unreadable or not what it should be."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data files are in none of the places searched and cannot be downloaded."""


class CorruptDataError(DataError):
    """A data file is truncated, not gzip, not IDX, or inconsistent with its partner."""


class ChecksumError(CorruptDataError):
    """A data file's decompressed bytes do not have the published SHA-256."""


class DivergenceError(ReglabError, FloatingPointError):
    """Training produced a non-finite loss.

    Attributes:
        epoch: the 1-based epoch in which the loss stopped being finite.
        value: the epoch's accumulated training loss (nan or inf).
        history: the epochs finished before, as returned by ``fit``.
    """

    def __init__(self, message: str, *, epoch: int, value: float, history: object = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.value = value
        self.history = history


class MissingExtraError(ReglabError, ImportError):
    """An optional integration's package is not installed; the message names the
    ``pip install 'reglab[EXTRA]'`` that brings it."""


class OutputError(ReglabError, OSError):
    """A run's or a sweep's files cannot be written: the output path is a file or
    the null device, a folder is not writable, or the disk is full. The message
    names the path and the reason in one sentence."""
