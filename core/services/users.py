"""Users: the `users` table and what hangs off it (reference §1.2–1.3, §2, §3.6–3.7, §7.2).

Fixes the PHP API's user bugs rather than repeating them: a delegate's new user becomes its
managed user and the add works (B-U1, B-U3), users change their own password (B-U6), unknown
users are NotFound (B-U11), aliases can be cleared (B-U13), and the last admin stays (B-U14).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import peewee as pw

from core import audit, passwords, rule_index, userdb, validation
from core.access import Role, Scope, Session, load_scope
from core.db import Database
from core.errors import Conflict, Denied, Invalid, NotFound
from core.models import (
    Address,
    DelegatedExpression,
    DelegatedUser,
    Mail,
    Permission,
    Popd,
    Smtpd,
    User,
)
from core.records import Change, Page, as_dict
from core.services import addresses
from core.services.common import (
    Ranges,
    by_names,
    case_twins,
    like_filter,
    literal_prefix,
    page_size,
    prefix_first,
    prefix_ranges,
    require_user,
    search_filter,
    user_exists,
    walk,
)
from core.services.rights import current_stamp, require_other_admin

SORTS = ("name",)
USERDB_NOTE = (
    "Mail stored in {name}'s user database ({path}) is not deleted: that file has no link to "
    "the master database."
)


@dataclass(frozen=True)
class StoreRoute:
    """An `addresses` row that stores mail for a user."""

    order: int
    expression: str


@dataclass(frozen=True)
class UserSummary:
    name: str
    can_login: bool  # authdata is not NULL (cmail-admin's Auth column); see UserDetail.login
    alias: str | None
    database: str | None
    addresses: int  # store routes naming this user
    # Master mailbox only, as cmail-admin counts. None only from get_user(whole_table=False):
    # mailbox has no index on mail_user, so one user's count reads the whole table.
    mails: int | None
    pop: bool
    smtpd: bool
    rights: tuple[str, ...]


@dataclass(frozen=True)
class UserDetail(UserSummary):
    """Everything about one user. From get_user(whole_table=False), shared_with, aliased_by
    and mails are None (not read): user_links and mailbox.mail_counts read them on their own."""

    login: str  # ok, disabled, malformed
    login_problem: str | None
    shared_with: tuple[str, ...] | None  # users with the same authdata (that the actor may see)
    managers: tuple[str, ...]
    managed: tuple[str, ...]
    expressions: tuple[str, ...]
    aliased_by: tuple[str, ...] | None
    smtpd_router: str | None
    smtpd_route: str | None
    pop_locked: bool | None
    store_routes: tuple[StoreRoute, ...]


@dataclass(frozen=True)
class UserLinks:
    """What only a pass over the whole users table tells about a user: user_authdata and
    user_alias have no index (cmail's schema), so at a million users each costs ~0.05 s."""

    name: str
    shared_with: tuple[str, ...]  # users with the same authdata (that the actor may see)
    aliased_by: tuple[str, ...]  # users whose logins act as this one


@dataclass(frozen=True)
class UserName:
    """A user as a list of names shows it: the name and the rights it holds."""

    name: str
    rights: tuple[str, ...]


@dataclass(frozen=True)
class DeletePreview:
    """What deleting a user takes with it, and what it leaves behind."""

    name: str
    mails: int
    smtpd: bool
    pop: bool
    rights: tuple[str, ...]
    manages: tuple[str, ...]
    managed_by: tuple[str, ...]
    expressions: tuple[str, ...]
    aliased_by: tuple[str, ...]  # their user_alias becomes NULL
    dangling_routes: tuple[StoreRoute, ...]  # store routes not cascaded: mail to them gets 554
    database: str | None
    notes: tuple[str, ...]


def _login(authdata: str | None) -> str:
    """A login as the audit trail records it: never the password or its hash."""
    return "disabled" if authdata is None else "enabled"


# --- reading ----------------------------------------------------------------------------------


def _visible(scope: Scope) -> set[str] | None:
    """Users the actor may list: None for everyone (admins)."""
    if scope.is_admin:
        return None
    names = {scope.user} if scope.user is not None else set()
    if scope.role is Role.DELEGATE:
        names |= scope.managed
    return names


def _summaries(
    rows: list[tuple[str, str | None, str | None, str | None]], *, mails: bool = True
) -> list[UserSummary]:
    """Summaries for one page: every count is one query over the page's names only. The mail
    count reads the whole mailbox (no index on mail_user): without `mails` it is None."""
    names = [row[0] for row in rows]
    if not names:
        return []
    links = dict(
        by_names(
            "SELECT address_route, COUNT(*) FROM addresses "
            "WHERE address_router = 'store' AND {where} GROUP BY address_route",
            names,
            "address_route",
        )
    )
    counts = _mail_counts(names) if mails else {}
    pop = {n for (n,) in by_names("SELECT pop_user FROM popd WHERE {where}", names, "pop_user")}
    smtpd = {
        n for (n,) in by_names("SELECT smtpd_user FROM smtpd WHERE {where}", names, "smtpd_user")
    }
    rights = _rights(names)
    return [
        UserSummary(
            name=name,
            can_login=authdata is not None,
            alias=alias,
            database=database,
            addresses=links.get(name, 0),
            mails=counts.get(name, 0) if mails else None,
            pop=name in pop,
            smtpd=name in smtpd,
            rights=rights.get(name, ()),
        )
        for name, authdata, alias, database in rows
    ]


def _rights(names: list[str]) -> dict[str, tuple[str, ...]]:
    """name → its permissions in name order, for the named users (by key)."""
    rights: dict[str, list[str]] = {}
    grants = by_names(
        "SELECT api_user, api_permission FROM api_access WHERE {where}", names, "api_user"
    )
    for user, permission in sorted(grants, key=lambda row: row[1]):
        rights.setdefault(user, []).append(permission)
    return {name: tuple(held) for name, held in rights.items()}


def _user_columns() -> pw.Select:
    return User.select(User.name, User.authdata, User.alias, User.database)


def _page_names(
    scope: Scope,
    pattern: str | None,
    search: str | None,
    descending: bool,
    after: str | None,
    wanted: int,
) -> tuple[list[str], bool]:
    """Up to `wanted` names the actor may see, in list order (see list_users), read from the
    name index alone (a scan never reads the table); and whether the search stopped early
    (more may follow even if fewer came back: see common.prefix_first)."""
    query, ranges, everyone = _filtered(User.select(User.name), scope, pattern)
    found = search_filter(User.name, search, short=True)
    rows, early = prefix_first(
        query, User.name, search, found, after=after, descending=descending,
        wanted=wanted, indexed=everyone, scan_ranges=ranges,
    )  # fmt: skip
    return [name for (name,) in rows], early


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise Invalid("sort", f"Users can be sorted by {', '.join(SORTS)}, not {sort!r}.")


def list_users(
    db: Database,
    session: Session,
    pattern: str | None = None,
    *,
    search: str | None = None,
    sort: str = "name",
    descending: bool = False,
    after: str | None = None,
    limit: int | None = None,
    mails: bool = True,
) -> Page[UserSummary]:
    """Users the actor may see, one keyset page at a time: admins all, delegates themselves and
    their managed users, plain users themselves. With `search`, names that start with it come
    first, then the other names that contain it (each run in name order): the prefix run is
    read through the name index, so typing a name's start costs a page, not a table scan.
    Without `mails` the mail counts are None (see mail_totals)."""
    _check_sort(sort)
    size = page_size(limit)
    with db.read():
        scope = load_scope(session)
        names, early = _page_names(scope, pattern, search, descending, after, size + 1)
        more = early or len(names) > size
        # The page's other columns by key.
        summaries = _summaries(_columns(names[:size]), mails=mails)
    return Page(summaries, summaries[-1].name if summaries else None, more)


def mail_totals(db: Database, session: Session, names: list[str]) -> dict[str, int]:
    """The number of mails in the master mailbox of each named user: one pass over the mailbox
    however many names (it has no index on mail_user), so a list shows its page first and
    asks for these after."""
    with db.read():
        scope = load_scope(session)
        for name in names:
            scope.require(scope.may_view_user(name), f"see the mail count of {name}")
        counts = _mail_counts(names)
    return {name: counts.get(name, 0) for name in names}


def _mail_counts(names: list[str]) -> dict[str, int]:
    return dict(
        by_names(
            'SELECT mail_user, COUNT(*) FROM "mailbox" WHERE {where} GROUP BY mail_user',
            names,
            "mail_user",
            scan=True,
        )
    )


def list_names(
    db: Database,
    session: Session,
    pattern: str | None = None,
    *,
    search: str | None = None,
    sort: str = "name",
    descending: bool = False,
    after: str | None = None,
    limit: int | None = None,
) -> Page[UserName]:
    """The page list_users would give (same users, order, filters and cursor), with only the
    names and their rights: for lists that show no counts, which would cost a pass over the
    mailbox (it has no index on mail_user) and four more queries a page."""
    _check_sort(sort)
    size = page_size(limit)
    with db.read():
        scope = load_scope(session)
        names, early = _page_names(scope, pattern, search, descending, after, size + 1)
        more = early or len(names) > size
        names = names[:size]
        rights = _rights(names) if names else {}
    rows = [UserName(name, rights.get(name, ())) for name in names]
    return Page(rows, names[-1] if names else None, more)


def _columns(names: list[str]) -> list[tuple[str, str | None, str | None, str | None]]:
    """The rows of the named users, in the order given."""
    if not names:
        return []
    found = {
        row[0]: row
        for row in by_names(
            "SELECT user_name, user_authdata, user_alias, user_database FROM users WHERE {where}",
            names,
            "user_name",
        )
    }
    return [found[name] for name in names if name in found]


def _filtered(
    query: pw.ModelSelect, scope: Scope, pattern: str | None
) -> tuple[pw.ModelSelect, Ranges | None, bool]:
    """The query narrowed to cmail-admin's LIKE pattern and to what the actor may see; the
    name-index ranges that hold its rows (None: read the index, or a delegate's few names, by
    key); and whether the actor sees every user."""
    like = like_filter(User.name, pattern)
    if like is not None:
        query = query.where(like)
    visible = _visible(scope)
    if visible is not None:
        return query.where(User.name.in_(sorted(visible))), None, False
    ranges = prefix_ranges(literal_prefix(pattern)) if like is not None else None
    return query, ranges, True


class UserLine(NamedTuple):
    """One line of `cmail-admin-user list`: cmail-admin's columns, as it prints them."""

    name: str
    can_login: int  # 1 when user_authdata is not NULL, else 0 (the Auth column)
    alias: str  # '' for none
    addresses: int  # store routes naming this user
    mails: int  # master mailbox only
    database: str  # '' for none


LINES_CHUNK = 20_000  # users per unit of work in user_lines


def user_lines(
    db: Database, session: Session, pattern: str | None = None
) -> Iterator[list[UserLine]]:
    """Every user the actor may see, in name order, as cmail-admin-user lists them, for printing
    the whole table: chunks of LINES_CHUNK users, each one unit of work of three queries (the
    users, then the store-route and master-mail counts over the chunk's name range), so the
    table costs about one pass over each of users, the store routes and mailbox, and no lock is
    held while the caller prints. `pattern` is cmail-admin's LIKE filter."""
    columns = User.select(
        User.name,
        User.authdata.is_null(False),
        pw.fn.COALESCE(User.alias, ""),
        pw.fn.COALESCE(User.database, ""),
    )
    after = None
    while True:
        with db.read():
            scope = load_scope(session)
            query, ranges, _ = _filtered(columns, scope, pattern)
            rows = walk(query, User.name, ranges, after, False, LINES_CHUNK, raw=True)
            if not rows:
                return
            execute = db.pw.execute_sql
            span = (rows[0][0], rows[-1][0])
            links = dict(
                execute(
                    "SELECT address_route, COUNT(*) FROM addresses WHERE address_router = "
                    "'store' AND address_route >= ? AND address_route <= ? GROUP BY address_route",
                    span,
                ).fetchall()
            )
            mails = dict(
                execute(
                    'SELECT mail_user, COUNT(*) FROM "mailbox" '
                    "WHERE mail_user >= ? AND mail_user <= ? GROUP BY mail_user",
                    span,
                ).fetchall()
            )
        get_links, get_mails = links.get, mails.get
        yield [
            UserLine(name, login, alias, get_links(name, 0), get_mails(name, 0), database)
            for name, login, alias, database in rows
        ]
        if len(rows) < LINES_CHUNK:
            return
        after = rows[-1][0]


def _names(query: pw.Select) -> tuple[str, ...]:
    return tuple(name for (name,) in query.tuples())


def _store_routes(name: str) -> tuple[StoreRoute, ...]:
    query = (
        Address.select(Address.order, Address.expression)
        .where(Address.router == "store", Address.route == name)
        .order_by(Address.order.desc())
    )
    return tuple(StoreRoute(order, expression) for order, expression in query.tuples())


def _aliased_by(name: str) -> tuple[str, ...]:
    """Users whose alias is `name`: a pass over the whole table (user_alias has no index). Not
    ORDER BY user_name, which would walk the name index and look up every row (~3/2 the time)."""
    return tuple(sorted(_names(User.select(User.name).where(User.alias == name))))


def _managers(name: str) -> tuple[str, ...]:
    return _names(
        DelegatedUser.select(DelegatedUser.user)
        .where(DelegatedUser.delegate == name)
        .order_by(DelegatedUser.user)
    )


def _managed(name: str) -> tuple[str, ...]:
    return _names(
        DelegatedUser.select(DelegatedUser.delegate)
        .where(DelegatedUser.user == name)
        .order_by(DelegatedUser.delegate)
    )


def _expressions(name: str) -> tuple[str, ...]:
    return _names(
        DelegatedExpression.select(DelegatedExpression.expression)
        .where(DelegatedExpression.user == name)
        .order_by(DelegatedExpression.expression)
    )


def _shared_with(scope: Scope, name: str, authdata: str | None) -> tuple[str, ...]:
    """The other users with the very same authdata that the actor may see. Only an admin's
    answer needs a pass over the whole table (user_authdata has no index): anyone else may see
    a few users, whose rows are read by key, and a plain user nobody else, so nothing is read."""
    if not authdata:
        return ()
    query = User.select(User.name).where(User.authdata == authdata, User.name != name)
    visible = _visible(scope)
    if visible is not None:
        others = sorted(visible - {name})
        if not others:
            return ()
        query = query.where(User.name.in_(others))
    # Sorted here rather than by ORDER BY: see _aliased_by.
    return tuple(other for other in sorted(_names(query)) if scope.may_view_user(other))


def _links(scope: Scope, name: str, authdata: str | None) -> UserLinks:
    if authdata and _visible(scope) is None:
        # An admin's two questions both scan the table: one pass answers both.
        rows = (
            User.select(User.name, User.alias, User.authdata)
            .where((User.alias == name) | (User.authdata == authdata))
            .tuples()
        )
        aliased, shared = [], []
        for other, alias, other_authdata in rows:
            if alias == name:
                aliased.append(other)
            if other_authdata == authdata and other != name:
                shared.append(other)
        visible = [other for other in sorted(shared) if scope.may_view_user(other)]
        return UserLinks(name, tuple(visible), tuple(sorted(aliased)))
    return UserLinks(name, _shared_with(scope, name, authdata), _aliased_by(name))


def get_user(db: Database, session: Session, name: str, *, whole_table: bool = True) -> UserDetail:
    """Everything about one user the actor may see. `whole_table=False` leaves out what needs
    a pass over a whole table (shared_with, aliased_by: None; mails: None), so it costs a few
    keyed reads at any size; user_links and mailbox.mail_counts read those on their own."""
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_view_user(name), f"see the user {name}")
        row = _user_columns().where(User.name == name).tuples().first()
        if row is None:
            raise NotFound(f"No user named {name!r} exists.")
        summary = _summaries([row], mails=whole_table)[0]
        authdata = row[1]
        state = passwords.classify(authdata)
        links = _links(scope, name, authdata) if whole_table else None
        smtpd = Smtpd.select(Smtpd.router, Smtpd.route).where(Smtpd.user == name).tuples().first()
        pop = Popd.select(Popd.lock).where(Popd.user == name).tuples().first()
        detail = UserDetail(
            **summary.__dict__,
            login=state.status,
            login_problem=state.reason if state.status == "malformed" else None,
            shared_with=links.shared_with if links else None,
            managers=_managers(name),
            managed=_managed(name),
            expressions=_expressions(name),
            aliased_by=links.aliased_by if links else None,
            smtpd_router=smtpd[0] if smtpd else None,
            smtpd_route=smtpd[1] if smtpd else None,
            # cmail treats anything but the integer 0 as locked.
            pop_locked=(pop[0] != 0) if pop else None,
            store_routes=_store_routes(name),
        )
    return detail


