"""Opening a cmail master database and running short units of work on it.

cmail's daemons keep the same file open and wait up to 500 s for its lock, so every write here is
one short IMMEDIATE transaction, and every failure of SQLite becomes one CmailError sentence.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import peewee

from core import audit, dbfile
from core.dbfile import (  # noqa: F401  re-exported: the names core.db always offered
    DEFAULT_PATH,
    FINGERPRINT,
    PATH_ENV,
    SCHEMA_VERSION,
    SQLITE_MAGIC,
    TIMEOUT_ENV,
    busy_timeout,
    check_file,
    check_schema,
    parse_version,
    resolve_path,
)
from core.errors import CmailError, Invalid, ReadOnly, SchemaError, StorageError

# Every model binds to this proxy; Database.open points it at the real file.
proxy = peewee.DatabaseProxy()


def is_writable(path: str) -> bool:
    """SQLite needs the file and its directory (for the journal) to be writable."""
    return os.access(path, os.W_OK) and os.access(os.path.dirname(path) or ".", os.W_OK)


def translate(error: Exception) -> CmailError:
    """Turn a SQLite or peewee failure into the one sentence the user sees."""
    return dbfile.translate(error, (peewee.IntegrityError, sqlite3.IntegrityError))


def not_utf8(error: UnicodeEncodeError) -> Invalid:
    """Text SQLite cannot take: undecodable bytes (e.g. in a command line's arguments) arrive
    as lone surrogates. Name the value, escaped, instead of failing with a traceback."""
    value = error.object if isinstance(error.object, str) else ""
    shown = value if len(value) <= 40 else value[:37] + "..."
    return Invalid(
        "text",
        f"The text {shown!r} is not valid UTF-8 (it holds bytes that are not characters); "
        "nothing was changed.",
    )


class Database:
    """An open cmail master database. `read()` and `write()` are the only ways to touch it."""

    def __init__(
        self,
        path: str,
        *,
        timeout: float | None = None,
        audit_path: str | None = None,
        clock: audit.Clock | None = None,
        cache_kib: int | None = None,
    ) -> None:
        """`cache_kib` caps each connection's page cache (SQLite's default is 2 MiB): a unit's
        connection lives for that unit only, so a long-running process (the console) keeps
        that memory low at no cost to a query that reads each page about once."""
        self.path = os.path.abspath(path)
        check_file(self.path)
        self.audit = audit.AuditTrail(
            audit_path or audit.default_path(self.path), clock or audit.datetime_now
        )
        self.read_only = not is_writable(self.path)
        self._local = threading.local()
        # Quote the file system's bytes: a path that is not UTF-8 is still a path.
        target = f"file:{quote(os.fsencode(self.path))}?mode={'ro' if self.read_only else 'rw'}"
        pragmas: dict[str, int] = {"foreign_keys": 1}
        if cache_kib is not None:
            pragmas["cache_size"] = -max(1, cache_kib)  # negative: KiB, not pages
        self.pw = peewee.SqliteDatabase(
            target,
            uri=True,
            pragmas=pragmas,
            timeout=busy_timeout() if timeout is None else timeout,
            autoconnect=False,
            check_same_thread=False,
        )
        proxy.initialize(self.pw)
        # (device, inode) of the file the last unit opened: a file moved over the path since
        # (a restore, a careless `mv`) is checked again before a service touches it.
        self._seen: tuple[int, int] | None = self._identity()
        # Thread → when its write unit began waiting for the write lock (see lock_wait()).
        self._lock_waits: dict[int, float] = {}
        with self.read():
            self._check_schema()

    @contextmanager
    def _connection(self) -> Iterator[peewee.SqliteDatabase]:
        """Open a connection for the outermost unit of this thread and close it afterwards,
        so a file replaced on disk is noticed by the next unit instead of never."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            # The models are bound to one proxy: point it at this database for this unit, so
            # several Database objects can be used one after another in one process.
            if proxy.obj is not self.pw:
                proxy.initialize(self.pw)
            before = self._identity()
            try:
                self.pw.connect(reuse_if_open=True)
                self._recheck(before)
            except (peewee.PeeweeException, sqlite3.Error) as error:
                self.pw.close()
                raise translate(error) from None
            except CmailError:
                self.pw.close()
                raise
        self._local.depth = depth + 1
        try:
            yield self.pw
        finally:
            self._local.depth = depth
            if depth == 0:
                self.pw.close()

    @contextmanager
    def read(self) -> Iterator[peewee.SqliteDatabase]:
        """A consistent snapshot for reading: one deferred transaction."""
        with self._connection() as pw:
            try:
                with pw.atomic():
                    yield pw
            except CmailError:
                raise
            except (peewee.PeeweeException, sqlite3.Error) as error:
                raise translate(error) from None
            except UnicodeEncodeError as error:
                raise not_utf8(error) from None

    @contextmanager
    def write(
        self, action: str | None = None, target: str | None = None
    ) -> Iterator[peewee.SqliteDatabase]:
        """One IMMEDIATE transaction: the write lock is taken first, so a read-modify-write
        inside it cannot lose an update made by a daemon in between. All or nothing.

        The unit is audited: its entry (who, what, before → after) is written to the audit
        trail before the commit, so a trail that cannot be written stops the change; a refused
        or failed attempt is recorded after the rollback. `action` defaults to the calling
        service's name."""
        pending = audit.begin(action or audit.caller_action(), target)
        try:
            if self.read_only:
                raise ReadOnly(f"{self.path} is read-only for you; nothing was changed.")
            with self._connection() as pw:
                waiter = threading.get_ident()
                self._lock_waits[waiter] = time.monotonic()
                try:
                    with pw.atomic(lock_type="IMMEDIATE"):  # waits up to the busy timeout
                        self._lock_waits.pop(waiter, None)
                        yield pw
                        self.audit.record(pending, "ok", None)
                        pending.recorded = True
                except CmailError:
                    raise
                except (peewee.PeeweeException, sqlite3.Error) as error:
                    raise translate(error) from None
                except UnicodeEncodeError as error:
                    raise not_utf8(error) from None
                finally:
                    self._lock_waits.pop(waiter, None)
        except CmailError as error:
            self.audit.record_outcome(pending, error)
            raise
        finally:
            audit.end()

    def lock_wait(self) -> float:
        """Seconds the longest-waiting write unit has been waiting for the write lock so far
        (0.0: none is waiting), so a front end can show that it waits. Any thread may ask."""
        starts = tuple(self._lock_waits.values())  # one C-level copy: safe under the GIL
        return time.monotonic() - min(starts) if starts else 0.0

    def _identity(self) -> tuple[int, int]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            raise StorageError(
                f"{self.path} no longer exists: it was deleted or moved away while the console "
                "had it open; nothing was changed."
            ) from None
        except OSError as error:
            raise StorageError(
                f"{self.path} can no longer be reached ({error.strerror})."
            ) from None
        return info.st_dev, info.st_ino

    def _recheck(self, before: tuple[int, int]) -> None:
        """Check the file again when it is not the one the last unit opened."""
        after = self._identity()
        if not before == after == self._seen:
            self._check_schema()
        # Replaced between the two looks: the connection may hold either file, so look again.
        self._seen = before if before == after else None

    def _check_schema(self) -> None:
        check_schema(self.pw.execute_sql, self.path)


def _create(path: str, script: str) -> None:
    if os.path.exists(path):
        raise SchemaError(f"{path} already exists; refusing to overwrite it.")
    parent = Path(path).parent
    if not parent.is_dir():
        raise SchemaError(f"Cannot create {path}: the directory {parent} does not exist.")
    from importlib import resources  # only here: it costs every command's start 3 ms

    sql = resources.files("core").joinpath(script).read_text(encoding="utf-8")
    try:
        open(path, "xb").close()  # the system's own reason: name too long, permission denied…
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or "the name holds a NUL character"
        raise SchemaError(f"Cannot create {path}: {reason}.") from None
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.executescript("BEGIN;" + sql + "COMMIT;")
    except sqlite3.Error as error:
        connection.close()
        os.unlink(path)
        raise translate(error) from None
    connection.close()


def create_master(path: str) -> None:
    """Create a new, empty master database equivalent to cmail's v9 installer."""
    _create(path, "schema.sql")


def create_userdb(path: str) -> None:
    """Create a new, empty cmail user database (a mailbox table and its meta row)."""
    _create(path, "userdb.sql")
