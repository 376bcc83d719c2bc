"""What the console checks of a master database file before peewee is loaded: where it is, and
that it is a cmail v9 master database (core.db opens it for work; it re-exports all of this).

The console checks the file before its first frame, so a file it cannot use shows the problem
screen at once, and loads peewee and the services only after that frame.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from core.errors import Busy, CmailError, Conflict, ReadOnly, SchemaError, StorageError

DEFAULT_PATH = "/etc/cmail/databases/master.db3"
PATH_ENV = "CMAIL_MASTER_DB"
TIMEOUT_ENV = "CMAIL_CONSOLE_BUSY_TIMEOUT"
SCHEMA_VERSION = 9
SQLITE_MAGIC = b"SQLite format 3\x00"

# Tables and columns whose presence tells a v9 master database from older layouts (reference §1.5).
FINGERPRINT = {
    "users": {"user_name", "user_authdata", "user_database", "user_alias"},
    "addresses": {"address_expression", "address_order", "address_router", "address_route"},
    "smtpd": {"smtpd_user", "smtpd_router", "smtpd_route"},
    "popd": {"pop_user", "pop_lock"},
    "api_access": {"api_user", "api_permission"},
    "api_user_delegates": {"api_user", "api_delegate"},
    "api_address_delegates": {"api_user", "api_expression"},
    "mailbox": {"mail_id", "mail_user", "mail_read", "mail_envelopeto", "mail_envelopefrom"},
}

Execute = Callable[[str], Any]  # sql -> a cursor (fetchone, fetchall)


def resolve_path(option: str | None, environ: dict[str, str] | None = None) -> str:
    """The path as cmail's own tools resolve it: -d, then $CMAIL_MASTER_DB, then the default."""
    environ = os.environ if environ is None else environ
    return option or environ.get(PATH_ENV) or DEFAULT_PATH


def busy_timeout(environ: dict[str, str] | None = None) -> float:
    """Seconds a write waits for the daemons' lock before giving up (default 5)."""
    environ = os.environ if environ is None else environ
    try:
        return max(0.0, float(environ.get(TIMEOUT_ENV, "5")))
    except ValueError:
        return 5.0


def check_file(path: str) -> None:
    """Refuse, with the reason, a path that cannot be a SQLite database before SQLite sees it."""
    # Not os.path.exists: it says False for a file in a directory the user may not enter too.
    try:
        os.stat(path)
    except FileNotFoundError:
        raise SchemaError(
            f"No database at {path}: the file does not exist "
            f"(create one with `cmail-console init {path}`, or name another with -d PATH)."
        ) from None
    except PermissionError:
        raise SchemaError(
            f"{path} cannot be read: permission denied on a directory above it."
        ) from None
    except OSError as error:
        raise SchemaError(f"{path} cannot be read: {error.strerror}.") from None
    if os.path.isdir(path):
        raise SchemaError(f"{path} is a directory, not a cmail master database.")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except PermissionError:
        raise SchemaError(f"{path} cannot be read: permission denied.") from None
    except OSError as error:
        raise SchemaError(f"{path} cannot be read: {error.strerror}.") from None
    if head != SQLITE_MAGIC:
        raise SchemaError(f"{path} is not an SQLite database.")


def translate(
    error: Exception, conflicts: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
) -> CmailError:
    """Turn a SQLite failure into the one sentence the user sees (`conflicts`: the classes of
    a refused constraint; core.db adds peewee's)."""
    # After some errors (disk full, I/O) SQLite rolls the transaction back by itself; peewee's
    # ROLLBACK then fails too, and that second error would hide the one that matters.
    while "no transaction is active" in str(error) and error.__context__ is not None:
        error = error.__context__
    text = str(error)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return Busy("The database is busy (a cmail daemon holds its lock); nothing was changed.")
    if "readonly" in lowered or "read-only" in lowered:
        return ReadOnly("The database file is read-only for you; nothing was changed.")
    if "disk is full" in lowered or ("full" in lowered and "database" in lowered):
        return StorageError("The disk holding the database is full; nothing was changed.")
    if "disk i/o" in lowered:
        return StorageError("The disk reported an I/O error; nothing was changed.")
    if "not a database" in lowered or "malformed" in lowered or "no such table" in lowered:
        return SchemaError(f"The database file is damaged or was replaced ({text}).")
    if "unable to open" in lowered:
        return StorageError("The database file can no longer be opened; nothing was changed.")
    if isinstance(error, conflicts):
        return Conflict(f"The change conflicts with existing data ({text}); nothing was changed.")
    return StorageError(f"The database refused the operation ({text}); nothing was changed.")


def check_schema(execute: Execute, path: str) -> None:
    """Refuse, with the reason, a SQLite database that is not a cmail v9 master database.
    `execute(sql)` returns a cursor: sqlite3's or peewee's `execute_sql`."""
    rows = execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall()
    tables = {name for (name,) in rows}
    if "meta" not in tables:
        raise SchemaError(f"{path} is not a cmail master database (it has no meta table).")
    row = execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise SchemaError(f"{path} has no schema_version in its meta table.")
    version = parse_version(row[0])
    if version != SCHEMA_VERSION:
        shown = "unreadable" if version is None else str(version)
        raise SchemaError(
            f"{path} is at cmail schema version {shown}; this console needs version 9."
        )
    for table, columns in FINGERPRINT.items():
        if table not in tables:
            raise SchemaError(f"{path} is not a cmail v9 master database (no {table} table).")
        have = {r[1] for r in execute(f"PRAGMA table_info({table})").fetchall()}
        missing = sorted(columns - have)
        if missing:
            raise SchemaError(
                f"{path} is not a cmail v9 master database ({table} lacks {', '.join(missing)})."
            )


def validate(path: str) -> None:
    """Refuse, with its reason, a file that opening it as a `core.db.Database` would refuse for
    what it is (missing, unreadable, not SQLite, not cmail's v9 master), reading it through
    sqlite3 alone. A database busy now is not refused here: opening it will wait for it."""
    path = os.path.abspath(path)
    check_file(path)
    try:
        connection = sqlite3.connect(
            f"file:{quote(os.fsencode(path))}?mode=ro", uri=True, timeout=0
        )
        try:
            check_schema(connection.execute, path)
        finally:
            connection.close()
    except sqlite3.Error as error:
        problem = translate(error)
        if not isinstance(problem, Busy):
            raise problem from None


def parse_version(value: object) -> int | None:
    """The daemons read the version with strtoul: only the leading digits count ('9abc' is 9)."""
    digits = ""
    text = str(value if value is not None else "").lstrip()
    if text.startswith("+"):
        text = text[1:]
    for char in text:
        if not char.isdigit() or not char.isascii():
            break
        digits += char
    return int(digits) if digits else None