def user_links(db: Database, session: Session, name: str) -> UserLinks:
    """What get_user(whole_table=False) leaves out of the users table: who shares the user's
    password entry (as far as the actor may see) and who is an alias of it. Same checks as
    get_user. At a million users an admin's answer reads the table once (~0.06 s); a plain
    user's only for its aliases, since it may see no other user's password entry."""
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_view_user(name), f"see the user {name}")
        row = User.select(User.authdata).where(User.name == name).tuples().first()
        if row is None:
            raise NotFound(f"No user named {name!r} exists.")
        return _links(scope, name, row[0])


# --- creating ---------------------------------------------------------------------------------


def _authdata(password: str | None) -> str | None:
    """The stored value for a new password: NULL (no login) for an empty one, never ''."""
    if password is None or password == "":
        return None
    if not isinstance(password, str):
        raise Invalid("password", "The password must be text.")
    problem = passwords.password_problem(password)
    if problem:
        raise Invalid("password", f"The password is refused: {problem}.")
    return passwords.hash_password(password)


def _case_twins(name: str, ignore: str | None = None) -> list[str]:
    """Warn about names that differ only in case: LIKE filters show them together."""
    twins = case_twins(name.lower())
    others = [t for t in twins if t not in (name, ignore)]
    if not others:
        return []
    return [f"{name} differs from the existing user {', '.join(others)} only in letter case."]


