"""API rights and delegations: `api_access`, `api_user_delegates`, `api_address_delegates`
(reference §1.2, §6.2–6.3, §6.7, §7.6).

Only admins change rights or delegations. Unlike the PHP API, removing a permission works (B-U4),
`revoke <user>` without names removes all of them (the C tool's bug), a delegate's rows are its own
(B-A1), and the last admin who can log in cannot be removed (B-U14).
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

from core import audit, passwords, patterns, validation
from core.access import Role, Scope, Session, load_scope, stamp
from core.db import Database
from core.errors import Conflict, Invalid, NotFound
from core.models import DelegatedExpression, DelegatedUser, Permission, User
from core.records import Change
from core.services.common import like_filter, require_user

KINDS = ("user", "address")


@dataclass(frozen=True)
class Grant:
    """One `api_access` row."""

    user: str
    permission: str


@dataclass(frozen=True)
class UserRights:
    """One user's permissions and what it manages, as far as the actor may see them."""

    user: str
    permissions: tuple[str, ...]  # in name order
    managed: tuple[str, ...]  # users delegated to it, in name order
    expressions: tuple[str, ...]  # address patterns delegated to it, in order


@dataclass(frozen=True)
class Delegation:
    """One delegation row: `manager` may administer `target`, a user (kind "user") or the
    addresses inside a LIKE pattern (kind "address")."""

    kind: str
    manager: str
    target: str


# --- shared guards (also used by the users service) -------------------------------------------


def usable_admins() -> set[str]:
    """Holders of `admin` whose stored password can verify: the accounts that can still log in
    and administer cmail through the console or the API."""
    rows = (
        Permission.select(Permission.user, User.authdata)
        .join(User, on=(Permission.user == User.name))
        .where(Permission.permission == "admin")
        .tuples()
    )
    return {name for name, authdata in rows if passwords.classify(authdata).status == "ok"}


def require_other_admin(name: str, action: str) -> None:
    """Refuse an action that would leave no admin able to log in (B-U14)."""
    admins = usable_admins()
    if name in admins and len(admins) == 1:
        raise Conflict(
            f"{name} is the last admin who can log in, so {action} would leave nobody to "
            "administer cmail; grant admin to another user first. Nothing was changed."
        )


def current_stamp(name: str) -> str:
    """The stamp a session of `name` needs after this unit's own changes (read inside it)."""
    row = User.select(User.authdata).where(User.name == name).first()
    return stamp(row.authdata if row is not None else None, permissions_of(name))


def permissions_of(name: str) -> frozenset[str]:
    return frozenset(
        p
        for (p,) in Permission.select(Permission.permission).where(Permission.user == name).tuples()
    )


def _visible_users(scope: Scope) -> set[str] | None:
    """Whose rights the actor may read: everyone for admins, else self (and managed users)."""
    if scope.is_admin:
        return None
    names = {scope.user} if scope.user is not None else set()
    if scope.role is Role.DELEGATE:
        names |= scope.managed
    return names


# --- permissions ------------------------------------------------------------------------------


def list_permissions(
    db: Database,
    session: Session,
    user_pattern: str | None = None,
    permission_pattern: str | None = None,
) -> list[Grant]:
    """`api_access` rows the actor may see, by user then permission (cmail-admin list/rlist)."""
    with db.read():
        scope = load_scope(session)
        query = Permission.select(Permission.user, Permission.permission).order_by(
            Permission.user, Permission.permission
        )
        for condition in (
            like_filter(Permission.user, user_pattern),
            like_filter(Permission.permission, permission_pattern),
        ):
            if condition is not None:
                query = query.where(condition)
        visible = _permissions_visible(scope)
        if visible is not None:
            query = query.where(visible)
        return [Grant(user, permission) for user, permission in query.tuples()]


def _permissions_visible(scope: Scope) -> pw.Expression | None:
    """The api_access rows the actor may read (None: all)."""
    visible = _visible_users(scope)
    return None if visible is None else Permission.user.in_(sorted(visible))


def user_rights(db: Database, session: Session, user: str) -> UserRights:
    """Exactly what list_permissions and list_delegations show of `user`'s own rows (its
    permissions, the users and patterns delegated to it), under the very same visibility
    conditions, in one unit: read by key through the UNIQUE (api_user, …) indexes, which the
    lists' LIKE filters cannot use. A user the actor may not see, or that does not exist, has
    nothing to show, as in the lists."""
    if not isinstance(user, str):
        raise Invalid("user", "The user must be text.")
    with db.read():
        scope = load_scope(session)
        permissions = Permission.select(Permission.permission).where(Permission.user == user)
        managed = DelegatedUser.select(DelegatedUser.delegate).where(DelegatedUser.user == user)
        expressions = DelegatedExpression.select(DelegatedExpression.expression).where(
            DelegatedExpression.user == user
        )
        return UserRights(
            user=user,
            permissions=_column(permissions, _permissions_visible(scope), Permission.permission),
            managed=_column(managed, _user_delegations_visible(scope), DelegatedUser.delegate),
            expressions=_column(
                expressions, _address_delegations_visible(scope), DelegatedExpression.expression
            ),
        )


