"""Sending: the `smtpd` table is the ACL and the outbound router of each login (reference §4).

cmail-smtpd reads the row of the *authorized* identity (the alias target, one level) once per
session, at AUTH time. Without a row a user can authenticate but every MAIL FROM gets 551.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

from core import audit, validation
from core.access import Role, Scope, Session, load_scope
from core.db import Database
from core.errors import Conflict, NotFound
from core.models import Address, Smtpd, User
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

DEFAULT_ROUTER = "drop"  # what `INSERT INTO smtpd (smtpd_user)` gives, as cmail-admin-smtpd does
SESSION_NOTE = "Sessions that are already authenticated keep the old setting until they reconnect."

# What each router lets the user do, for the outcome sentence.
EFFECT = {
    "any": "may send with any sender address",
    "defined": "may send from the addresses whose store rules route to them",
    "handoff": "sends every message through the smarthost",
    "reject": "is refused at MAIL FROM",
    "drop": "can authenticate, but everything they send is silently discarded",
}


@dataclass(frozen=True)
class SmtpdEntry:
    user: str
    router: str
    route: str | None
    alias: str | None  # logins of an alias use the alias target's row, not this one


def _entry(row: tuple[str, str, str | None, str | None]) -> SmtpdEntry:
    user, router, route, alias = row
    return SmtpdEntry(user=user, router=router, route=route, alias=alias)


def _select() -> pw.ModelSelect:
    return Smtpd.select(Smtpd.user, Smtpd.router, Smtpd.route, User.alias).join(
        User, on=(Smtpd.user == User.name)
    )


def _visible_users(scope: Scope) -> list[str] | None:
    """The users whose rows the actor may see (Scope.may_view_user as a SQL list); None = all."""
    if scope.is_admin:
        return None
    names = {scope.user, *scope.managed} if scope.role is Role.DELEGATE else {scope.user}
    return sorted(n for n in names if n)


def list_entries(
    db: Database,
    session: Session,
    pattern: str | None = None,
    *,
    search: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> Page[SmtpdEntry]:
    """smtpd rows the actor may see, by user name. `pattern` is cmail-admin's LIKE filter on the
    user; `search` a literal substring of the user or the route, users starting with it first
    (see users.list_users); `after` the last user seen."""
    size = page_size(limit)
    with db.read():
        scope = load_scope(session)
        query = _select()
        like = like_filter(Smtpd.user, pattern)
        if like is not None:
            query = query.where(like)
        visible = _visible_users(scope)
        ranges = None
        if visible is not None:
            query = query.where(Smtpd.user.in_(visible))
        elif like is not None:
            ranges = prefix_ranges(literal_prefix(pattern))
        found = search_filter(Smtpd.user, search, short=True)
        if found is not None:
            # Most rows have no route (any, defined, drop): the NULL test spares them the LIKE.
            found = found | (Smtpd.route.is_null(False) & search_filter(Smtpd.route, search))
        rows, early = prefix_first(
            query, Smtpd.user, search, found, after=after, descending=False,
            wanted=size + 1, indexed=visible is None, scan_ranges=ranges,
        )  # fmt: skip
        entries = [_entry(r) for r in rows]
    more = early or len(entries) > size
    entries = entries[:size]
    return Page(entries, entries[-1].user if entries else None, more)


def get(db: Database, session: Session, user: str) -> SmtpdEntry:
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_view_user(user), f"see the smtpd entry of {user}")
        row = _select().where(Smtpd.user == user).tuples().first()
    if row is None:
        raise NotFound(f"{user} has no smtpd entry (they may not send mail).")
    return _entry(row)


def _validated(router: object, route: object) -> tuple[str, str | None]:
    router = validation.outbound_router(router)
    return router, validation.outbound_route(router, route)


def _warnings(target: User, router: str, given: object, route: str | None) -> list[str]:
    """What the daemons will actually do with this row, where it differs from what one expects."""
    user = target.name
    warnings = []
    if target.alias_id is not None:
        warnings.append(
            f"{user} is an alias of {target.alias_id}: logins as {user} use "
            f"{target.alias_id}'s smtpd entry, so this one is ignored."
        )
    if target.authdata is None:
        warnings.append(f"{user} has no password, so they cannot authenticate to send at all.")
    if router in ("any", "defined", "drop") and given not in (None, ""):
        warnings.append(f"The {router} router ignores its route; none was stored.")
    if router == "any":
        warnings.append(
            f"With the any router {user} may send as anyone, including other users and "
            "foreign domains."
        )
    if router == "defined" and not _has_store_rule(user):
        warnings.append(
            f"No store rule routes to {user}, so with the defined router {user} cannot send "
            "from any address."
        )
    if router == "handoff" and route is None:
        warnings.append(
            "A handoff without a remote behaves like drop: messages are accepted and silently "
            "discarded."
        )
    return warnings


def _has_store_rule(user: str) -> bool:
    return Address.select().where((Address.router == "store") & (Address.route == user)).exists()


def _outcome(user: str, router: str, route: str | None) -> str:
    shown = f"the {router} router ({route})" if route else f"the {router} router"
    effect = EFFECT[router]
    if router == "handoff" and route is None:
        effect = EFFECT["drop"]
    return f"{user} now sends with {shown}: {user} {effect}."


def enable(
    db: Database,
    session: Session,
    user: str,
    router: str | None = None,
    route: str | None = None,
) -> Change:
    """Create a user's smtpd row. Without a router it is `drop`, as with cmail-admin-smtpd: the
    user can log in but cannot really send, and the Change says so."""
    defaulted = router is None
    router, checked = _validated(DEFAULT_ROUTER if defaulted else router, route)
    with db.write(target=user):
        scope = load_scope(session)
        scope.require(scope.may_manage_user(user), f"enable sending for {user}")
        target = require_user(user)
        if Smtpd.select().where(Smtpd.user == user).exists():
            raise Conflict(f"{user} already has an smtpd entry; use update to change it.")
        warnings = _warnings(target, router, route, checked)
        Smtpd.insert(user=user, router=router, route=checked).execute()
        audit.note(after={"router": router, "route": checked})
    message = _outcome(user, router, checked)
    if defaulted:
        message = f"No router was given, so {user} got the default drop router: {user} "
        message += EFFECT["drop"] + "."
    return Change(message, tuple(warnings))


def update(
    db: Database, session: Session, user: str, router: str, route: str | None = None
) -> Change:
    """Set a user's send router; an omitted route becomes NULL, as with cmail-admin-smtpd."""
    router, checked = _validated(router, route)
    with db.write(target=user):
        scope = load_scope(session)
        scope.require(scope.may_manage_user(user), f"change sending for {user}")
        target = require_user(user)
        warnings = _warnings(target, router, route, checked)
        old = Smtpd.select(Smtpd.router, Smtpd.route).where(Smtpd.user == user).dicts().first()
        audit.note(before=old, after={"router": router, "route": checked})
        if Smtpd.update(router=router, route=checked).where(Smtpd.user == user).execute() == 0:
            raise NotFound(f"{user} has no smtpd entry; use enable to create one.")
    return Change(_outcome(user, router, checked), (*warnings, SESSION_NOTE))


def disable(db: Database, session: Session, user: str) -> Change:
    with db.write(target=user):
        scope = load_scope(session)
        scope.require(scope.may_manage_user(user), f"disable sending for {user}")
        audit.note(
            before=Smtpd.select(Smtpd.router, Smtpd.route).where(Smtpd.user == user).dicts().first()
        )
        if Smtpd.delete().where(Smtpd.user == user).execute() == 0:
            raise NotFound(f"{user} has no smtpd entry; nothing was changed.")
    return Change(
        f"Removed the smtpd entry of {user}: they can still authenticate, but every MAIL FROM "
        "is refused with 551.",
        (SESSION_NOTE,),
    )
