"""Small helpers every service uses."""

from __future__ import annotations

import re
from typing import Any

import peewee as pw

from core import validation
from core.errors import NotFound
from core.models import User
from core.patterns import fold

PAGE_SIZE = 50
MAX_PAGE = 1000
# Case variants of a prefix walked as index ranges: 2**6 ranges at most. A longer prefix is
# walked by the ranges of its start, and the rest is checked by LIKE on the rows found.
MAX_CASE_LETTERS = 6
# Longer texts (or any NUL) are searched with instr(): SQLite's LIKE stops at a NUL and refuses
# patterns over 50,000 bytes.
MAX_LIKE_TEXT = 5000
MAX_TWIN_VARIANTS = 1024
IN_BATCH = 500  # bound parameters per IN list: below the 999 of old SQLite builds
_NOT_LETTERS = re.compile(r"[^A-Za-z]+")


def page_size(limit: int | None) -> int:
    if limit is None:
        return PAGE_SIZE
    # validation.order: a whole number in 64 bits, or Invalid naming the limit (int() raised).
    return max(1, min(validation.order(limit, "limit"), MAX_PAGE))


def require_user(name: str, what: str = "user") -> User:
    user = User.get_or_none(User.name == name)
    if user is None:
        raise NotFound(f"No {what} named {name!r} exists.")
    return user


def user_exists(name: str) -> bool:
    return User.select(User.name).where(User.name == name).exists()


def like_filter(field: pw.Field, pattern: str | None) -> pw.Expression | None:
    """cmail-admin's list filter: a LIKE pattern, case-insensitive, `%` by default."""
    if pattern is None or pattern == "%":
        return None
    return field**pattern  # peewee's ** is SQLite LIKE


def _likeable(text: str) -> bool:
    return "\x00" not in text and len(text) <= MAX_LIKE_TEXT


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_escape(field: Any, pattern: str) -> pw.Expression:
    if "\\" not in pattern:
        return field**pattern  # nothing escaped: plain LIKE is a little faster
    return pw.NodeList((field, pw.SQL("LIKE"), pw.Value(pattern), pw.SQL("ESCAPE '\\'")))


def search_filter(field: Any, text: str | None, *, short: bool = False) -> pw.Expression | None:
    """Filter-as-you-type: a literal, case-insensitive substring (no wildcards). For `short`
    values (user names) a part of the text without letters is first looked for by instr(),
    which rejects most rows sooner than LIKE; on longer values it is slower."""
    if not text:
        return None
    if not any(char.isascii() and char.isalpha() for char in text):
        return pw.fn.instr(field, text) > 0  # no letter to fold: the fastest test
    if _likeable(text):
        # LIKE folds ASCII letters only, as lower() does; three times faster than instr(lower()).
        like = _like_escape(field, f"%{_escaped(text)}%")
        run = max(_NOT_LETTERS.findall(text), key=len, default="") if short else ""
        if len(run) >= 3:
            # A part without letters must appear as it is: instr() rejects most rows sooner.
            return (pw.fn.instr(field, run) > 0) & like
        return like
    # Both sides through SQLite's lower() (ASCII only): Python's would fold "Ü" and then miss it.
    return pw.fn.instr(pw.fn.lower(field), pw.fn.lower(text)) > 0


def starts_with(field: Any, text: str) -> pw.Expression:
    """`field` begins with the literal `text`, ASCII letters in any case (as search_filter)."""
    if _likeable(text):
        return _like_escape(field, f"{_escaped(text)}%")
    return pw.fn.substr(pw.fn.lower(field), 1, len(text)) == pw.fn.lower(text)


def is_prefix(text: str, value: object) -> bool:
    """Python's answer to starts_with(value, text) for a cursor value."""
    return isinstance(value, str) and fold(value).startswith(fold(text))