def _column(query: pw.ModelSelect, visible: pw.Expression | None, order: pw.Field) -> tuple:
    if visible is not None:
        query = query.where(visible)
    return tuple(value for (value,) in query.order_by(order).tuples())


def _grant_warnings(user: User, permission: str, held: frozenset[str]) -> list[str]:
    warnings = []
    state = passwords.classify(user.authdata)
    if state.status != "ok":
        warnings.append(
            f"{user.name} cannot log in ({state.reason}); the {permission} right has no effect "
            "until it has a working password."
        )
    if permission == "delegate" and "admin" in held:
        warnings.append(f"{user.name} is already admin, which includes all a delegate may do.")
    if permission == "delegate" and not _manages_anything(user.name):
        warnings.append(
            f"{user.name} has no delegated users or expressions yet; the delegate right lets it "
            "act only on those."
        )
    return warnings


def _manages_anything(name: str) -> bool:
    return (
        DelegatedUser.select().where(DelegatedUser.user == name).exists()
        or DelegatedExpression.select().where(DelegatedExpression.user == name).exists()
    )


def grant(db: Database, session: Session, user: str, permission: str) -> Change:
    """Give `user` the `admin` or `delegate` permission."""
    permission = validation.permission(permission)
    with db.write(target=user):
        scope = load_scope(session)
        scope.require_admin(f"grant the {permission} permission")
        target = require_user(user)
        held = permissions_of(user)
        if permission in held:
            raise Conflict(
                f"{user} already holds the {permission} permission; nothing was changed."
            )
        warnings = _grant_warnings(target, permission, held)
        Permission.insert(user=user, permission=permission).execute()
        audit.note(
            before={"permissions": sorted(held)},
            after={"permissions": sorted(held | {permission})},
        )
        new_stamp = current_stamp(user) if scope.is_self(user) else None
    _keep_session(session, new_stamp)
    return Change(
        f"{user} now holds the {permission} permission.",
        tuple(warnings),
        {"user": user, "permission": permission},
    )


def _keep_session(session: Session, new_stamp: str | None) -> None:
    """An actor who changed its own rights keeps its session; its other sessions end."""
    if new_stamp is not None:
        session.stamp = new_stamp


def _names(values: list[str], field: str) -> list[str]:
    """Permission names as given, each checked as text, duplicates dropped, order kept."""
    return list(dict.fromkeys(validation.text(field, value) for value in values))


def revoke(db: Database, session: Session, user: str, permissions: list[str] | None) -> Change:
    """Remove the named permissions, or all of them when `permissions` is None. All or nothing:
    a name the user does not hold refuses the whole call. Names outside admin/delegate are
    accepted here so that stray rows can be cleaned up."""
    names = None if permissions is None else _names(permissions, "permission")
    if names == []:
        raise Invalid("permission", "Name at least one permission to revoke, or none for all.")
    with db.write(target=user):
        scope = load_scope(session)
        scope.require_admin("revoke permissions")
        require_user(user)
        held = permissions_of(user)
        if names is None:
            if not held:
                raise NotFound(f"{user} holds no permissions; nothing was changed.")
            names = sorted(held)
        missing = [n for n in names if n not in held]
        if missing:
            raise NotFound(
                f"{user} does not hold the permission {', '.join(missing)}; nothing was changed."
            )
        if "admin" in names:
            require_other_admin(user, f"revoking admin from {user}")
        Permission.delete().where(
            Permission.user == user, Permission.permission.in_(names)
        ).execute()
        audit.note(
            before={"permissions": sorted(held)},
            after={"permissions": sorted(held - set(names))},
        )
        new_stamp = current_stamp(user) if scope.is_self(user) else None
    _keep_session(session, new_stamp)
    return Change(f"Revoked {', '.join(names)} from {user}.", (), {"user": user, "revoked": names})


