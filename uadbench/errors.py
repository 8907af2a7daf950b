"""The one type of the mistakes a user can fix, and the few that have no better home.

Every error that a user causes and can correct (a wrong name, parameter, path, data folder or
record) is a ``UserError``: the command line prints its message as one line and exits, with no
traceback. Anything else is a bug in uadbench or a plugin, and keeps its traceback.
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """A mistake the user can fix; its message says what to do."""


class ParameterError(UserError, ValueError):
    """A hyperparameter, data-set option, seed or command-line value that cannot be used."""


class RecordError(UserError):
    """A run record that cannot be read, written or replaced as asked."""


class OutputPathError(UserError, OSError):
    """A path for output (figures, a report) that is not a usable folder."""


class Notice(UserWarning):
    """Something a user should know that does not stop the command (a cache made again, a
    cell taken over): the command line prints it as one ``warning:`` line."""


def one_line(message: str) -> str:
    """``message`` with every run of whitespace (newlines too) made one space."""
    return " ".join(str(message).split())


def refused_path(error: OSError) -> str:
    """Why the system refused a path, in words; for a name too long, also what to do."""
    if error.errno == errno.ENAMETOOLONG:
        return "a file or folder name in it is longer than the file system allows; shorten it"
    return error.strerror or str(error)
