"""Logging in: a user name and a password checked exactly as cmail's daemons check them."""

from __future__ import annotations

from core import passwords
from core.access import Session, load_scope, role_of, stamp
from core.db import Database
from core.errors import Denied
from core.models import Permission, User

WRONG_CREDENTIALS = "Wrong user name or password."
_DUMMY_AUTHDATA = "0000000000:" + "0" * 64


def login(db: Database, name: str, password: str) -> Session:
    """A Session for `name`, or Denied with one neutral sentence: whether the user exists, has
    no login (NULL) or typed a wrong password is not told apart."""
    with db.read():
        row = User.select(User.authdata).where(User.name == name).first()
        authdata = row.authdata if row is not None else None
        # Hash even when there is nothing to compare, so timing does not tell who exists.
        ok = passwords.verify(authdata if authdata is not None else _DUMMY_AUTHDATA, password)
        if row is None or authdata is None or not ok:
            raise Denied(WRONG_CREDENTIALS)
        permissions = frozenset(
            p
            for (p,) in Permission.select(Permission.permission)
            .where(Permission.user == name)
            .tuples()
        )
        session = Session(user=name, role=role_of(permissions), stamp=stamp(authdata, permissions))
        scope = load_scope(session)
    session.managed = scope.managed
    session.expressions = scope.expressions
    return session
