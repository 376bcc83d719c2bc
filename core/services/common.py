"""Small helpers every service uses."""

from __future__ import annotations

import peewee as pw

from core import validation
from core.errors import NotFound
from core.models import User

PAGE_SIZE = 50
MAX_PAGE = 1000


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


def search_filter(field: pw.Field, text: str | None) -> pw.Expression | None:
    """Filter-as-you-type: a literal, case-insensitive substring (no wildcards)."""
    if not text:
        return None
    # Both sides through SQLite's lower() (ASCII only): Python's would fold "Ü" and then miss it.
    return pw.fn.instr(pw.fn.lower(field), pw.fn.lower(text)) > 0
