"""Logging in, and the rights a Scope reads afresh from the database on every unit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.access import Role, Scope, Session, load_scope
from core.db import Database
from core.errors import Denied, SessionEnded
from core.passwords import hash_password
from core.session import WRONG_CREDENTIALS, login


def execute(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            for statement in statements:
                connection.execute(statement)
    finally:
        connection.close()


def scope_of(db: Database, session: Session) -> Scope:
    with db.read():
        return load_scope(session)


@pytest.fixture
def delegated(sample_path: Path) -> Path:
    """a2 delegates for a1 (plain) and cbdev (an admin), and for two address patterns."""
    execute(
        sample_path,
        "INSERT INTO api_access VALUES ('a2', 'delegate')",
        "INSERT INTO api_user_delegates VALUES ('a2', 'a1'), ('a2', 'cbdev')",
        "INSERT INTO api_address_delegates VALUES ('a2', '%@alias-test'), ('a2', '_@x.com')",
    )
    return sample_path


# --- login -------------------------------------------------------------------------------------


def test_roles(sample_db: Database, delegated: Path) -> None:
    assert login(sample_db, "cbdev", "cbdev").role is Role.ADMIN
    assert login(sample_db, "a3", "a3").role is Role.USER
    session = login(sample_db, "a2", "a2")
    assert session.role is Role.DELEGATE
    assert session.managed == frozenset({"a1", "cbdev"})
    assert session.expressions == ("%@alias-test", "_@x.com")


def test_admin_and_delegate_together_is_admin(sample_db: Database, sample_path: Path) -> None:
    execute(sample_path, "INSERT INTO api_access VALUES ('cbdev', 'delegate')")
    assert login(sample_db, "cbdev", "cbdev").role is Role.ADMIN


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("cbdev", "wrong"),  # wrong password
        ("nobody", "cbdev"),  # unknown user
        ("postmaster", ""),  # NULL authdata
        ("user", "user"),  # malformed authdata
        ("CBDEV", "cbdev"),  # names are case-sensitive
    ],
)
def test_every_failure_reads_the_same(sample_db: Database, name: str, password: str) -> None:
    with pytest.raises(Denied) as caught:
        login(sample_db, name, password)
    assert str(caught.value) == WRONG_CREDENTIALS


def test_alias_logs_in_as_itself(sample_db: Database) -> None:
    """cmail switches an alias to its target for mail; the console acts as the login name."""
    session = login(sample_db, "cdbev", "cdbev")
    assert session.user == "cdbev" and session.role is Role.ADMIN


# --- sessions end when what they were granted on changes ---------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE users SET user_authdata = '{new}' WHERE user_name = 'a3'",
        "INSERT INTO api_access VALUES ('a3', 'admin')",
        "DELETE FROM users WHERE user_name = 'a3'",
        "UPDATE users SET user_name = 'a3-renamed' WHERE user_name = 'a3'",
    ],
)
def test_session_ends_on_password_or_rights_change(
    sample_db: Database, sample_path: Path, change: str
) -> None:
    session = login(sample_db, "a3", "a3")
    scope_of(sample_db, session)  # fine before the change
    execute(sample_path, change.format(new=hash_password("a3")))  # even the same password
    with pytest.raises(SessionEnded):
        scope_of(sample_db, session)


def test_unrelated_changes_keep_the_session(sample_db: Database, sample_path: Path) -> None:
    session = login(sample_db, "a3", "a3")
    execute(
        sample_path,
        "UPDATE users SET user_authdata = NULL WHERE user_name = 'a1'",
        "INSERT INTO addresses (address_expression, address_router) VALUES ('z@z', 'drop')",
    )
    assert scope_of(sample_db, session).role is Role.USER


def test_revoked_delegation_takes_effect_at_once(sample_db: Database, delegated: Path) -> None:
    session = login(sample_db, "a2", "a2")
    assert scope_of(sample_db, session).may_manage_user("a1")
    execute(delegated, "DELETE FROM api_user_delegates WHERE api_delegate = 'a1'")
    assert not scope_of(sample_db, session).may_manage_user("a1")


def test_lost_delegate_permission_ends_the_session(sample_db: Database, delegated: Path):
    session = login(sample_db, "a2", "a2")
    execute(delegated, "DELETE FROM api_access WHERE api_user = 'a2'")
    with pytest.raises(SessionEnded):
        scope_of(sample_db, session)


# --- what a scope allows -----------------------------------------------------------------------


def test_delegate_scope_for_users(sample_db: Database, delegated: Path) -> None:
    scope = scope_of(sample_db, login(sample_db, "a2", "a2"))
    assert scope.managed == frozenset({"a1", "cbdev"})
    assert scope.privileged == frozenset({"cbdev"})
    assert scope.may_view_user("a1") and scope.may_view_user("cbdev") and scope.may_view_user("a2")
    assert not scope.may_view_user("spam")
    assert scope.may_manage_user("a1") and not scope.may_manage_user("cbdev")
    assert not scope.may_manage_user("a2")  # a delegate does not manage itself
    assert scope.may_set_password("a2") and scope.may_set_password("a1")
    assert not scope.may_set_password("cbdev")
    assert scope.may_read_mail("a1") and not scope.may_read_mail("cbdev")
    assert scope.may_store_to("a1") and scope.may_store_to("a2") and not scope.may_store_to("spam")
    assert scope.may_create_users()


def test_delegate_scope_for_expressions(sample_db: Database, delegated: Path) -> None:
    scope = scope_of(sample_db, login(sample_db, "a2", "a2"))
    assert scope.may_write_address("a1@alias-test")
    assert scope.may_write_address("%@alias-test") and scope.may_write_address("x%@ALIAS-test")
    assert not scope.may_write_address("%")
    assert scope.may_write_address("a@x.com") and scope.may_write_address("_@x.com")
    assert not scope.may_write_address("%@x.com")  # the PHP API's escalation
    assert not scope.may_write_address("ab@x.com")
    assert scope.may_view_address("cbdev@kitinfo.de", "store", "cbdev")  # store to a managed user
    assert not scope.may_view_address("spam@kitinfo.de", "store", "spam")


def test_plain_user_scope(sample_db: Database) -> None:
    scope = scope_of(sample_db, login(sample_db, "a3", "a3"))
    assert scope.may_view_user("a3") and not scope.may_view_user("a2")
    assert scope.may_read_mail("a3") and scope.may_edit_pop("a3") and scope.may_set_password("a3")
    assert not scope.may_manage_user("a3") and not scope.may_create_users()
    assert not scope.may_write_address("a3@alias-test")
    assert scope.may_view_address("a3@x", "store", "a3")
    with pytest.raises(Denied, match=r"You \(a3, user\) may not do this"):
        scope.require_admin("do this")


def test_file_system_admin(sample_db: Database) -> None:
    scope = scope_of(sample_db, Session.system())
    assert scope.is_admin and scope.may_manage_user("anyone") and scope.may_write_address("%")


def test_a_delegate_cannot_act_on_a_managed_alias_of_an_admin(sample_db) -> None:
    """cmail logs an alias in as its target: setting the password of a managed user that is an
    alias of an admin would let the delegate act as that admin."""
    import pytest

    from core.access import Session, current_scope, stamp
    from core.errors import Denied
    from core.services import users

    with sample_db.write():
        from core.models import DelegatedUser, Permission, User

        Permission.insert(user="spam", permission="delegate").execute()
        Permission.delete().where(
            Permission.user == "spam", Permission.permission == "admin"
        ).execute()
        DelegatedUser.insert(user="spam", delegate="foo").execute()
        DelegatedUser.insert(user="spam", delegate="foomatic").execute()
        User.update(alias="cbdev").where(User.name == "foo").execute()  # cbdev is an admin
        User.update(alias="foomatic").where(User.name == "test").execute()
        authdata = User.get(User.name == "spam").authdata
    session = Session(user="spam", stamp=stamp(authdata, frozenset({"delegate"})))
    scope = current_scope(sample_db, session)
    assert not scope.may_set_password("foo") and not scope.may_manage_user("foo")
    assert scope.may_manage_user("foomatic")  # a plain managed user, aliasing nobody
    with pytest.raises(Denied):
        users.set_password(sample_db, session, "foo", "takeover")
