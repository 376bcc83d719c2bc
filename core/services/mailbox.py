"""Stored mail: the master `mailbox` and a user's own user database (reference §1.2, §1.4, §3.6).

A mail is named by (source, id): source is "master" or the user-database path, because the two id
sequences are independent (the PHP API's bug B-M4). Every action also names the user, and a mail
is only found when its `mail_user` is that user (B-M3). Headers only: a message body is never
read, shown or returned.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from core import audit, userdb
from core.access import Role, Scope, Session, load_scope
from core.db import Database, busy_timeout, is_writable, translate
from core.errors import CmailError, Invalid, NotFound, ReadOnly, StorageError
from core.models import Popd, User
from core.records import Change, Page
from core.services.common import by_names, page_size, require_user

MASTER = "master"
HEAD_BYTES = 32 * 1024  # enough for a long Received: chain; the body is never fetched
_IN_CHUNK = 500  # stays below SQLite's bound-parameter limit on old builds

# One query text for both sources, so a master row and a user-database row mean the same.
_HEADERS_SQL = (
    "SELECT mail_id, mail_read, mail_ident, mail_envelopeto, mail_envelopefrom, "
    "mail_submission, mail_submitter, mail_proto, length(mail_data), "
    f"CAST(substr(mail_data, 1, {HEAD_BYTES}) AS BLOB) "
    "FROM mailbox WHERE mail_user = ? AND mail_id > ? ORDER BY mail_id LIMIT ?"
)
_COUNT_SQL = (
    "SELECT mail_user, count(*), total(mail_read = 0) FROM mailbox WHERE {where} GROUP BY mail_user"
)
_COUNT_ALL_SQL = "SELECT mail_user, count(*), total(mail_read = 0) FROM mailbox GROUP BY mail_user"
_READ_FLAG_SQL = (
    "SELECT mail_read, mail_envelopefrom, mail_envelopeto FROM mailbox "
    "WHERE mail_id = ? AND mail_user = ?"
)
_MARK_SQL = "UPDATE mailbox SET mail_read = ? WHERE mail_id = ? AND mail_user = ?"
_DELETE_SQL = "DELETE FROM mailbox WHERE mail_id = ? AND mail_user = ?"
_NO_ID = -(2**63)  # below every rowid: "from the start"

Execute = Callable[[str, Sequence[Any]], Any]


@dataclass(frozen=True)
class MailHeader:
    source: str  # "master" or the user-database path
    id: int
    read: bool
    ident: str | None
    envelope_to: str
    envelope_from: str
    submission: str  # unix time, stored as text
    submitter: str | None
    proto: str
    size: int | None  # length(mail_data), as POP's LIST reports it
    subject: str | None

    @property
    def key(self) -> tuple[str, int]:
        return (self.source, self.id)


@dataclass(frozen=True)
class MailPage(Page[MailHeader]):
    """One page of a user's mail, with what the page cannot show by itself."""

    user: str = ""
    alias_of: str | None = None  # POP logins as `user` open this user's maildrop instead
    user_database: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailCount:
    user: str
    master: int
    master_unread: int
    user_db: int | None  # None when no user database is set or it cannot be read
    user_db_unread: int | None
    unread: int  # over every source that could be read
    user_database: str | None
    problem: str | None  # why a set user database could not be counted
    alias_of: str | None


class _Unusable(Exception):
    """A user database that cannot be read; the message is the reason."""


# --- subjects ----------------------------------------------------------------------------------


