"""Who may do what: the intended cmail rights model (reference §6.7), without the PHP API's bugs.

Every service call loads a fresh `Scope` from the database inside its own transaction, so a right
revoked a moment ago is already gone, and asks it before touching anything. Default deny: each
`may_*` answers False unless a rule below says yes, and each `require_*` raises Denied naming what
was refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from core import audit, patterns
from core.db import Database
from core.errors import Denied, SessionEnded
from core.models import DelegatedExpression, DelegatedUser, Permission, User

PERMISSIONS = ("admin", "delegate")


class Role(StrEnum):
    ADMIN = "admin"
    DELEGATE = "delegate"
    USER = "user"


def role_of(permissions: set[str] | frozenset[str]) -> Role:
    if "admin" in permissions:
        return Role.ADMIN
    if "delegate" in permissions:
        return Role.DELEGATE
    return Role.USER


def stamp(authdata: str | None, permissions: frozenset[str]) -> str:
    """Fingerprint of what a login was granted on: a new password or new rights change it."""
    text = (authdata or "") + "\x00" + ",".join(sorted(permissions))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Session:
    """Who is acting. `user=None` is the file-system administrator: whoever may write the
    database file may do anything with it, as with cmail's own C tools."""

    user: str | None
    role: Role = Role.ADMIN
    managed: frozenset[str] = frozenset()
    expressions: tuple[str, ...] = ()
    stamp: str | None = None

    @classmethod
    def system(cls) -> Session:
        return cls(user=None)

    @property
    def label(self) -> str:
        return self.user if self.user is not None else "(file-system admin)"


@dataclass(frozen=True)
class Scope:
    """The acting user's rights as the database states them right now."""

    user: str | None
    role: Role
    managed: frozenset[str] = frozenset()
    expressions: tuple[str, ...] = ()
    # Managed users who hold rights of their own: a delegate may see them but never act on them.
    privileged: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def is_self(self, name: str) -> bool:
        return self.user is not None and name == self.user

    # --- users -------------------------------------------------------------------------------
    def may_view_user(self, name: str) -> bool:
        if self.is_admin or self.is_self(name):
            return True
        return self.role is Role.DELEGATE and name in self.managed

    def may_manage_user(self, name: str) -> bool:
        """Delete, revoke, smtpd and POP rows of a user: admins, or a delegate for its users."""
        if self.is_admin:
            return True
        # Never itself, even when a stray api_user_delegates row names it as its own user: a
        # delegate holds a right of its own, and must not e.g. give itself the `any` sender.
        return (
            self.role is Role.DELEGATE
            and name in self.managed
            and name not in self.privileged
            and not self.is_self(name)
        )

    def may_create_users(self) -> bool:
        return self.role in (Role.ADMIN, Role.DELEGATE)

    def may_set_password(self, name: str) -> bool:
        return self.is_self(name) or self.may_manage_user(name)

    def may_edit_pop(self, name: str) -> bool:
        """Plain users may enable, disable and unlock their own maildrop (cmail's self-service)."""
        return self.is_self(name) or self.may_manage_user(name)

    def may_read_mail(self, name: str) -> bool:
        return self.is_self(name) or self.may_manage_user(name)

    # --- addresses ---------------------------------------------------------------------------
    def expression_inside(self, expression: str) -> bool:
        """True pattern containment: every address the expression matches lies in a delegation."""
        return any(patterns.contains(scope, expression) for scope in self.expressions)

    def may_view_address(self, expression: str, router: str, route: str | None) -> bool:
        if self.is_admin:
            return True
        if (
            router == "store"
            and route is not None
            and (self.is_self(route) or (self.role is Role.DELEGATE and route in self.managed))
        ):
            return True
        return self.role is Role.DELEGATE and self.expression_inside(expression)

    def may_write_address(self, expression: str) -> bool:
        if self.is_admin:
            return True
        return self.role is Role.DELEGATE and self.expression_inside(expression)

    def may_store_to(self, user: str) -> bool:
        """A delegate may only deliver into mailboxes it manages, or its own."""
        return (
            self.is_admin
            or self.is_self(user)
            or (self.role is Role.DELEGATE and user in self.managed)
        )

    # --- refusals ----------------------------------------------------------------------------
    def require(self, allowed: bool, what: str) -> None:
        if not allowed:
            raise Denied(f"You ({self.user}, {self.role}) may not {what}.")

    def require_admin(self, what: str) -> None:
        self.require(self.is_admin, what)


def load_scope(session: Session) -> Scope:
    """Read the acting user's rights afresh. Must run inside a Database.read()/write() unit."""
    audit.set_actor(session.user, session.role.value if session.user else Role.ADMIN.value)
    if session.user is None:
        return Scope(user=None, role=Role.ADMIN)
    row = User.select(User.authdata).where(User.name == session.user).first()
    if row is None:
        raise SessionEnded(f"The account {session.user} no longer exists; log in again.")
    permissions = frozenset(
        p
        for (p,) in Permission.select(Permission.permission)
        .where(Permission.user == session.user)
        .tuples()
    )
    if session.stamp is not None and stamp(row.authdata, permissions) != session.stamp:
        raise SessionEnded(
            f"The password or rights of {session.user} changed since login; log in again."
        )
    role = role_of(permissions)
    audit.set_actor(session.user, role.value)
    if role is not Role.DELEGATE:
        return Scope(user=session.user, role=role)
    managed = frozenset(
        name
        for (name,) in DelegatedUser.select(DelegatedUser.delegate)
        .where(DelegatedUser.user == session.user)
        .tuples()
    )
    expressions = tuple(
        e
        for (e,) in DelegatedExpression.select(DelegatedExpression.expression)
        .where(DelegatedExpression.user == session.user)
        .order_by(DelegatedExpression.expression)
        .tuples()
    )
    privileged = _privileged(session.user, managed) if managed else frozenset()
    return Scope(session.user, role, managed, expressions, privileged)


def _privileged(me: str, managed: frozenset[str]) -> frozenset[str]:
    """Managed users a delegate may see but never act on: those holding rights of their own,
    and aliases of anyone else — cmail logs an alias in *as its target*, so whoever sets an
    alias's password can act as the target (an admin, say)."""
    holders = {
        name
        for (name,) in Permission.select(Permission.user)
        .where(Permission.user.in_(list(managed)))
        .distinct()
        .tuples()
    }
    safe_targets = (managed - holders) | {me}
    aliased = {
        name
        for name, target in User.select(User.name, User.alias)
        .where(User.name.in_(list(managed)), User.alias.is_null(False))
        .tuples()
        if target not in safe_targets
    }
    return frozenset((holders | aliased) - {me})


def current_scope(db: Database, session: Session) -> Scope:
    """The acting user's rights now, in a unit of its own: for front ends deciding what to show."""
    with db.read():
        return load_scope(session)