def add_user(
    db: Database,
    session: Session,
    name: str,
    password: str | None = None,
    *,
    rights: tuple[str, ...] | list[str] = (),
    alias: str | None = None,
) -> Change:
    """Create a user in one transaction. A delegate's new user is delegated to it; only admins
    grant rights or set an alias on the way."""
    name = validation.user_name(name)
    authdata = _authdata(password)
    wanted = list(dict.fromkeys(validation.permission(r) for r in rights))
    alias = None if alias in (None, "", name) else validation.user_name(alias, "alias")
    warnings = validation.user_name_warnings(name)
    with db.write(target=name):
        scope = load_scope(session)
        scope.require(scope.may_create_users(), "create users")
        if wanted:
            scope.require_admin("grant rights to a new user")
        if alias is not None:
            scope.require_admin("give a new user an alias")
        if user_exists(name):
            raise Conflict(f"A user named {name!r} already exists; nothing was changed.")
        warnings += _case_twins(name)
        if alias is not None:
            target = require_user(alias, "alias target")
            if target.alias_id is not None:
                warnings.append(_alias_of_alias(name, alias, target.alias_id))
        User.insert(name=name, authdata=authdata, database=None, alias=alias).execute()
        if wanted:
            Permission.insert_many([{"user": name, "permission": p} for p in wanted]).execute()
        if scope.role is Role.DELEGATE:
            DelegatedUser.insert(user=scope.user, delegate=name).execute()
        manager = scope.user if scope.role is Role.DELEGATE else None
        audit.note(
            after={"login": _login(authdata), "rights": wanted, "alias": alias, "manager": manager}
        )
    message = f"User {name} added" + ("." if authdata else "; login is disabled (no password).")
    data = {"user": name, "rights": wanted, "alias": alias}
    if scope.role is Role.DELEGATE:
        message += f" {scope.user} manages it."
        data["manager"] = scope.user
    return Change(message, tuple(warnings), data)


