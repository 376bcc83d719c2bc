"""One error hierarchy for every service. Each error carries one sentence a person can act on."""

from __future__ import annotations


class CmailError(Exception):
    """Base class: `str(error)` is the user-facing sentence."""

    kind = "error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(CmailError):
    kind = "not-found"
    exit_code = 3


class Denied(CmailError):
    kind = "denied"
    exit_code = 4


class Invalid(CmailError):
    """Bad input: names the field and the rule it broke."""

    kind = "invalid"
    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Conflict(CmailError):
    kind = "conflict"
    exit_code = 5


class Busy(CmailError):
    kind = "busy"
    exit_code = 6


class ReadOnly(CmailError):
    kind = "read-only"
    exit_code = 7


class StorageError(CmailError):
    """The file system refused: disk full, I/O error, file replaced underneath us."""

    kind = "storage"
    exit_code = 8


class SessionEnded(CmailError):
    """The logged-in user's password or rights changed since login: log in again."""

    kind = "session-ended"
    exit_code = 9


class SchemaError(CmailError):
    """The file is missing, not SQLite, not a cmail master database, or the wrong version."""

    kind = "schema"
    exit_code = 11
