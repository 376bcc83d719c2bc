"""A console-private side index of the address rules' text, for the filter-as-you-type search.

The Addresses screen filters up to millions of rules by a literal substring of expression or
route. cmail's schema has no index that can serve `%text%`, and cmail owns the schema, so a rare
match costs a scan of the whole table. This module keeps, in a private temporary SQLite file
(deleted when it is closed), a contentless FTS5 table with the trigram tokenizer over the rules'
texts, rowid = address_order. The AND of a text's trigrams selects a superset of the rules that
contain it (case folded as the tokenizer folds, which includes ASCII's folding), in routing
order: the caller checks each candidate against the master database.

The index is a copy and can fall behind the master (cmail-admin, another console): its answers
are provisional, and the caller confirms them with the exact query (core.services.addresses).
It is built in a daemon thread, a chunk of rules at a time, each chunk read from the master in
its own short statement so that the daemons' commits are never held up for long, and the rows
stay inside SQLite. Nothing here writes to the master database.

Without FTS5 or its trigram tokenizer (SQLite < 3.34) there is no index: `for_database` answers
None and every search scans.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from core.db import Database

MODULE = "fts5"
TOKENIZER = "trigram"
_TABLE = "rules"
_DDL = (
    "CREATE VIRTUAL TABLE main.{table} USING {module}(expression, route, content='', "
    "tokenize='{tokenizer}', detail='none')"
)
_PRAGMAS = (
    "main.cache_size = -256",  # KiB: the index lives on disk, not in the console's memory
    "journal_mode = OFF",  # nothing here needs to survive a crash
    "synchronous = OFF",
    "temp_store = FILE",
)
MAX_TRIGRAMS = 16  # any subset of a text's trigrams still selects a superset of its rules
FIRST_BATCH = 512  # candidates read by the first query (a rare text's all, usually), then
BATCH = 4096  # bigger ones (each query seeks every segment of the index once)
# Rules read from the master per chunk: adapted so that one read stays near CHUNK_SECONDS
# (a read holds the master's shared lock, which a committing daemon waits for).
CHUNK_FIRST, CHUNK_MIN, CHUNK_MAX = 2000, 250, 10_000
CHUNK_SECONDS = 0.005
JOIN_SECONDS = 5.0  # close() waits this long at most for a build to notice it is over


class IndexGone(Exception):
    """The index was invalidated or closed while its candidates were being read."""


@dataclass(frozen=True)
class BuildInfo:
    rules: int
    seconds: float
    size_bytes: int  # the side file


@functools.cache
def _probe(module: str, tokenizer: str) -> bool:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute(_DDL.format(table="probe", module=module, tokenizer=tokenizer))
    except sqlite3.Error:
        return False
    finally:
        connection.close()
    return True


def supported() -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (3.34 and later)."""
    return _probe(MODULE, TOKENIZER)


def match_query(text: str) -> str | None:
    """The FTS5 query whose matches include every rule containing `text` (ASCII letters in any
    case), or None when the trigram index cannot answer that: fewer than 3 characters, a NUL
    (LIKE and FTS5 read a NUL differently), or text that is not UTF-8."""
    if len(text) < 3 or "\x00" in text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    trigrams = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))
    if len(trigrams) > MAX_TRIGRAMS:
        # Spread the kept ones over the text: its ends narrow as well as its middle.
        step = (len(trigrams) - 1) / (MAX_TRIGRAMS - 1)
        trigrams = [trigrams[round(i * step)] for i in range(MAX_TRIGRAMS)]
    # Each trigram a quoted string (quotes doubled): FTS5 reads nothing in it as syntax.
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


