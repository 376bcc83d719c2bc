"""Reading the audit trail: who changed what, and who was refused (admins only).

The trail is a file of its own next to the master database (core/audit.py); reading it never
writes the master database. Only a refused attempt to read it is itself recorded, like any other
refusal.
"""

from __future__ import annotations

from core import audit
from core.access import Session, load_scope
from core.audit import Entry
from core.db import Database
from core.errors import Denied, Invalid
from core.records import Page
from core.services.common import page_size

ACTION = "audit.list_entries"


def list_entries(
    db: Database,
    session: Session,
    *,
    search: str | None = None,
    login: str | None = None,
    before_id: int | None = None,
    limit: int | None = None,
) -> Page[Entry]:
    """Entries newest first, one keyset page at a time (`before_id`: the cursor of the last
    page). `search` is a literal, case-insensitive substring of the action, target, login,
    message or result; `login` an exact acting user."""
    size = page_size(limit)
    for field, value in (("filter", search), ("login", login)):
        _check_text(field, value)
    if before_id is not None and (isinstance(before_id, bool) or not isinstance(before_id, int)):
        raise Invalid("before id", f"The before id must be a whole number, not {before_id!r}.")
    pending = audit.begin(ACTION, None)  # load_scope names the actor in it
    try:
        with db.read():
            scope = load_scope(session)
            scope.require_admin("read the audit trail")
    except Denied as error:
        db.audit.record_outcome(pending, error)
        raise
    finally:
        audit.end()
    return db.audit.entries(search=search, login=login, before_id=before_id, limit=size)


def _check_text(field: str, value: object) -> None:
    """Any text may be searched for, but SQLite can only compare text that is valid UTF-8."""
    if value is None:
        return
    if not isinstance(value, str):
        raise Invalid(field, f"The {field} must be text.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(field, f"The {field} must be valid UTF-8 text.") from None