# --- deleting ---------------------------------------------------------------------------------


def _preview(name: str) -> DeletePreview:
    user = require_user(name)
    mails = Mail.select().where(Mail.user == name).count()
    notes = []
    if user.database:
        notes.append(USERDB_NOTE.format(name=name, path=user.database))
    return DeletePreview(
        name=name,
        mails=mails,
        smtpd=Smtpd.select().where(Smtpd.user == name).exists(),
        pop=Popd.select().where(Popd.user == name).exists(),
        rights=_names(
            Permission.select(Permission.permission)
            .where(Permission.user == name)
            .order_by(Permission.permission)
        ),
        manages=_managed(name),
        managed_by=_managers(name),
        expressions=_expressions(name),
        aliased_by=_aliased_by(name),
        dangling_routes=_store_routes(name),
        database=user.database,
        notes=tuple(notes),
    )


def delete_preview(db: Database, session: Session, name: str) -> DeletePreview:
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_manage_user(name), f"delete {name}")
        return _preview(name)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _cascade_parts(preview: DeletePreview) -> list[str]:
    parts = []
    if preview.mails:
        parts.append(_plural(preview.mails, "mail") + " in the master mailbox")
    if preview.smtpd:
        parts.append("its smtpd entry")
    if preview.pop:
        parts.append("its POP entry")
    if preview.rights:
        parts.append("its rights (" + ", ".join(preview.rights) + ")")
    if preview.manages:
        parts.append("its delegation of " + ", ".join(preview.manages))
    if preview.managed_by:
        parts.append("its delegation to " + ", ".join(preview.managed_by))
    if preview.expressions:
        parts.append("its delegated patterns " + ", ".join(preview.expressions))
    return parts