def _header_block(head: bytes) -> str:
    """The header lines only: everything before the first empty line."""
    if head.startswith((b"\r\n", b"\n")):
        return ""
    blank = re.search(rb"\n\r?\n", head)
    if blank is not None:
        head = head[: blank.start()]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        # Raw 8-bit headers from old mailers: latin-1 never fails and keeps every byte visible.
        return head.decode("latin-1")


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words, or the raw text when they are broken or name unknown charsets."""
    if "=?" not in value:
        return value  # no encoded word: spares loading the email package (~0.3 MB) for nothing
    from email.errors import HeaderParseError
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError, AssertionError):
        return value


def parse_subject(head: bytes | str | None) -> str | None:
    """The Subject of a stored message, from its header block only; None when it has none."""
    if head is None:
        return None
    if isinstance(head, str):
        head = head.encode("utf-8", "surrogatepass")
    value: str | None = None
    for line in re.split(r"\r?\n", _header_block(head)):
        if value is not None:
            if line[:1] in (" ", "\t"):
                value += " " + line.strip()
                continue
            break
        name, colon, rest = line.partition(":")
        if colon and name.strip().lower() == "subject":
            value = rest.strip()
    if value is None:
        return None
    return _decode_words(value)


# --- user databases ----------------------------------------------------------------------------


def _path_problem(path: str, master_path: str) -> str | None:
    """Why a user-database path must not be opened, as a clause ("the file does not exist"), or
    None; checked before SQLite sees it (core.userdb's file-level check)."""
    if not os.path.isabs(path):
        # Resolved here, it would name a file in the console's directory, not the daemons'.
        return "the path is relative, so what it names depends on the daemons' working directory"
    problem = userdb.file_problem(path, master_path)
    return None if problem is None else f"the file {problem}"


def _mailbox_table_problem(connection: sqlite3.Connection) -> str | None:
    problem = userdb.missing_mailbox(connection.execute)
    return None if problem is None else f"the file {problem}"


def _connect(path: str, mode: str) -> sqlite3.Connection:
    connection = sqlite3.connect(
        f"file:{quote(os.fsencode(path))}?mode={mode}",
        uri=True,
        timeout=busy_timeout(),
        isolation_level=None,
        check_same_thread=False,
    )
    # A user database is not ours to trust: undecodable text must not abort the whole list.
    connection.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return connection


@contextmanager
def _userdb_reader(path: str, master_path: str) -> Iterator[Execute]:
    """A read-only snapshot of a user database; `_Unusable` says why there is none."""
    problem = _path_problem(path, master_path)
    if problem:
        raise _Unusable(problem)
    try:
        connection = _connect(path, "ro")
    except sqlite3.Error as error:
        raise _Unusable(f"SQLite says {error}") from None
    try:
        connection.execute("BEGIN")
        problem = _mailbox_table_problem(connection)
        if problem:
            raise _Unusable(problem)
        yield lambda sql, params: connection.execute(sql, params)
    except sqlite3.Error as error:
        # A warning, not a failure: SQLite's own words are the most precise reason here.
        raise _Unusable(f"SQLite says {error}") from None
    finally:
        connection.close()


@contextmanager
def _userdb_writer(path: str, master_path: str) -> Iterator[Execute]:
    """One short IMMEDIATE transaction on a user database: all or nothing, busy timeout."""
    problem = _path_problem(path, master_path)
    if problem:
        raise StorageError(f"The user database {path} cannot be used: {problem}.")
    if not is_writable(path):
        raise ReadOnly(f"The user database {path} is read-only for you; nothing was changed.")
    try:
        connection = _connect(path, "rw")
    except sqlite3.Error as error:
        raise translate(error) from None
    try:
        connection.execute("BEGIN IMMEDIATE")
        problem = _mailbox_table_problem(connection)
        if problem:
            raise StorageError(f"The user database {path} cannot be used: {problem}.")
        yield lambda sql, params: connection.execute(sql, params)
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        raise translate(error) from None
    finally:
        if connection.in_transaction:
            connection.rollback()
        connection.close()


# --- reading -----------------------------------------------------------------------------------


def _header(source: str, row: Sequence[Any]) -> MailHeader:
    mail_id, read, ident, to, sender, submission, submitter, proto, size, head = row
    return MailHeader(
        source=source,
        id=mail_id,
        read=read != 0,  # as popd reads pop_lock: anything but 0 counts as set
        ident=ident,
        envelope_to=to,
        envelope_from=sender,
        submission=str(submission),
        submitter=submitter,
        proto=proto,
        size=size,
        subject=parse_subject(head),
    )


def _headers(execute: Execute, source: str, user: str, after: int, limit: int) -> list[MailHeader]:
    rows = execute(_HEADERS_SQL, (user, after, limit)).fetchall()
    return [_header(source, row) for row in rows]


def _master_execute(db: Database) -> Execute:
    return lambda sql, params: db.pw.execute_sql(sql, list(params))


def _mail_id(value: object, field: str = "mail id") -> int:
    if isinstance(value, bool):
        raise Invalid(field, f"The {field} must be a whole number.")
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):  # ASCII digits
        value = int(value)
    if not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise Invalid(field, f"The {field} must be a whole number, not {value!r}.")
    return value


def _after(after: object) -> tuple[str, int] | None:
    """The keyset cursor: the (source, id) of the last mail already shown."""
    if after is None:
        return None
    if not isinstance(after, tuple | list) or len(after) != 2 or not isinstance(after[0], str):
        raise Invalid("after", "The list cursor must be a (source, id) pair from the last page.")
    return after[0], _mail_id(after[1], "cursor id")


def _alias_warning(user: str, alias: str | None) -> list[str]:
    if alias is None:
        return []
    return [
        f"{user} is an alias of {alias}: POP logins as {user} open {alias}'s maildrop, "
        f"so mail stored for {user} itself is not reachable by POP."
    ]


