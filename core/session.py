"""Logging in: a user name and a password checked exactly as cmail's daemons check them, behind
a lockout that survives restarts (its counters live in the audit trail's file)."""

from __future__ import annotations

import math
import os

from core import audit, passwords
from core.access import Session, load_scope, role_of, stamp
from core.db import Database
from core.errors import Denied
from core.models import Permission, User

WRONG_CREDENTIALS = "Wrong user name or password."
_DUMMY_AUTHDATA = "0000000000:" + "0" * 64
ATTEMPTS_ENV = "CMAIL_CONSOLE_LOCKOUT_ATTEMPTS"
DELAY_ENV = "CMAIL_CONSOLE_LOCKOUT_SECONDS"
MAX_DELAY = 3600.0


def _setting(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def lockout_delay(failures: int) -> float:
    """Seconds a name stays locked after `failures` failed logins in a row: none for the first
    few, then a delay that doubles with every further failure, up to an hour."""
    allowed = int(_setting(ATTEMPTS_ENV, 5))
    if failures < allowed or allowed == 0:
        return 0.0
    return min(MAX_DELAY, _setting(DELAY_ENV, 30) * 2 ** (failures - allowed))


def _refuse(db: Database, pending: audit.Pending, message: str) -> Denied:
    error = Denied(message)
    db.audit.record_outcome(pending, error)
    return error


def login(db: Database, name: str, password: str) -> Session:
    """A Session for `name`, or Denied with one neutral sentence: whether the user exists, has
    no login (NULL) or typed a wrong password is not told apart, and the lockout counts typed
    names whether or not they exist."""
    pending = audit.Pending("session.login", name, login=name, role="unknown")
    try:
        name.encode("utf-8"), password.encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable bytes (a terminal in another charset) can name nobody: same answer.
        raise _refuse(db, pending, WRONG_CREDENTIALS) from None
    failures, last = db.audit.failures(name)
    wait = lockout_delay(failures) - (db.audit.clock().timestamp() - last)
    if wait > 0:
        raise _refuse(
            db, pending, f"Too many failed logins; try again in {math.ceil(wait)} seconds."
        )
    with db.read():
        # A name that is not UTF-8 (bytes from a command line) names nobody: refused like any.
        utf8 = name.encode("utf-8", "replace").decode("utf-8") == name
        row = User.select(User.authdata).where(User.name == name).first() if utf8 else None
        authdata = row.authdata if row is not None else None
        # Hash even when there is nothing to compare, so timing does not tell who exists.
        ok = passwords.verify(authdata if authdata is not None else _DUMMY_AUTHDATA, password)
        if row is None or authdata is None or not ok:
            db.audit.count_failure(name)
            raise _refuse(db, pending, WRONG_CREDENTIALS)
        permissions = frozenset(
            p
            for (p,) in Permission.select(Permission.permission)
            .where(Permission.user == name)
            .tuples()
        )
        session = Session(user=name, role=role_of(permissions), stamp=stamp(authdata, permissions))
        scope = load_scope(session)
    db.audit.clear_failures(name)
    pending.role = session.role.value
    db.audit.record_outcome_ok(pending)
    session.managed = scope.managed
    session.expressions = scope.expressions
    return session