def _route_list(routes: tuple[StoreRoute, ...]) -> str:
    return ", ".join(f"{r.order} {r.expression}" for r in routes)


def delete_summary(
    preview: DeletePreview, *, done: bool = True, store_rules: SettledRules | None = None
) -> tuple[str, tuple[str, ...]]:
    """The sentence and warnings that describe a deletion, done or (for a preview) to come;
    `store_rules`: what became of the user's store rules (None: they were left dangling)."""
    parts = _cascade_parts(preview)
    if done:
        message = f"User {preview.name} deleted" + (
            (", and with it: " + "; ".join(parts) + ".") if parts else "."
        )
    else:
        message = f"Deleting user {preview.name} would also delete: " + (
            ("; ".join(parts) + ".") if parts else "nothing else."
        )
    if preview.aliased_by:
        verb = "No longer" if done else "Would no longer be"
        message += f" {verb} an alias of {preview.name}: {', '.join(preview.aliased_by)}."
    warnings = list(preview.notes)
    routes = _route_list(preview.dangling_routes)
    if preview.dangling_routes and store_rules is not None:
        if store_rules.to is None:
            message += f" Its store rules {'were' if done else 'would be'} deleted too: {routes}."
        else:
            stores = "now store" if done else "would store"
            message += f" Its store rules {stores} to {store_rules.to}: {routes}."
    elif preview.dangling_routes:
        state = "now dangle" if done else "would dangle"
        warnings.append(
            f"These store routes name {preview.name} and {state} (mail to them gets 554): {routes}."
        )
    return message, tuple(warnings)