def list_mails(
    db: Database,
    session: Session,
    user: str,
    *,
    after: tuple[str, int] | None = None,
    limit: int | None = None,
) -> MailPage:
    """Headers of `user`'s mail: the master mailbox, then the user database, each by id."""
    size = page_size(limit)
    cursor = _after(after)
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_read_mail(user), f"read the mail of {user}")
        target = require_user(user)
        path, alias = target.database, target.alias_id
        rows: list[MailHeader] = []
        if cursor is None or cursor[0] == MASTER:
            start = _NO_ID if cursor is None else cursor[1]
            rows = _headers(_master_execute(db), MASTER, user, start, size + 1)
    warnings = _alias_warning(user, alias)
    if path is not None:
        start = cursor[1] if cursor is not None and cursor[0] != MASTER else _NO_ID
        # The user database is opened even when master fills the page: its problem is news.
        wanted = max(0, size + 1 - len(rows))
        try:
            with _userdb_reader(path, db.path) as execute:
                rows += _headers(execute, path, user, start, wanted)
        except _Unusable as reason:
            warnings.append(f"The user database {path} of {user} was not read: {reason}.")
    more = len(rows) > size
    rows = rows[:size]
    return MailPage(
        rows,
        rows[-1].key if rows else None,
        more,
        user=user,
        alias_of=alias,
        user_database=path,
        warnings=tuple(warnings),
    )


def _visible_users(scope: Scope) -> list[str]:
    if scope.is_admin:
        return [name for (name,) in User.select(User.name).order_by(User.name).tuples()]
    names = {scope.user, *scope.managed} if scope.role is Role.DELEGATE else {scope.user}
    return sorted(n for n in names if n is not None)


def _count(execute: Execute, names: list[str]) -> dict[str, tuple[int, int]]:
    """mail_user → (mails, unread), for the named users only. mailbox has no index on
    mail_user, so every query reads the whole table: a page of names takes one query (its
    lowest and highest name reject most rows before the IN test), more names one grouped pass."""
    counts: dict[str, tuple[int, int]] = {}
    if len(names) > _IN_CHUNK:
        wanted = set(names)
        for name, total, unread in execute(_COUNT_ALL_SQL, []).fetchall():
            if name in wanted:
                counts[name] = (int(total), int(unread))
        return counts
    if not names:
        return counts
    where = f"mail_user IN ({', '.join('?' * len(names))})"
    params: list[object] = list(names)
    if all(isinstance(name, str) for name in names):
        where = f"mail_user >= ? AND mail_user <= ? AND {where}"
        params = [min(names), max(names), *names]
    for name, total, unread in execute(_COUNT_SQL.format(where=where), params).fetchall():
        counts[name] = (int(total), int(unread))
    return counts


def mail_counts(db: Database, session: Session, users: list[str]) -> dict[str, MailCount]:
    """Mail counts per user; no names means every user the actor may see."""
    with db.read():
        scope = load_scope(session)
        if not users and scope.is_admin:
            # Every user: one pass over the table rather than a lookup per name.
            query = User.select(User.name, User.database, User.alias).order_by(User.name)
            names, found = [], {}
            for name, path, alias in query.tuples():
                names.append(name)
                found[name] = (path, alias)
        else:
            names = list(dict.fromkeys(users)) if users else _visible_users(scope)
            for name in names:
                scope.require(scope.may_view_user(name), f"see the mail counts of {name}")
            found = {
                name: (path, alias)
                for name, path, alias in by_names(
                    "SELECT user_name, user_database, user_alias FROM users WHERE {where}",
                    names,
                    "user_name",
                )
            }
        missing = [name for name in names if name not in found]
        if missing:
            raise NotFound(f"No user named {missing[0]!r} exists.")
        master = _count(_master_execute(db), names)
    by_path: dict[str, list[str]] = {}
    for name in names:
        path = found[name][0]
        if path is not None:
            by_path.setdefault(path, []).append(name)
    # Several users may share one user database: open each file once.
    userdb: dict[str, tuple[int, int]] = {}
    problems: dict[str, str] = {}
    for path, owners in by_path.items():
        try:
            with _userdb_reader(path, db.path) as execute:
                counted = _count(execute, owners)
            userdb.update({owner: counted.get(owner, (0, 0)) for owner in owners})
        except _Unusable as reason:
            problems.update({owner: str(reason) for owner in owners})
    return {name: _mail_count(name, found[name], master, userdb, problems) for name in names}


