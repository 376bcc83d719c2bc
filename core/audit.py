"""The audit trail: every change and every refused attempt, in a SQLite file of its own.

cmail's schema stays untouched: the trail lives next to the master database, named after it
(`master.db3.console-audit`, or $CMAIL_CONSOLE_AUDIT). The console only ever appends to it, and
triggers in the file refuse UPDATE and DELETE. A change is committed only after its entry is
written, so a trail that cannot be written stops the change; a commit that fails after that
adds a "failed" entry that voids the "ok" one.

The same file keeps the failed-login counters, so a lockout survives a restart of the console.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from core.errors import CmailError, Denied, StorageError
from core.records import Page

AUDIT_ENV = "CMAIL_CONSOLE_AUDIT"
SUFFIX = ".console-audit"

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    TEXT NOT NULL,
    login   TEXT,
    role    TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    before  TEXT,
    after   TEXT,
    result  TEXT NOT NULL,
    message TEXT
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TABLE IF NOT EXISTS login_failures (
    login    TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last     REAL NOT NULL
);
"""

Clock = Callable[[], datetime]


def datetime_now() -> datetime:
    return datetime.now(UTC)


def default_path(master_path: str, environ: dict[str, str] | None = None) -> str:
    """One trail per master file: a copy of the master opened beside it (a backup, a test
    copy) must neither write into the live trail nor share its login lockouts."""
    environ = os.environ if environ is None else environ
    return environ.get(AUDIT_ENV) or master_path + SUFFIX


@dataclass(frozen=True)
class Entry:
    time: str
    login: str | None  # None: the file-system administrator (CLI without --login)
    role: str
    action: str
    target: str | None
    before: Any
    after: Any
    result: str  # ok, refused, failed
    message: str | None
    id: int | None = None


@dataclass
class Pending:
    """What the current write unit will record: filled in as the unit runs."""

    action: str
    target: str | None
    login: str | None = None
    role: str = "unknown"  # until load_scope has identified the actor
    before: Any = None
    after: Any = None
    extra: list[dict[str, Any]] = field(default_factory=list)
    recorded: bool = False  # its "ok" entry is written; the commit comes after it


_local = threading.local()


def begin(action: str, target: str | None) -> Pending:
    pending = Pending(action, target)
    _local.pending = pending
    return pending


def end() -> None:
    _local.pending = None


def current() -> Pending | None:
    return getattr(_local, "pending", None)


def set_actor(login: str | None, role: str) -> None:
    """Called by load_scope: the unit now knows who acts."""
    pending = current()
    if pending is not None:
        pending.login, pending.role = login, role


def note(*, target: str | None = None, before: Any = None, after: Any = None) -> None:
    """Services describe their change: what it was before, what it is after."""
    pending = current()
    if pending is None:
        return
    if target is not None:
        pending.target = target
    if before is not None:
        pending.before = before
    if after is not None:
        pending.after = after


def caller_action(skip: tuple[str, ...] = ("core.db", "core.audit", "contextlib")) -> str:
    """`module.function` of the service that opened the unit, when it did not name itself."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "") in skip:
        frame = frame.f_back
    if frame is None:
        return "unknown"
    module = frame.f_globals.get("__name__", "").removeprefix("core.services.")
    return f"{module}.{frame.f_code.co_name}"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _storable(value: object) -> object:
    """Text SQLite can bind: a lone surrogate (a non-UTF-8 byte from a command line, quoted in a
    refusal) becomes a visible escape instead of an encoding error that hides the outcome."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class AuditTrail:
    def __init__(self, path: str, clock: Clock = datetime_now) -> None:
        self.path = path
        self.clock = clock
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        if not self._ready:
            connection.executescript(SCHEMA)
            self._ready = True
        return connection

    def record(self, pending: Pending, result: str, message: str | None) -> None:
        """Append one entry; StorageError when the trail cannot be written."""
        entry = (
            self.clock().isoformat(timespec="seconds"),
            pending.login,
            pending.role,
            pending.action,
            pending.target,
            _json(pending.before),
            _json(pending.after),
            result,
            message,
        )
        entry = tuple(_storable(value) for value in entry)
        try:
            connection = self._connect()
            try:
                connection.execute(
                    "INSERT INTO audit (time, login, role, action, target, before, after, "
                    "result, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    entry,
                )
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise StorageError(
                f"The audit trail {self.path} could not be written ({error}); nothing was changed."
            ) from None

    def record_outcome(self, pending: Pending, error: CmailError) -> None:
        """A refused or failed attempt; never hides the error that caused it."""
        result = "refused" if isinstance(error, Denied) else "failed"
        message = str(error)
        if pending.recorded:
            # The commit failed after the entry was written (a reader held the file, the disk
            # filled up); the trail is append-only, so this entry voids that one.
            message = f"Not committed after all (the ok entry just before is void): {message}"
        with contextlib.suppress(StorageError):
            self.record(pending, result, message)

    def record_outcome_ok(self, pending: Pending) -> None:
        """A successful read-only event (a login): recorded when the trail can be written."""
        with contextlib.suppress(StorageError):
            self.record(pending, "ok", None)

    def entries(
        self,
        *,
        search: str | None = None,
        login: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> Page[Entry]:
        """Newest first, one keyset page at a time."""
        if not os.path.exists(self.path):
            return Page([], None, False)
        clauses, params = [], []
        if search:
            clauses.append(
                "instr(lower(coalesce(action,'') || ' ' || coalesce(target,'') || ' ' || "
                "coalesce(login,'') || ' ' || coalesce(message,'') || ' ' || result), ?) > 0"
            )
            params.append(search.lower())
        if login is not None:
            clauses.append("login = ?")
            params.append(login)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        try:
            connection = sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True)
            try:
                rows = connection.execute(
                    "SELECT time, login, role, action, target, before, after, result, message, "
                    f"id FROM audit {where} ORDER BY id DESC LIMIT ?",
                    (*params, limit + 1),
                ).fetchall()
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise StorageError(f"The audit trail {self.path} cannot be read ({error}).") from None
        entries = [
            Entry(r[0], r[1], r[2], r[3], r[4], _load(r[5]), _load(r[6]), r[7], r[8], r[9])
            for r in rows[:limit]
        ]
        return Page(entries, entries[-1].id if entries else None, len(rows) > limit)

    # --- failed logins ---------------------------------------------------------------------------
    def failures(self, login: str) -> tuple[int, float]:
        """(failed attempts in a row, time of the last one) for a typed login name."""
        try:
            connection = self._connect()
            try:
                row = connection.execute(
                    "SELECT failures, last FROM login_failures WHERE login = ?",
                    (_storable(login),),
                ).fetchone()
            finally:
                connection.close()
        except sqlite3.Error:
            return 0, 0.0
        return (row[0], row[1]) if row else (0, 0.0)

    def count_failure(self, login: str) -> None:
        now = self.clock().timestamp()
        try:
            connection = self._connect()
            try:
                connection.execute(
                    "INSERT INTO login_failures (login, failures, last) VALUES (?, 1, ?) "
                    "ON CONFLICT(login) DO UPDATE "
                    "SET failures = failures + 1, last = excluded.last",
                    (_storable(login), now),
                )
            finally:
                connection.close()
        except sqlite3.Error:
            pass  # a read-only directory: whoever sits there can read the database anyway

    def clear_failures(self, login: str) -> None:
        try:
            connection = self._connect()
            try:
                connection.execute(
                    "DELETE FROM login_failures WHERE login = ?", (_storable(login),)
                )
            finally:
                connection.close()
        except sqlite3.Error:
            pass


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