@dataclass(frozen=True)
class SettledRules:
    """What a deletion does with the user's store rules: delete them (`to` None), or make them
    store into the user `to`. Without one they are left dangling, as cmail-admin-user does."""

    to: str | None = None


def _settled(store_rules: SettledRules | None, routes: tuple[StoreRoute, ...]) -> dict | None:
    """What became of the store rules, for the audit entry and the change's data."""
    if store_rules is None or not routes:
        return None
    orders = [route.order for route in routes]
    if store_rules.to is None:
        return {"deleted": orders}
    return {"moved": orders, "to": store_rules.to}


def delete_user(
    db: Database, session: Session, name: str, *, store_rules: SettledRules | None = None
) -> Change:
    """Delete a user; the database cascades its rows (§1.3). Store rules naming it are not
    cascaded: left as they are (reported), or with `store_rules` deleted or moved to another
    user in the same unit, each one only if the actor may change that rule."""
    with db.write(target=name):
        scope = load_scope(session)
        scope.require(scope.may_manage_user(name), f"delete {name}")
        scope.require(not scope.is_self(name), "delete your own account")
        preview = _preview(name)
        require_other_admin(name, f"deleting {name}")
        warnings: list[str] = []
        settled = _settled(store_rules, preview.dangling_routes)
        if store_rules is not None:
            warnings = addresses.settle_store_rules(scope, name, store_rules.to)
        audit.note(
            before={"login": _login(require_user(name).authdata), **as_dict(preview)},
            after={"store_rules": settled} if settled else None,
        )
        User.delete().where(User.name == name).execute()
    if store_rules is not None and preview.dangling_routes:
        rule_index.rules_changed(db)
    message, notes = delete_summary(preview, store_rules=store_rules)
    data = {"user": name, "cascaded": preview, "store_rules": settled}
    return Change(message, (*notes, *warnings), data)


# --- passwords --------------------------------------------------------------------------------