def _successor(prefix: str) -> str | None:
    """The least string above every string that begins with `prefix` (None: there is none)."""
    while prefix:
        code = ord(prefix[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates cannot be stored: skip them
        if code <= 0x10FFFF:
            return prefix[:-1] + chr(code)
        prefix = prefix[:-1]
    return None


Ranges = list[tuple[str, str | None]]


def prefix_ranges(prefix: str) -> Ranges | None:
    """Key ranges [low, high) of a UNIQUE text index that hold every value starting with
    `prefix` in any ASCII case, in index order; None when the prefix is empty or unsuitable
    (then scan). Only the first MAX_CASE_LETTERS letters are expanded: rows in the ranges must
    still be checked against the whole prefix."""
    if not prefix or not _likeable(prefix):
        return None
    head, letters = "", 0
    for char in prefix:
        if char.isascii() and char.isalpha():
            if letters == MAX_CASE_LETTERS:
                break
            letters += 1
        head += char
    variants = _case_variants(head, 2**MAX_CASE_LETTERS) or []
    # Same-length prefixes that differ are disjoint ranges, sorted as the prefixes are: walking
    # them in order walks the index in order.
    return [(v, _successor(v)) for v in sorted(variants)]


def _case_variants(text: str, most: int) -> list[str] | None:
    """`text` with its ASCII letters in every combination of case; None beyond `most`."""
    letters = sum(1 for char in text if char.isascii() and char.isalpha())
    if 2**letters > most:
        return None
    variants = [""]
    for char in text:
        if char.isascii() and char.isalpha():
            variants = [v + c for v in variants for c in (char.upper(), char.lower())]
        else:
            variants = [v + char for v in variants]
    return variants


def case_twins(lowered: str) -> list[str]:
    """Names whose SQLite lower() is `lowered`, in name order: read by key when the ASCII case
    variants are few (1,024 at most), else by one pass over the name index."""
    variants = _case_variants(lowered, MAX_TWIN_VARIANTS)
    if variants is not None:
        query = User.select(User.name).where(User.name.in_(variants))
    elif _likeable(lowered):
        query = User.select(User.name).where(_like_escape(User.name, _escaped(lowered)))
    else:
        query = User.select(User.name).where(pw.fn.lower(User.name) == lowered)
    return [name for (name,) in query.order_by(User.name).tuples()]


def by_names(sql: str, names: list[Any], column: str, *, scan: bool = False) -> list[Any]:
    """Rows of `sql` (holding `{where}`) for the named keys of `column`, in batches of bound
    parameters that old SQLite builds accept. For a `scan` (a column without an index, such as
    mail_user) each batch is also bounded by its lowest and highest key, which rejects most rows
    before the IN test; on an indexed column that bound would only mislead the planner."""
    execute = User._meta.database.execute_sql
    rows: list[Any] = []
    for start in range(0, len(names), IN_BATCH):
        batch = names[start : start + IN_BATCH]
        where = f"{column} IN ({', '.join('?' * len(batch))})"
        params = list(batch)
        if scan and all(isinstance(name, str) for name in batch):
            where = f"{column} >= ? AND {column} <= ? AND {where}"
            params = [min(batch), max(batch), *batch]
        rows += execute(sql.format(where=where), params).fetchall()
    return rows


def literal_prefix(pattern: str | None) -> str:
    """The text every value matching a LIKE pattern (without ESCAPE) begins with."""
    if not pattern:
        return ""
    for index, char in enumerate(pattern):
        if char in "%_":
            return pattern[:index]
    return pattern


def walk(
    query: pw.ModelSelect,
    field: pw.Field,
    ranges: Ranges | None,
    after: object,
    descending: bool,
    wanted: int,
    *,
    raw: bool = False,
) -> list[Any]:
    """Up to `wanted` row tuples of `query` after the cursor, in `field` order. With `ranges`
    (which must hold every row the query can return) only those parts of the index are read.
    `raw` rows are SQLite's values as they are, without the models' conversions (faster)."""
    order = field.desc() if descending else field.asc()
    if after is not None:
        query = query.where(field < after if descending else field > after)

    def fetch(part: pw.ModelSelect, count: int) -> list[Any]:
        part = part.order_by(order).limit(count)
        return User._meta.database.execute(part).fetchall() if raw else list(part.tuples())

    if ranges is None:
        return fetch(query, wanted)
    rows: list[Any] = []
    for low, high in reversed(ranges) if descending else ranges:
        if after is not None and isinstance(after, str):
            if descending and low > after:
                continue
            if not descending and high is not None and high <= after:
                continue
        part = query.where(field >= low)
        if high is not None:
            part = part.where(field < high)
        rows += fetch(part, wanted - len(rows))
        if len(rows) >= wanted:
            break
    return rows


def prefix_first(
    query: pw.ModelSelect,
    field: pw.Field,
    text: str | None,
    matches: pw.Expression | None,
    *,
    after: object,
    descending: bool,
    wanted: int,
    indexed: bool,
    scan_ranges: Ranges | None = None,
) -> tuple[list[Any], bool]:
    """Filter-as-you-type in two runs: rows whose `field` starts with `text` first (read
    through the index when `indexed`), then the other rows that `matches` (the whole search
    condition), each run in `field` order. A cursor value tells by itself which run it is in,
    so the cursor stays the last row's key. `scan_ranges` may narrow the second run. The
    query's first column must be `field`.

    Returns the rows and whether the call stopped early: an indexed first run that found some
    rows but fewer than `wanted` comes back alone, so a list shows what starts with the text at
    the cost of a page, and the next call (its cursor is a prefix match) scans for the rest.
    Without a search (`matches` None) it is one walk of `scan_ranges`."""
    if matches is None or not text:
        return walk(query, field, scan_ranges, after, descending, wanted), False
    rows: list[Any] = []
    # The second run leaves out the first one's rows: by their keys when the first run read
    # them all (LIKE on every row of a scan costs more), else by the prefix test.
    first_keys = None
    if after is None or is_prefix(text, after):
        ranges = prefix_ranges(text) if indexed else None
        head = query.where(starts_with(field, text))
        rows = walk(head, field, ranges, after, descending, wanted)
        if len(rows) >= wanted:
            return rows, False
        if rows and indexed:
            return rows, True  # the scan for the rest is the next call's
        if after is None:
            first_keys = [row[0] for row in rows]
        after = None
    if first_keys is None:
        rest = query.where(matches, ~starts_with(field, text))
    elif first_keys:
        rest = query.where(matches, field.not_in(first_keys))
    else:
        rest = query.where(matches)
    return rows + walk(rest, field, scan_ranges, after, descending, wanted - len(rows)), False