def set_permissions(db: Database, session: Session, user: str, permissions: list[str]) -> Change:
    """Make `user`'s permissions exactly `permissions` (an empty list removes all)."""
    wanted = list(dict.fromkeys(validation.permission(p) for p in permissions))
    with db.write(target=user):
        scope = load_scope(session)
        scope.require_admin("set permissions")
        target = require_user(user)
        held = permissions_of(user)
        removed = sorted(held - set(wanted))
        added = [p for p in wanted if p not in held]
        if "admin" in removed:
            require_other_admin(user, f"removing admin from {user}")
        warnings = []
        for permission in added:
            warnings += _grant_warnings(target, permission, frozenset(wanted))
        if removed:
            Permission.delete().where(
                Permission.user == user, Permission.permission.in_(removed)
            ).execute()
        if added:
            Permission.insert_many([{"user": user, "permission": p} for p in added]).execute()
        audit.note(before={"permissions": sorted(held)}, after={"permissions": sorted(wanted)})
        new_stamp = current_stamp(user) if scope.is_self(user) and (added or removed) else None
    _keep_session(session, new_stamp)
    shown = ", ".join(sorted(wanted)) or "no permissions"
    if not added and not removed:
        return Change(f"{user} already holds exactly {shown}; nothing was changed.")
    return Change(
        f"{user} now holds {shown}.",
        tuple(warnings),
        {"user": user, "permissions": sorted(wanted), "added": added, "removed": removed},
    )


# --- delegations ------------------------------------------------------------------------------


def _kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise Invalid("kind", f"The delegation kind must be user or address, not {kind!r}.")
    return kind


def list_delegations(
    db: Database, session: Session, user_pattern: str | None = None, kind: str | None = None
) -> list[Delegation]:
    """Delegation rows, user delegations first, filtered by the manager like cmail-admin.
    Admins see all; anyone else sees the rows naming them (whom they manage, who manages them)."""
    kind = _kind(kind)
    with db.read():
        scope = load_scope(session)
        rows: list[Delegation] = []
        if kind in (None, "user"):
            rows += _user_delegations(scope, user_pattern)
        if kind in (None, "address"):
            rows += _address_delegations(scope, user_pattern)
    return rows


def _user_delegations(scope: Scope, user_pattern: str | None) -> list[Delegation]:
    query = DelegatedUser.select(DelegatedUser.user, DelegatedUser.delegate).order_by(
        DelegatedUser.user, DelegatedUser.delegate
    )
    for condition in (
        like_filter(DelegatedUser.user, user_pattern),
        _user_delegations_visible(scope),
    ):
        if condition is not None:
            query = query.where(condition)
    return [Delegation("user", manager, managed) for manager, managed in query.tuples()]


def _user_delegations_visible(scope: Scope) -> pw.Expression | None:
    """The api_user_delegates rows the actor may read (None: all): those naming it."""
    if scope.is_admin:
        return None
    return (DelegatedUser.user == scope.user) | (DelegatedUser.delegate == scope.user)


def _address_delegations(scope: Scope, user_pattern: str | None) -> list[Delegation]:
    query = DelegatedExpression.select(
        DelegatedExpression.user, DelegatedExpression.expression
    ).order_by(DelegatedExpression.user, DelegatedExpression.expression)
    for condition in (
        like_filter(DelegatedExpression.user, user_pattern),
        _address_delegations_visible(scope),
    ):
        if condition is not None:
            query = query.where(condition)
    return [Delegation("address", manager, expr) for manager, expr in query.tuples()]


def _address_delegations_visible(scope: Scope) -> pw.Expression | None:
    """The api_address_delegates rows the actor may read (None: all): its own."""
    if scope.is_admin:
        return None
    return DelegatedExpression.user == scope.user


def _manager_warnings(manager: str, held: frozenset[str]) -> list[str]:
    if "admin" in held:
        return [f"{manager} is admin and may already act on everything; the delegation is unused."]
    if "delegate" not in held:
        return [
            f"{manager} does not hold the delegate permission, so this delegation has no effect "
            "until it does."
        ]
    return []


def add_delegated_user(db: Database, session: Session, manager: str, managed: str) -> Change:
    """Let `manager` administer `managed` (`api_user_delegates(manager, managed)`)."""
    if manager == managed:
        raise Invalid(
            "managed user",
            f"The managed user must differ from the manager: {manager} cannot be delegated "
            "to itself.",
        )
    with db.write(target=f"{manager} → {managed}"):
        scope = load_scope(session)
        scope.require_admin("change delegations")
        require_user(manager, "manager")
        require_user(managed, "managed user")
        exists = (
            DelegatedUser.select()
            .where(DelegatedUser.user == manager, DelegatedUser.delegate == managed)
            .exists()
        )
        if exists:
            raise Conflict(f"{manager} already manages {managed}; nothing was changed.")
        warnings = _manager_warnings(manager, permissions_of(manager))
        managed_rights = permissions_of(managed)
        if managed_rights:
            warnings.append(
                f"{managed} holds rights of its own ({', '.join(sorted(managed_rights))}); "
                f"{manager} may see it but not change it."
            )
        DelegatedUser.insert(user=manager, delegate=managed).execute()
        audit.note(after={"manager": manager, "managed": managed})
    return Change(
        f"{manager} now manages {managed}.",
        tuple(warnings),
        {"manager": manager, "managed": managed},
    )


