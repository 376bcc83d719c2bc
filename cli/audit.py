"""`cmail-console audit`: the audit trail, newest first (admins only).

cmail-admin has no such tool, so the table is laid out for reading rather than in cmail-admin's
right-aligned columns; `--json` gives every field, before → after included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cli.context import Context, arity, split_options
from cli.output import printable
from core.audit import Entry
from core.errors import Invalid
from core.services import audit as audit_service

USAGE = """audit [filter] [--user USER] [--limit N]
  list the audit trail, newest first: every change and every refused attempt
  filter        a literal, case-insensitive text in the action, target, user, result or message
  --user USER   only what USER did (the global --login USER acts as USER, who must be admin)
  --limit N     only the newest N entries"""
FILE_SYSTEM = "(file-system)"  # what the CLI without --login acts as
COLUMNS = ("Time", "Login", "Role", "Action", "Target", "Result", "Message")
# Widest a column grows before longer values overflow it (they are never cut).
CAPS = (25, 16, 8, 28, 28, 7)
PAGE = 1000


def _options(args: list[str]) -> tuple[list[str], str | None, int | None]:
    rest, values, _ = split_options(args, {"--user": "a user name", "--limit": "a number"})
    limit = values.get("--limit")
    return rest, values.get("--user"), None if limit is None else _limit(limit)


def _limit(value: str) -> int:
    if not value.strip().isdecimal() or int(value) < 1:
        raise Invalid("limit", f"The limit must be a whole number of at least 1, not {value!r}.")
    return int(value)


def _entries(
    ctx: Context, search: str | None, user: str | None, limit: int | None
) -> Iterator[Entry]:
    """Every matching entry, newest first, a page at a time."""
    cursor: int | None = None
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        page = audit_service.list_entries(
            ctx.db, ctx.session, search=search, login=user, before_id=cursor, limit=size
        )
        yield from page.rows
        if left is not None:
            left -= len(page.rows)
        if not page.has_more:
            return
        cursor = page.cursor


def cells(entry: Entry) -> tuple[str, ...]:
    return tuple(
        printable(value)
        for value in (
            entry.time,
            entry.login if entry.login is not None else FILE_SYSTEM,
            entry.role,
            entry.action,
            entry.target,
            entry.result,
            entry.message,
        )
    )


def _table(ctx: Context, rows: list[tuple[str, ...]]) -> None:
    widths = [
        min(cap, max([len(title), *(len(row[i]) for row in rows)]))
        for i, (title, cap) in enumerate(zip(COLUMNS, CAPS, strict=False))
    ]

    def line(values: tuple[str, ...]) -> str:
        fixed = "  ".join(f"{v:<{w}}" for v, w in zip(values, widths, strict=False))
        return f"{fixed}  {values[-1]}".rstrip()

    ctx.out.write(line(COLUMNS) + "\n")
    ctx.out.write("  ".join("-" * w for w in widths) + "  " + "-" * len(COLUMNS[-1]) + "\n")
    for row in rows:
        ctx.out.write(line(row) + "\n")
    if not rows:
        ctx.out.write("(no entries)\n")


def audit(ctx: Context, args: list[str]) -> int:
    rest, user, limit = _options(args)
    arity(rest, 0, 1, "audit [filter] [--user USER] [--limit N]")
    entries = _entries(ctx, rest[0] if rest else None, user, limit)
    if ctx.json:
        ctx.emit([_json(entry) for entry in entries])
    else:
        _table(ctx, [cells(entry) for entry in entries])
    return 0


def _json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": entry.time,
        "login": entry.login,
        "role": entry.role,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "result": entry.result,
        "message": entry.message,
    }
