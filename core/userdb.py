"""Whether a file can serve as a cmail user database (reference §1.4, §3.6), read with os and
sqlite3 alone: the one home of the mailbox columns cmail needs and of the reasons a file fails.

Every reason completes the sentence "The user database /x …" ("does not exist", "has no mailbox
table"); callers add the subject and what follows for them. What to do with a relative path is
the callers' policy (users and mailbox refuse it, the lint warns), so it is not checked here.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from urllib.parse import quote

from core.dbfile import SQLITE_MAGIC, Execute, busy_timeout

# The columns cmail-smtpd's INSERT names (cmail-smtpd/database.c, database_attach).
SMTPD_FILLS = (
    "mail_user",
    "mail_ident",
    "mail_envelopeto",
    "mail_envelopefrom",
    "mail_submitter",
    "mail_proto",
    "mail_data",
)
# Those, plus what cmail-popd lists, orders by and deletes by (cmail-popd/maildrop.c).
MAILBOX_COLUMNS = (
    "mail_id",
    "mail_user",
    "mail_ident",
    "mail_envelopeto",
    "mail_envelopefrom",
    "mail_submission",
    "mail_submitter",
    "mail_proto",
    "mail_data",
)


@dataclass(frozen=True)
class Problem:
    """Why a file cannot serve as a user database. `reason` completes "The user database /x …";
    `stops_smtpd`: cmail-smtpd opens every user database at start and exits when one fails, so
    this file stops mail for everyone. The other reasons carry their own consequence."""

    reason: str
    stops_smtpd: bool = True

    def __str__(self) -> str:
        return self.reason


def file_problem(path: str, master: str | None = None) -> Problem | None:
    """What the file alone says (no SQLite yet): it exists, is a readable regular file, is not
    the master database `master`, and starts like an SQLite database. None: it may be one."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return Problem("does not exist")
    except PermissionError:
        return Problem("cannot be reached (permission denied on a directory above it)", False)
    except OSError as error:
        return Problem(f"cannot be read ({error.strerror})")
    except ValueError:  # a NUL byte, or text the file system cannot encode
        return Problem("is not a valid file path")
    if stat.S_ISDIR(info.st_mode):
        return Problem("is a directory")
    if not stat.S_ISREG(info.st_mode):
        # Opening a pipe would block for ever; a device is no place for mail.
        return Problem("is not a regular file")
    if master is not None and _same_file(info, master):
        # smtpd would store into it as into any file; POP would list every mail twice.
        return Problem(
            "is the master database itself (a user database must be a separate file)", False
        )
    return _head_problem(path)


def _same_file(info: os.stat_result, master: str) -> bool:
    try:
        return os.path.samestat(info, os.stat(master))
    except (OSError, ValueError):
        return False  # a master that cannot be found cannot be this file


def _head_problem(path: str) -> Problem | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except PermissionError:
        # The console's own rights; the daemons' user may differ, so this alone stops nothing.
        return Problem("cannot be read (permission denied)", False)
    except OSError as error:
        return Problem(f"cannot be read ({error.strerror})")
    if not head:
        return Problem("is empty, so it has no mailbox table")
    if head != SQLITE_MAGIC:
        return Problem("is not an SQLite database")
    return None


def missing_mailbox(execute: Execute) -> Problem | None:
    """The mailbox table is there (SQLite names are case-insensitive, as smtpd's INSERT is)."""
    row = execute(
        "SELECT type FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name = 'mailbox' COLLATE NOCASE"
    ).fetchone()
    if row is None:
        return Problem("has no mailbox table")
    if row[0] != "table":
        return Problem("has a view named mailbox instead of a mailbox table")
    return None


def mailbox_problem(execute: Execute) -> Problem | None:
    """The mailbox table is there, with cmail's columns, and smtpd's INSERT can fill a row."""
    problem = missing_mailbox(execute)
    if problem is not None:
        return problem
    # cid, name, type, notnull, dflt_value, pk
    rows = execute("PRAGMA table_info(mailbox)").fetchall()
    have = {str(row[1]).lower() for row in rows}
    missing = [column for column in MAILBOX_COLUMNS if column not in have]
    if any(column in SMTPD_FILLS for column in missing):
        return Problem(
            f"has a mailbox table without {', '.join(missing)}, which cmail-smtpd and "
            "cmail-popd use"
        )
    if missing:
        return Problem(
            f"has a mailbox table without {', '.join(missing)}, which cmail-popd reads "
            "(POP logins of its users fail)",
            False,
        )
    required = [str(row[1]) for row in rows if _needs_a_value(row, rows)]
    if required:
        return Problem(
            f"has a mailbox table that requires {', '.join(required)}, which cmail-smtpd never "
            "fills (every delivery there fails and falls back to the master mailbox)",
            False,
        )
    return None


def _needs_a_value(row: tuple, rows: list[tuple]) -> bool:
    """A NOT NULL column without a default that smtpd's INSERT does not name: every insert fails."""
    _, name, kind, notnull, default, pk = row
    if not notnull or default is not None or str(name).lower() in SMTPD_FILLS:
        return False
    # The INTEGER PRIMARY KEY (mail_id) is the rowid: SQLite fills it when left out.
    rowid = pk and str(kind).upper() == "INTEGER" and sum(1 for r in rows if r[5]) == 1
    return not rowid


def problem(path: str, master: str | None = None) -> Problem | None:
    """Everything cmail needs of a user database at `path` (the file, then its mailbox table),
    opened read-only; `master`: the master database's path, which must not be this file."""
    found = file_problem(path, master)
    if found is not None:
        return found
    try:
        connection = sqlite3.connect(
            f"file:{quote(os.fsencode(path))}?mode=ro", uri=True, timeout=busy_timeout()
        )
        try:
            return mailbox_problem(connection.execute)
        finally:
            connection.close()
    except sqlite3.Error as error:
        return Problem(f"cannot be read by SQLite ({error})")
