"""POP: the `popd` table is both the ACL for POP logins and the maildrop lock (reference §5)."""

from __future__ import annotations

from dataclasses import dataclass

from core import audit
from core.access import Session, load_scope
from core.db import Database
from core.errors import Conflict, NotFound
from core.models import Popd, User
from core.records import Change, Page
from core.services.common import (
    like_filter,
    literal_prefix,
    page_size,
    prefix_first,
    prefix_ranges,
    require_user,
    search_filter,
)

UNLOCK_WARNING = (
    "If a POP session is still running it keeps reading the maildrop, and a second session "
    "can now lock it too; unlock only a lock you know is stale."
)


@dataclass(frozen=True)
class PopEntry:
    user: str
    locked: bool
    alias: str | None  # POP logins of an alias use the target's row instead of this one


def _entry(row: tuple[str, object, str | None]) -> PopEntry:
    user, lock, alias = row
    # cmail treats anything but the integer 0 as locked (text 'false' included).
    return PopEntry(user=user, locked=lock != 0, alias=alias)


def list_entries(
    db: Database,
    session: Session,
    pattern: str | None = None,
    *,
    search: str | None = None,
    locked_only: bool = False,
    after: str | None = None,
    limit: int | None = None,
) -> Page[PopEntry]:
    """POP rows the actor may see, by user name, one page at a time; with `search`, users
    starting with it first (see users.list_users)."""
    size = page_size(limit)
    with db.read():
        scope = load_scope(session)
        query = Popd.select(Popd.user, Popd.lock, User.alias).join(
            User, on=(Popd.user == User.name)
        )
        like = like_filter(Popd.user, pattern)
        if like is not None:
            query = query.where(like)
        if locked_only:
            query = query.where(Popd.lock != 0)
        ranges = None
        if not scope.is_admin:
            visible = (
                {scope.user, *scope.managed} if scope.role.value == "delegate" else {scope.user}
            )
            query = query.where(Popd.user.in_(sorted(n for n in visible if n)))
        elif like is not None:
            ranges = prefix_ranges(literal_prefix(pattern))
        found = search_filter(Popd.user, search, short=True)
        rows, early = prefix_first(
            query, Popd.user, search, found, after=after, descending=False,
            wanted=size + 1, indexed=scope.is_admin, scan_ranges=ranges,
        )  # fmt: skip
        entries = [_entry(r) for r in rows]
    more = early or len(entries) > size
    entries = entries[:size]
    return Page(entries, entries[-1].user if entries else None, more)


def get(db: Database, session: Session, user: str) -> PopEntry:
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_view_user(user), f"see the POP entry of {user}")
        row = (
            Popd.select(Popd.user, Popd.lock, User.alias)
            .join(User, on=(Popd.user == User.name))
            .where(Popd.user == user)
            .tuples()
            .first()
        )
    if row is None:
        raise NotFound(f"{user} has no POP entry (POP is not enabled for this user).")
    return _entry(row)


def enable(db: Database, session: Session, user: str) -> Change:
    with db.write(target=user):
        scope = load_scope(session)
        scope.require(scope.may_edit_pop(user), f"enable POP for {user}")
        target = require_user(user)
        if Popd.select().where(Popd.user == user).exists():
            raise Conflict(f"POP is already enabled for {user}.")
        Popd.insert(user=user, lock=0).execute()
        audit.note(before={"pop": "disabled"}, after={"pop": "enabled", "locked": False})
    warnings = []
    if target.alias_id is not None:
        warnings.append(
            f"{user} is an alias of {target.alias_id}: its POP logins open {target.alias_id}'s "
            "maildrop and use that user's POP entry, not this one."
        )
    return Change(f"POP enabled for {user}.", tuple(warnings))


def disable(db: Database, session: Session, user: str) -> Change:
    with db.write(target=user):
        scope = load_scope(session)
        scope.require(scope.may_edit_pop(user), f"disable POP for {user}")
        row = Popd.get_or_none(Popd.user == user)
        if row is not None:
            locked = row.lock != 0
            audit.note(before={"pop": "enabled", "locked": locked}, after={"pop": "disabled"})
        if Popd.delete().where(Popd.user == user).execute() == 0:
            raise NotFound(f"{user} has no POP entry; nothing was changed.")
    return Change(f"POP disabled for {user}; their stored mail is kept.")


def unlock(db: Database, session: Session, user: str) -> Change:
    """Clear a maildrop lock: an emergency action for locks left by a crashed session."""
    with db.write(target=user):
        scope = load_scope(session)
        scope.require(scope.may_edit_pop(user), f"unlock the maildrop of {user}")
        row = Popd.get_or_none(Popd.user == user)
        if row is None:
            raise NotFound(f"{user} has no POP entry; nothing was changed.")
        was_locked = row.lock != 0
        Popd.update(lock=0).where(Popd.user == user).execute()
        audit.note(before={"locked": was_locked}, after={"locked": False})
    if not was_locked:
        return Change(f"The maildrop of {user} was not locked; it stays unlocked.")
    return Change(f"The maildrop of {user} is unlocked.", (UNLOCK_WARNING,))