class RuleIndex:
    """The side index of one master database file. Any thread may call any method."""

    def __init__(self, master_path: str, *, busy_seconds: float = 5.0) -> None:
        self._master = f"file:{quote(os.fsencode(os.path.abspath(master_path)))}?mode=ro"
        self._busy = busy_seconds
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._con: sqlite3.Connection | None = None  # set only while the index is ready
        # Bumped by every invalidation: a build or a reader of an older one is out of date.
        self._generation = 0
        self._thread: threading.Thread | None = None  # the build, while one runs
        self._closed = False
        self.info: BuildInfo | None = None  # of the last finished build
        self.error: str | None = None  # why the last build failed (then searches scan)

    # --- state ----------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._con is not None

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        """Build in the background unless the index is ready or being built."""
        with self._lock:
            if self._closed or self._con is not None or self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, args=(self._generation,), name="rule-index", daemon=True
            )
            self._thread.start()

    def invalidate(self, generation: int | None = None) -> None:
        """The rules changed: stop answering and rebuild in the background. With `generation`,
        only if the index is still the one of that generation (a later one is newer)."""
        with self._lock:
            if self._closed or (generation is not None and generation != self._generation):
                return
            self._generation += 1
            old, self._con = self._con, None
        if old is not None:
            old.close()  # no reader holds it: they use it under the lock only
        self.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the index is ready or its build has ended; whether it is ready."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._con is not None or self._thread is None or self._closed, timeout
            )
            return self._con is not None

    def close(self) -> None:
        """Forget the index; SQLite deletes its file. A build running stops at its next chunk."""
        with self._lock:
            self._closed = True
            self._generation += 1
            old, self._con = self._con, None
            thread = self._thread
            self._changed.notify_all()
        if old is not None:
            old.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_SECONDS)

    # --- queries --------------------------------------------------------------------------------
    def candidates(self, text: str, before: int | None = None) -> Iterator[int] | None:
        """The orders of the rules that may contain `text`, highest first, below `before`;
        None when the index cannot answer (not ready, or see match_query). Iterating raises
        IndexGone when the index is invalidated meanwhile."""
        query = match_query(text)
        if query is None:
            return None
        with self._lock:
            if self._con is None:
                return None
            generation = self._generation
        return self._walk(query, before, generation)

    def _walk(self, query: str, before: int | None, generation: int) -> Iterator[int]:
        size = FIRST_BATCH
        sql = f"SELECT rowid FROM {_TABLE} WHERE {_TABLE} MATCH ?"
        while True:
            bounded = sql if before is None else sql + " AND rowid < ?"
            params = (query, size) if before is None else (query, before, size)
            with self._lock:
                if generation != self._generation or self._con is None:
                    raise IndexGone
                try:
                    rows = self._con.execute(bounded + " ORDER BY rowid DESC LIMIT ?", params)
                    orders = [order for (order,) in rows]
                except sqlite3.Error:
                    raise IndexGone from None  # never a wrong answer: the caller scans
            yield from orders
            if len(orders) < size:
                return
            before, size = orders[-1], BATCH

    # --- building -------------------------------------------------------------------------------
    def _over(self, generation: int) -> bool:
        return self._closed or generation != self._generation

    def _run(self, generation: int) -> None:
        """The build thread: build, and build again while invalidations overtake it."""
        while True:
            con, error = self._attempt(generation)
            with self._changed:
                current = not self._over(generation)
                if current and con is not None:
                    self._con, con = con, None
                    self.error = None
                elif current:
                    self.error = error  # searches scan; the next start() tries again
                again = not current and not self._closed
                generation = self._generation
                if not again:
                    self._thread = None
                    self._changed.notify_all()
            if con is not None:
                con.close()
            if not again:
                return

    def _attempt(self, generation: int) -> tuple[sqlite3.Connection | None, str | None]:
        try:
            return self._build(generation), None
        except Exception as failure:  # a thread's traceback would land on the console's screen
            return None, f"{type(failure).__name__}: {failure}"

    def _build(self, generation: int) -> sqlite3.Connection | None:
        """A new index of the master's rules (None: overtaken by an invalidation)."""
        began = time.monotonic()
        # "": a private temporary file, deleted when the connection closes. uri: for ATTACH.
        con = sqlite3.connect(
            "", uri=True, isolation_level=None, check_same_thread=False, timeout=self._busy
        )
        try:
            for pragma in _PRAGMAS:
                con.execute(f"PRAGMA {pragma}")
            con.execute(_DDL.format(table=_TABLE, module=MODULE, tokenizer=TOKENIZER))
            con.execute("CREATE TABLE main.chunk (ord INTEGER PRIMARY KEY, expr, route)")
            con.execute("ATTACH DATABASE ? AS master", (self._master,))
            con.execute("PRAGMA master.cache_size = -256")
            rules = self._fill(con, generation)
            con.execute("DETACH DATABASE master")
            con.execute("DROP TABLE main.chunk")
            if rules is None:
                con.close()
                return None
            pages = con.execute("PRAGMA main.page_count").fetchone()[0]
            page_size = con.execute("PRAGMA main.page_size").fetchone()[0]
            self.info = BuildInfo(rules, time.monotonic() - began, pages * page_size)
            return con
        except BaseException:
            con.close()
            raise

    def _fill(self, con: sqlite3.Connection, generation: int) -> int | None:
        """Copy the master's rules in ascending order (FTS5 flushes its buffer whenever a rowid
        goes down), a chunk at a time: one short statement reads a chunk from the master into a
        plain side table, and a second one, which does not touch the master, indexes it."""
        select = (
            "INSERT INTO main.chunk SELECT address_order, address_expression, address_route "
            "FROM master.addresses {where} ORDER BY address_order LIMIT ?"
        )
        last: int | None = None
        size, rules = CHUNK_FIRST, 0
        while not self._over(generation):
            began = time.monotonic()
            if last is None:
                read = con.execute(select.format(where=""), (size,)).rowcount
            else:
                where = "WHERE address_order > ?"
                read = con.execute(select.format(where=where), (last, size)).rowcount
            size = _next_chunk(size, time.monotonic() - began, read)
            if read <= 0:
                return rules
            last = con.execute("SELECT max(ord) FROM main.chunk").fetchone()[0]
            con.execute("BEGIN")
            con.execute(
                f"INSERT INTO main.{_TABLE} (rowid, expression, route) "
                "SELECT ord, expr, route FROM main.chunk ORDER BY ord"
            )
            con.execute("DELETE FROM main.chunk")
            con.execute("COMMIT")
            rules += read
            time.sleep(0)  # let the console's threads have the interpreter between chunks
        return None