def _mail_count(
    name: str,
    row: tuple[str | None, str | None],
    master: dict[str, tuple[int, int]],
    userdb: dict[str, tuple[int, int]],
    problems: dict[str, str],
) -> MailCount:
    path, alias = row
    total, unread = master.get(name, (0, 0))
    own = userdb.get(name)
    return MailCount(
        user=name,
        master=total,
        master_unread=unread,
        user_db=own[0] if own else None,
        user_db_unread=own[1] if own else None,
        unread=unread + (own[1] if own else 0),
        user_database=path,
        problem=problems.get(name),
        alias_of=alias,
    )


# --- writing -----------------------------------------------------------------------------------


def _source(source: object, user: str, path: str | None) -> str:
    """Only master or the user's own user database: never an arbitrary file named by a caller."""
    if source == MASTER:
        return MASTER
    if path is not None and source == path:
        return path
    known = f"master or {path}" if path is not None else "master (it has no user database)"
    raise Invalid("source", f"The source of a mail of {user} must be {known}, not {source!r}.")


def _pop_warning(user: str) -> list[str]:
    """POP applies its DELE marks when the session ends, on the list it loaded at login."""
    locked = Popd.select().where(Popd.user == user, Popd.lock != 0).exists()
    if not locked:
        return []
    return [f"{user}'s maildrop is locked by a POP session, which still lists the old state."]


def _not_found(user: str, source: str, mail_id: int) -> NotFound:
    return NotFound(f"{user} has no mail {mail_id} in {source}; nothing was changed.")


def _apply(
    execute: Execute, user: str, source: str, mail_id: int, read: bool | None
) -> bool | None:
    """Mark (read=True/False) or delete (read=None) one mail of `user`; the previous read flag."""
    row = execute(_READ_FLAG_SQL, (mail_id, user)).fetchone()
    if row is None:
        raise _not_found(user, source, mail_id)
    if read is None:
        execute(_DELETE_SQL, (mail_id, user))
    elif (row[0] != 0) != read:
        execute(_MARK_SQL, (int(read), mail_id, user))
    # The audit trail gets a deleted mail's envelope, never its content.
    gone = {"envelope_from": row[1], "envelope_to": row[2]} if read is None else {}
    audit.note(before={"read": row[0] != 0, **gone}, after=None if read is None else {"read": read})
    return row[0] != 0


@contextmanager
def _audited_snapshot(db: Database, action: str, target: str) -> Iterator[None]:
    """The master snapshot a user-database write is checked in, audited like a write unit: the
    caller records the entry before the user database commits, and a refusal or failure is
    recorded here."""
    pending = audit.begin(action, target)
    try:
        with db.read():
            yield
    except CmailError as error:
        db.audit.record_outcome(pending, error)
        raise
    finally:
        audit.end()


def _change_mail(
    db: Database, session: Session, user: str, source: str, mail_id: object, read: bool | None
) -> tuple[str, int, bool | None, list[str]]:
    """Check rights and ownership, then act on master (a write unit) or the user database
    (its own short transaction, while the master snapshot that allowed it is still held)."""
    number = _mail_id(mail_id)
    what = "delete" if read is None else "change"
    action = "mailbox.delete_mail" if read is None else "mailbox.mark_read"
    target_text = f"mail {number} of {user} in {source}"
    unit = db.write if source == MASTER else partial(_audited_snapshot, db)
    with unit(action, target_text):
        scope = load_scope(session)
        scope.require(scope.may_read_mail(user), f"{what} the mail of {user}")
        target = require_user(user)
        where = _source(source, user, target.database)
        warnings = _pop_warning(user)
        if where == MASTER:
            before = _apply(_master_execute(db), user, MASTER, number, read)
        else:
            with _userdb_writer(where, db.path) as execute:
                before = _apply(execute, user, where, number, read)
                # The user database commits as this block ends: a trail that cannot be
                # written must stop it before that, as in a master write unit.
                if (pending := audit.current()) is not None:
                    db.audit.record(pending, "ok", None)
    return where, number, before, warnings


def mark_read(
    db: Database, session: Session, user: str, source: str, mail_id: int | str, read: bool
) -> Change:
    """Set the webmailer's read flag of one mail of `user`."""
    read = bool(read)
    where, number, before, warnings = _change_mail(db, session, user, source, mail_id, read)
    state = "read" if read else "unread"
    data = {"user": user, "source": where, "id": number, "read": read}
    if before == read:
        return Change(f"Mail {number} of {user} in {where} was already {state}.", (), data)
    return Change(f"Mail {number} of {user} in {where} is marked {state}.", tuple(warnings), data)


def delete_mail(
    db: Database, session: Session, user: str, source: str, mail_id: int | str
) -> Change:
    """Delete one mail of `user` for good."""
    where, number, _, warnings = _change_mail(db, session, user, source, mail_id, None)
    data = {"user": user, "source": where, "id": number}
    return Change(f"Mail {number} of {user} in {where} is deleted.", tuple(warnings), data)
