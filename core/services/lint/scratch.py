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
-- The wildcard rules seen so far by their folded literal ends (shadow.py, PadIndex); single:
-- one `%` and no `_`.
CREATE TABLE wilds (suffix TEXT NOT NULL, prefix TEXT NOT NULL, ord INTEGER NOT NULL, text TEXT,
                    router TEXT, route TEXT, single INTEGER NOT NULL,
                    PRIMARY KEY (suffix, prefix, ord)) WITHOUT ROWID;
-- The wildcard rules that redirect to one fixed address: where a redirect loop may pass.
CREATE TABLE fixed_wilds (ord INTEGER PRIMARY KEY, text TEXT, router TEXT, route TEXT);
-- key: a 64-bit hash of authdata, so that finding the equal ones sorts 8-byte keys (SQLite's
-- sorter then needs about a third of the memory it needs for the texts).
CREATE TABLE logins (key INTEGER NOT NULL, authdata TEXT NOT NULL, seq INTEGER NOT NULL,
                     name TEXT NOT NULL);
CREATE TABLE homes (path TEXT NOT NULL, name TEXT NOT NULL);
"""
_PRAGMAS = (
    # Small pages: a sort (equal passwords, shared user databases: a million rows) keeps 250
    # pages' worth of rows in memory before it spills to disk, 1 MiB with 4 KiB pages.
    "page_size = 1024",
    "cache_size = -64",  # KiB: the pad lives on disk, not in the console's memory
    "journal_mode = OFF",  # nothing here needs to survive a crash
    "synchronous = OFF",
    "temp_store = FILE",  # sorts spill to disk too
)
# Values per IN list. Every list has this many, so each query is prepared once: the connection
# keeps its prepared statements, and one with an IN list costs ~200 bytes per value (kept for
# each length that came up, 2,000-value lists of varying lengths would take many MB).
_IN_LIST = 250
_MARKS = ", ".join("?" * _IN_LIST)


# The logins' key: Python's string hash, salted per process, which is fine for a pad that lives
# for one scan.
login_key = hash


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

    def _where_in(self, sql: str, values: Sequence[object]) -> Iterator[tuple]:
        """`sql`'s rows for `values`, its {marks} standing for _IN_LIST of them at a time."""
        for start in range(0, len(values), _IN_LIST):
            part = list(values[start : start + _IN_LIST])
            part += part[-1:] * (_IN_LIST - len(part))  # a repeated value changes no answer
            yield from self.con.execute(sql.format(marks=_MARKS), part)

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

    # --- wildcard rules ---------------------------------------------------------------------------
    def add_wilds(self, rows: Iterable[tuple[str, str, int, str, str, str | None, bool]]) -> None:
        """(folded suffix, folded prefix, order, text, router, route, single)."""
        self._many("INSERT INTO wilds VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def wilds(
        self, suffix: str, prefix: str, above: int | None
    ) -> list[tuple[int, str, str, str | None, int]]:
        """The wildcard rules with these literal ends (ordered above `above`): order, text,
        router, route, single."""
        sql = "SELECT ord, text, router, route, single FROM wilds WHERE suffix = ? AND prefix = ?"
        if above is None:
            return self.con.execute(sql, (suffix, prefix)).fetchall()
        return self.con.execute(sql + " AND ord > ?", (suffix, prefix, above)).fetchall()

    def wild_ends(self) -> Iterator[tuple[str, str]]:
        """Each distinct (suffix, prefix) of the wildcard rules, by suffix."""
        return self.con.execute("SELECT DISTINCT suffix, prefix FROM wilds ORDER BY suffix, prefix")

    def add_fixed(self, rows: Iterable[tuple[int, str, str, str | None]]) -> None:
        """Wildcard rules that redirect to one fixed address: (order, text, router, route)."""
        self._many("INSERT INTO fixed_wilds VALUES (?, ?, ?, ?)", rows)

    def fixed(self, before: int | None, limit: int) -> list[tuple[int, str, str, str | None]]:
        """Those rules, highest order first, below `before`."""
        if before is None:
            sql, params = "SELECT * FROM fixed_wilds ORDER BY ord DESC LIMIT ?", (limit,)
        else:
            sql = "SELECT * FROM fixed_wilds WHERE ord < ? ORDER BY ord DESC LIMIT ?"
            params = (before, limit)
        return self.con.execute(sql, params).fetchall()

    def fixed_in(self, orders: Sequence[int]) -> Iterator[tuple[int, str, str, str | None]]:
        """Those of these orders."""
        yield from self._where_in("SELECT * FROM fixed_wilds WHERE ord IN ({marks})", orders)

    # --- users ----------------------------------------------------------------------------------
    def add_logins(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """(authdata, its user's position in the users table, user name)."""
        self._many(
            "INSERT INTO logins VALUES (?, ?, ?, ?)",
            ((login_key(authdata), authdata, seq, name) for authdata, seq, name in rows),
        )

    def shared_logins(self) -> Iterator[list[str]]:
        """The names of each group of users with the same authdata, in table order."""
        # Equal keys are candidates; grouping by the text drops a hash collision's lone rows.
        rows = self.con.execute(
            "SELECT authdata, name FROM logins WHERE key IN "
            "(SELECT key FROM logins GROUP BY key HAVING count(*) > 1) "
            "ORDER BY authdata, seq"
        )
        for _authdata, group in groupby(rows, key=lambda row: row[0]):
            names = [name for _, name in group]
            if len(names) > 1:
                yield names

    def add_homes(self, rows: Iterable[tuple[str, str]]) -> None:
        """(user database path, user name)."""
        self._many("INSERT INTO homes VALUES (?, ?)", rows)

    def homes(self) -> Iterator[tuple[str, list[str]]]:
        """Each user database path with the names of its users, both sorted."""
        rows = self.con.execute("SELECT path, name FROM homes ORDER BY path, name")
        for path, group in groupby(rows, key=lambda row: row[0]):
            yield path, [name for _, name in group]