def _next_chunk(size: int, seconds: float, read: int) -> int:
    if read < size:
        return size
    if seconds > 2 * CHUNK_SECONDS:
        return max(CHUNK_MIN, size // 2)
    if seconds < CHUNK_SECONDS / 2:
        return min(CHUNK_MAX, size * 2)
    return size


# --- one index per open master Database ---------------------------------------------------------
_indexes: weakref.WeakKeyDictionary[Database, RuleIndex] = weakref.WeakKeyDictionary()
_registry = threading.Lock()


def for_database(db: Database) -> RuleIndex | None:
    """The side index of `db`, made on first call (not built yet: see start()); None when this
    SQLite cannot have one. It is closed, and its file deleted, when `db` is collected."""
    if not supported():
        return None
    with _registry:
        index = _indexes.get(db)
        if index is None:
            index = RuleIndex(db.path)
            _indexes[db] = index
            weakref.finalize(db, index.close)
    return index


def existing(db: Database) -> RuleIndex | None:
    """The side index of `db` if one was made (nothing is made here)."""
    with _registry:
        return _indexes.get(db)


def rules_changed(db: Database) -> None:
    """After a committed write of rules: the side index of their text is out of date."""
    index = existing(db)
    if index is not None:
        index.invalidate()


def discard(db: Database) -> None:
    """Close the side index of `db` now (its file is deleted)."""
    with _registry:
        index = _indexes.pop(db, None)
    if index is not None:
        index.close()
