"""The one type of the mistakes a user can fix, and the few that have no better home.

Every error that a user causes and can correct (a wrong name, parameter, path, data folder or
record) is a ``UserError``: the command line prints its message as one line and exits, with no
traceback. Anything else is a bug in uadbench or a plugin, and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; its message says what to do."""


class ParameterError(UserError, ValueError):
    """A hyperparameter, data-set option, seed or command-line value that cannot be used."""


class RecordError(UserError):
    """A run record that cannot be read, written or replaced as asked."""


class OutputPathError(UserError, OSError):
    """A path for output (figures, a report) that is not a usable folder."""


def one_line(message: str) -> str:
    """``message`` with every run of whitespace (newlines too) made one space."""
    return " ".join(str(message).split())