def set_password(
    db: Database,
    session: Session,
    name: str,
    password: str | None,
    *,
    current: str | None = None,
) -> Change:
    """Store a new password (empty revokes the login, as cmail-admin-user does). A logged-in
    user changing its own password must give the current one; its session then stays valid
    while its other sessions end."""
    authdata = _authdata(password)
    with db.write(target=name):
        scope = load_scope(session)
        scope.require(scope.may_set_password(name), f"set the password of {name}")
        target = require_user(name)
        own = scope.is_self(name)
        if own:
            if authdata is None:
                raise Denied("You may not revoke your own login; ask an admin.")
            if current is None or not passwords.verify(target.authdata, current):
                raise Denied(
                    "Changing your own password needs your current password, and the one "
                    "given is wrong or missing; nothing was changed."
                )
        if authdata is None:
            require_other_admin(name, f"revoking the login of {name}")
        shared = _shared_with(scope, name, target.authdata)
        User.update(authdata=authdata).where(User.name == name).execute()
        changed = "new password" if authdata else "no password"
        audit.note(
            before={"login": _login(target.authdata)},
            after={"login": _login(authdata), "password": changed},
        )
        new_stamp = current_stamp(name) if own else None
    if new_stamp is not None:
        session.stamp = new_stamp
    if authdata is None:
        return Change(f"The login of {name} is disabled (no password).", (), {"user": name})
    warnings = ()
    if shared:
        warnings = (f"{name} no longer shares its password entry with {', '.join(shared)}.",)
    return Change(f"Password of {name} changed.", warnings, {"user": name})


def revoke_login(db: Database, session: Session, name: str) -> Change:
    """Disable a user's login (authdata NULL); its mail and rows stay."""
    with db.write(target=name):
        scope = load_scope(session)
        scope.require(scope.may_manage_user(name), f"revoke the login of {name}")
        scope.require(not scope.is_self(name), "revoke your own login")
        target = require_user(name)
        require_other_admin(name, f"revoking the login of {name}")
        User.update(authdata=None).where(User.name == name).execute()
        audit.note(before={"login": _login(target.authdata)}, after={"login": "disabled"})
    if target.authdata is None:
        return Change(f"{name} already had no login; it stays disabled.", (), {"user": name})
    return Change(f"The login of {name} is disabled.", (), {"user": name})


# --- aliases ----------------------------------------------------------------------------------


def _alias_of_alias(name: str, target: str, further: str) -> str:
    return (
        f"{target} is itself an alias of {further}: logins as {name} act as {target}, "
        f"not as {further} (cmail resolves one level only)."
    )


def _alias_cycle(name: str, target: str) -> list[str] | None:
    """The chain target → … → name if following aliases from target returns to name."""
    chain = [name, target]
    current = target
    seen = {name, target}
    while True:
        row = User.select(User.alias).where(User.name == current).tuples().first()
        following = row[0] if row else None
        if following is None:
            return None
        chain.append(following)
        if following == name:
            return chain
        if following in seen:
            return None  # a cycle that does not include name
        seen.add(following)
        current = following


def _alias_warnings(name: str, target: User) -> list[str]:
    warnings = []
    if target.alias_id is not None:
        warnings.append(_alias_of_alias(name, target.name, target.alias_id))
    cycle = _alias_cycle(name, target.name)
    if cycle is not None:
        warnings.append(
            "The aliases now form a cycle ("
            + " → ".join(cycle)
            + "); cmail resolves one level, so it does not loop, but it is confusing."
        )
    for other in _aliased_by(name):
        if other != target.name:
            warnings.append(
                f"{other} is an alias of {name}: its logins act as {name}, not as {target.name}."
            )
    routes = _store_routes(name)
    if routes:
        warnings.append(
            f"Store routes deliver to {name} ({_route_list(routes)}); cmail stores that mail for "
            f"{name} itself, and nobody can read it by POP while {name} is an alias."
        )
    own = [label for label, model in (("smtpd", Smtpd), ("POP", Popd)) if _has_row(model, name)]
    if own:
        warnings.append(
            f"{name}'s own {' and '.join(own)} entry is ignored while it is an alias; "
            f"{target.name}'s applies."
        )
    return warnings


def _has_row(model: type[Smtpd] | type[Popd], name: str) -> bool:
    return model.select().where(model.user == name).exists()


def set_alias(db: Database, session: Session, name: str, target: str | None) -> Change:
    """Make `name` an alias of `target`: its logins then act as `target` (§3.7). No target, or
    the user itself, clears the alias, as `cmail-admin-user alias U U` does."""
    clear = target is None or target == "" or target == name
    with db.write(target=name):
        scope = load_scope(session)
        scope.require_admin("change aliases")
        user = require_user(name)
        if clear:
            User.update(alias=None).where(User.name == name).execute()
        else:
            aimed = require_user(target, "alias target")
            warnings = _alias_warnings(name, aimed)
            User.update(alias=target).where(User.name == name).execute()
        audit.note(before={"alias": user.alias_id}, after={"alias": None if clear else target})
    if clear:
        if user.alias_id is None:
            return Change(f"{name} had no alias; nothing changed.", (), {"user": name})
        return Change(
            f"{name} is no longer an alias of {user.alias_id}.", (), {"user": name, "alias": None}
        )
    return Change(
        f"{name} is now an alias of {target}: its logins act as {target}.",
        tuple(warnings),
        {"user": name, "alias": target},
    )


