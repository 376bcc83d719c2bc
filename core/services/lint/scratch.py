"""The lint's scratch pad: a private, temporary SQLite file for the questions that compare every
row with every other and that cmail's schema has no index for (equal rule texts, equal
passwords, shared user databases, where a redirect's target leads).

Keeping such rows in Python dicts costs hundreds of MB at a million users; asking the master
database costs a full scan per question, and one long read delays the daemons' commits. Here the
rows go, chunk by chunk as the lint streams past them, into a file that SQLite deletes when it
is closed, read and written through a small page cache. Nothing here touches the master
database, and nothing in the master database changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

_SCHEMA = """
-- The highest literal rule of each ASCII-folded text; tkey: its folded target when it is a
-- redirect to one fixed address.
CREATE TABLE tops (key TEXT PRIMARY KEY, ord INTEGER NOT NULL, text TEXT, router TEXT,
                   tkey TEXT) WITHOUT ROWID;
-- The highest literal rule of each exact text that is not the highest of its folded text.
CREATE TABLE twins (text TEXT PRIMARY KEY, ord INTEGER NOT NULL, router TEXT) WITHOUT ROWID;
CREATE TABLE logins (authdata TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE homes (path TEXT NOT NULL, name TEXT NOT NULL);
"""
_PRAGMAS = (
    "cache_size = -256",  # KiB: the pad lives on disk, not in the console's memory
    "journal_mode = OFF",  # nothing here needs to survive a crash
    "synchronous = OFF",
    "temp_store = FILE",  # sorts spill to disk too
)
_MAX_VARIABLES = 10_000  # well below SQLite's limit of bound values per statement


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal rule as the pad keeps it: folded text, order, exact text, router, and the
    folded target of a fixed redirect (else None)."""

    key: str
    order: int
    text: str
    router: str
    tkey: str | None = None


class Scratch:
    def __init__(self) -> None:
        # "": a private temporary database on disk, deleted when the connection closes.
        self.con = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            self.con.execute(f"PRAGMA {pragma}")
        self.con.executescript(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def _many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.con.execute("BEGIN")
        try:
            self.con.executemany(sql, rows)
        finally:
            self.con.execute("COMMIT")

    def _where_in(self, sql: str, values: Sequence[str]) -> Iterator[tuple]:
        for start in range(0, len(values), _MAX_VARIABLES):
            part = values[start : start + _MAX_VARIABLES]
            marks = ", ".join("?" * len(part))
            yield from self.con.execute(sql.format(marks=marks), part)

    # --- literal rules --------------------------------------------------------------------------
    def tops(self, keys: Sequence[str]) -> dict[str, Literal]:
        """The highest literal rule stored so far for each of these folded texts."""
        sql = "SELECT key, ord, coalesce(text, key), router, tkey FROM tops WHERE key IN ({marks})"
        return {row[0]: Literal(*row) for row in self._where_in(sql, keys)}

    def twins(self, texts: Sequence[str]) -> dict[str, Literal]:
        """The highest non-top literal rule stored so far for each of these exact texts."""
        sql = "SELECT text, ord, router FROM twins WHERE text IN ({marks})"
        return {
            text: Literal("", order, text, router)
            for text, order, router in self._where_in(sql, texts)
        }

    def add_tops(self, tops: Iterable[Literal]) -> None:
        self._many(
            "INSERT INTO tops VALUES (?, ?, ?, ?, ?)",
            ((t.key, t.order, None if t.text == t.key else t.text, t.router, t.tkey) for t in tops),
        )

    def add_twins(self, twins: Iterable[Literal]) -> None:
        self._many(
            "INSERT INTO twins VALUES (?, ?, ?)", ((t.text, t.order, t.router) for t in twins)
        )

    def redirect_steps(
        self, after: str | None, limit: int, *, to_fixed_only: bool
    ) -> list[tuple[str, int, str, int | None, bool]]:
        """Fixed redirects that are the highest rule of their text, each with the highest
        literal rule of its target's text (key, order, target key, target order, whether the
        target is a fixed redirect too), in key order after `after`."""
        sql = (
            "SELECT s.key, s.ord, s.tkey, t.ord, t.tkey IS NOT NULL FROM tops s "
            "LEFT JOIN tops t ON t.key = s.tkey WHERE s.tkey IS NOT NULL"
            + (" AND t.tkey IS NOT NULL" if to_fixed_only else "")
            + ("" if after is None else " AND s.key > ?")
            + " ORDER BY s.key LIMIT ?"
        )
        params = (limit,) if after is None else (after, limit)
        return self.con.execute(sql, params).fetchall()

    # --- users ----------------------------------------------------------------------------------
    def add_logins(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """(authdata, its user's position in the users table, user name)."""
        self._many("INSERT INTO logins VALUES (?, ?, ?)", rows)

    def shared_logins(self) -> Iterator[list[str]]:
        """The names of each group of users with the same authdata, in table order."""
        rows = self.con.execute(
            "SELECT authdata, name FROM logins WHERE authdata IN "
            "(SELECT authdata FROM logins GROUP BY authdata HAVING count(*) > 1) "
            "ORDER BY authdata, seq"
        )
        for _authdata, group in groupby(rows, key=lambda row: row[0]):
            yield [name for _, name in group]

    def add_homes(self, rows: Iterable[tuple[str, str]]) -> None:
        """(user database path, user name)."""
        self._many("INSERT INTO homes VALUES (?, ?)", rows)

    def homes(self) -> Iterator[tuple[str, list[str]]]:
        """Each user database path with the names of its users, both sorted."""
        rows = self.con.execute("SELECT path, name FROM homes ORDER BY path, name")
        for path, group in groupby(rows, key=lambda row: row[0]):
            yield path, [name for _, name in group]