def remove_delegated_user(db: Database, session: Session, manager: str, managed: str) -> Change:
    with db.write(target=f"{manager} → {managed}"):
        scope = load_scope(session)
        scope.require_admin("change delegations")
        deleted = (
            DelegatedUser.delete()
            .where(DelegatedUser.user == manager, DelegatedUser.delegate == managed)
            .execute()
        )
        if deleted == 0:
            raise NotFound(f"{manager} does not manage {managed}; nothing was changed.")
        audit.note(before={"manager": manager, "managed": managed})
    return Change(f"{manager} no longer manages {managed}.")


def _unanchored_example(pattern: str) -> str | None:
    """An address the pattern admits beyond a domain boundary, or None.

    `%` followed by a domain letter (`%example.com`) also matches `evil-example.com`; a pattern
    with no `@` that ends in `%` (`postmaster%`) matches that name in every domain."""
    for index, char in enumerate(pattern):
        if char != "%" or "@" in pattern[index + 1 :]:
            continue
        rest = pattern[index + 1 :]
        if rest and rest[0] not in "@.%":
            return _literal(pattern[:index]) + "evil-" + _literal(rest)
        if rest == "" and "@" not in pattern:
            return _literal(pattern[:index]) + "@evil.example"
    return None


def _literal(pattern: str) -> str:
    return pattern.replace("%", "").replace("_", "x")


def _expression_warnings(manager: str, expression: str) -> list[str]:
    warnings = []
    if "_" in expression:
        warnings.append(
            f"The pattern {expression} contains _, which LIKE reads as any one character, so it "
            f"also matches e.g. {_literal(expression)}; cmail's PHP API lets a delegate widen "
            "such a pattern with its own wildcards."
        )
    example = _unanchored_example(expression)
    if example is not None:
        warnings.append(
            f"The pattern {expression} is not anchored at an @ or a dot: it also matches {example}."
        )
    for (existing,) in (
        DelegatedExpression.select(DelegatedExpression.expression)
        .where(DelegatedExpression.user == manager)
        .tuples()
    ):
        if patterns.contains(existing, expression):
            warnings.append(f"{manager}'s pattern {existing} already covers {expression}.")
            break
    return warnings


def add_delegated_expression(
    db: Database, session: Session, manager: str, expression: str
) -> Change:
    """Let `manager` administer the addresses inside the LIKE pattern `expression`."""
    expression = validation.expression(expression)
    with db.write(target=f"{manager} → {expression}"):
        scope = load_scope(session)
        scope.require_admin("change delegations")
        require_user(manager, "manager")
        exists = (
            DelegatedExpression.select()
            .where(
                DelegatedExpression.user == manager,
                DelegatedExpression.expression == expression,
            )
            .exists()
        )
        if exists:
            raise Conflict(f"{manager} already has the pattern {expression}; nothing was changed.")
        warnings = _expression_warnings(manager, expression)
        warnings += _manager_warnings(manager, permissions_of(manager))
        DelegatedExpression.insert(user=manager, expression=expression).execute()
        audit.note(after={"manager": manager, "expression": expression})
    return Change(
        f"{manager} now manages the addresses matching {expression}.",
        tuple(warnings),
        {"manager": manager, "expression": expression},
    )


def remove_delegated_expression(
    db: Database, session: Session, manager: str, expression: str
) -> Change:
    with db.write(target=f"{manager} → {expression}"):
        scope = load_scope(session)
        scope.require_admin("change delegations")
        deleted = (
            DelegatedExpression.delete()
            .where(
                DelegatedExpression.user == manager,
                DelegatedExpression.expression == expression,
            )
            .execute()
        )
        if deleted == 0:
            raise NotFound(f"{manager} has no delegated pattern {expression}; nothing was changed.")
        audit.note(before={"manager": manager, "expression": expression})
    return Change(f"{manager} no longer manages the addresses matching {expression}.")


def admin_exists(db: Database) -> bool:
    """Whether anybody holds `admin`: a fresh database has nobody who may manage it yet.
    Needs no session: it says nothing about who the admins are."""
    with db.read():
        return Permission.select().where(Permission.permission == "admin").exists()