# --- user databases ---------------------------------------------------------------------------


def _require_usable(path: str, master: str) -> None:
    """Refuse what cmail cannot use as a user database (reference §3.6): a relative path, and
    every reason core.userdb finds in the file or its mailbox table."""
    if not os.path.isabs(path):
        raise Invalid(
            "user database",
            f"The user database {path} must be an absolute path (cmail-smtpd opens it from its "
            "own working directory).",
        )
    problem = userdb.problem(path, master)
    if problem is not None:
        tail = "; cmail-smtpd would refuse to start with it" if problem.stops_smtpd else ""
        raise Invalid("user database", f"The user database {path} {problem}{tail}.")


def _userdb_warnings(name: str, path: str, old: str | None) -> list[str]:
    warnings = []
    if not (os.access(path, os.W_OK) and os.access(os.path.dirname(path), os.W_OK)):
        warnings.append(
            f"{path} or its directory is not writable by you; make sure the user the cmail "
            "daemons run as can write both, or mail falls back to the master mailbox."
        )
    where = f"the master mailbox or {old}" if old else "the master mailbox"
    warnings.append(f"Mail already stored for {name} in {where} is not moved.")
    return warnings


def set_user_database(db: Database, session: Session, name: str, path: str | None) -> Change:
    """Point a user's future mail at a user database file, or clear it (None or '')."""
    if path is not None and path != "":
        path = validation.text("user database", path, limit=validation.MAX_PATH)
    path = path or None
    with db.write(target=name):
        scope = load_scope(session)
        scope.require_admin("change user databases")
        user = require_user(name)
        warnings: list[str] = []
        if path is not None:
            _require_usable(path, db.path)
            warnings = _userdb_warnings(name, path, user.database)
        elif user.database is not None:
            warnings = [
                f"Mail already stored for {name} in {user.database} is not moved; "
                "new mail goes to the master mailbox."
            ]
        User.update(database=path).where(User.name == name).execute()
        audit.note(before={"database": user.database}, after={"database": path})
    if path is None:
        if user.database is None:
            return Change(f"{name} had no user database; nothing changed.", (), {"user": name})
        return Change(
            f"{name} has no user database now; its mail goes to the master mailbox.",
            tuple(warnings),
            {"user": name, "database": None},
        )
    return Change(
        f"{name}'s mail is now stored in {path}.",
        tuple(warnings),
        {"user": name, "database": path},
    )


# --- renaming ---------------------------------------------------------------------------------


def rename_user(db: Database, session: Session, old: str, new: str) -> Change:
    """Rename a user in one transaction: foreign keys cascade to its rows, and store routes,
    which are not foreign keys, are retargeted here."""
    new = validation.user_name(new, "new user name")
    if new == old:
        raise Invalid("new user name", f"The new user name must differ from the old one ({old}).")
    warnings = validation.user_name_warnings(new)
    with db.write(target=f"{old} → {new}"):
        scope = load_scope(session)
        scope.require_admin("rename users")
        user = require_user(old)
        if user_exists(new):
            raise Conflict(f"A user named {new!r} already exists; nothing was changed.")
        warnings += _case_twins(new, ignore=old)
        User.update(name=new).where(User.name == old).execute()
        routes = (
            Address.update(route=new)
            .where(Address.router == "store", Address.route == old)
            .execute()
        )
        audit.note(before={"name": old}, after={"name": new, "store_routes_retargeted": routes})
    if routes:
        rule_index.rules_changed(db)
    if scope.is_self(old):
        session.user = new  # same password and rights, so the session's stamp still holds
    if user.database:
        warnings.append(
            f"Mail in {new}'s user database ({user.database}) keeps mail_user {old}; "
            "cmail will not show it to the renamed user."
        )
    message = f"User {old} renamed to {new}"
    message += f"; {_plural(routes, 'store route')} retargeted." if routes else "."
    return Change(message, tuple(warnings), {"user": new, "old": old, "routes": routes})
