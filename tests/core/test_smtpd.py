"""The smtpd service: the send ACL and outbound router, per role, with cmail's warnings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core import passwords
from core.access import Role, Session
from core.db import Database
from core.errors import Conflict, Denied, Invalid, NotFound
from core.models import DelegatedUser, Permission, User
from core.services import smtpd

SAMPLE_USERS = ["a1", "a2", "a3", "cbdev", "cdbev", "kitinfo", "mpease", "postmaster", "spam"]


def entry(path: Path, user: str) -> tuple | None:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT smtpd_user, smtpd_router, smtpd_route FROM smtpd WHERE smtpd_user = ?",
            (user,),
        ).fetchone()


@pytest.fixture
def scoped(sample_db: Database) -> Database:
    """`dele` is a delegate managing alice (plain) and boss (who holds admin himself)."""
    with sample_db.write():
        for name in ("dele", "alice", "boss", "plain"):
            User.insert(name=name, authdata=passwords.hash_password(name)).execute()
        Permission.insert_many(
            [{"user": "dele", "permission": "delegate"}, {"user": "boss", "permission": "admin"}]
        ).execute()
        DelegatedUser.insert_many(
            [{"user": "dele", "delegate": "alice"}, {"user": "dele", "delegate": "boss"}]
        ).execute()
    smtpd.enable(sample_db, Session.system(), "boss", "any")
    smtpd.enable(sample_db, Session.system(), "plain", "drop")
    return sample_db


def dele() -> Session:
    return Session(user="dele", role=Role.DELEGATE)


def test_list_pages_by_user_and_filters_like_cmail_admin(sample_db, admin):
    first = smtpd.list_entries(sample_db, admin, limit=3)
    assert [e.user for e in first.rows] == ["a1", "a2", "a3"] and first.has_more
    rest = smtpd.list_entries(sample_db, admin, after=first.cursor)
    assert [e.user for e in first.rows + rest.rows] == [*SAMPLE_USERS, "user"]
    assert [e.user for e in smtpd.list_entries(sample_db, admin, "A%").rows] == ["a1", "a2", "a3"]
    cbdev = smtpd.list_entries(sample_db, admin, search="cbdev")
    assert [(e.user, e.route) for e in cbdev.rows] == [("cbdev", None)] and cbdev.has_more
    rest = smtpd.list_entries(sample_db, admin, search="cbdev", after=cbdev.cursor)
    assert [(e.user, e.route, e.alias) for e in rest.rows] == [
        ("cdbev", "cbdev", "cbdev"),  # matched by its route
    ]


def test_visibility_per_role(scoped):
    assert [e.user for e in smtpd.list_entries(scoped, dele()).rows] == ["boss"]
    plain = Session(user="plain", role=Role.USER)
    assert [e.user for e in smtpd.list_entries(scoped, plain).rows] == ["plain"]
    assert smtpd.get(scoped, plain, "plain").router == "drop"
    with pytest.raises(Denied):
        smtpd.get(scoped, plain, "cbdev")
    with pytest.raises(Denied):
        smtpd.get(scoped, dele(), "cbdev")


def test_get(sample_db, admin):
    assert smtpd.get(sample_db, admin, "cdbev") == smtpd.SmtpdEntry(
        "cdbev", "drop", "cbdev", "cbdev"
    )
    with pytest.raises(NotFound):
        smtpd.get(sample_db, admin, "foo")


def test_enable_without_router_is_drop_and_says_so(sample_db, sample_path, admin):
    change = smtpd.enable(sample_db, admin, "test")
    assert entry(sample_path, "test") == ("test", "drop", None)
    assert "default drop router" in change.message and "discarded" in change.message


def test_enable_refusals_change_nothing(sample_db, sample_path, admin):
    before = sample_path.read_bytes()
    with pytest.raises(Conflict):
        smtpd.enable(sample_db, admin, "cbdev", "any")
    with pytest.raises(NotFound):
        smtpd.enable(sample_db, admin, "nobody")
    for router, route in (("redirect", "x@y.z"), ("Any", None), ("handoff", "x")):
        with pytest.raises(Invalid) as refused:
            smtpd.enable(sample_db, admin, "test", router, route)
        assert refused.value.field == ("route" if router == "handoff" else "router")
    assert sample_path.read_bytes() == before


def test_enable_warnings(sample_db, sample_path, admin):
    defined = smtpd.enable(sample_db, admin, "test", "defined")
    assert any("No store rule routes to test" in w for w in defined.warnings)
    anyone = smtpd.enable(sample_db, admin, "foomatic", "any", "ignored")
    assert entry(sample_path, "foomatic") == ("foomatic", "any", None)
    assert any("may send as anyone" in w for w in anyone.warnings)
    assert any("ignores its route" in w for w in anyone.warnings)
    assert any("foomatic has no password" in w for w in anyone.warnings)
    handoff = smtpd.enable(sample_db, admin, "foo", "handoff", "")
    assert entry(sample_path, "foo") == ("foo", "handoff", None)
    assert any("behaves like drop" in w for w in handoff.warnings)


def test_alias_and_store_rule_warnings_follow_the_data(sample_db, admin):
    smtpd.disable(sample_db, admin, "a1")
    alias = smtpd.enable(sample_db, admin, "a1", "any")
    assert any("a1 is an alias of a2" in w for w in alias.warnings)
    # cbdev has store rules, so `defined` lets it send: no warning.
    defined = smtpd.update(sample_db, admin, "cbdev", "defined")
    assert not any("No store rule" in w for w in defined.warnings)


def test_update_sets_router_and_omitted_route_is_null(sample_db, sample_path, admin):
    change = smtpd.update(sample_db, admin, "postmaster", "reject", "go away")
    assert entry(sample_path, "postmaster") == ("postmaster", "reject", "go away")
    assert "reconnect" in change.warnings[-1]
    smtpd.update(sample_db, admin, "postmaster", "handoff", "user:pw@smart.host:587/starttls")
    assert entry(sample_path, "postmaster")[2] == "user:pw@smart.host:587/starttls"
    smtpd.update(sample_db, admin, "postmaster", "reject")
    assert entry(sample_path, "postmaster") == ("postmaster", "reject", None)
    before = sample_path.read_bytes()
    with pytest.raises(NotFound):
        smtpd.update(sample_db, admin, "foo", "any")
    with pytest.raises(Invalid):
        smtpd.update(sample_db, admin, "cbdev", "store")
    assert sample_path.read_bytes() == before


def test_disable(sample_db, sample_path, admin):
    change = smtpd.disable(sample_db, admin, "spam")
    assert entry(sample_path, "spam") is None and "551" in change.message
    with pytest.raises(NotFound):
        smtpd.disable(sample_db, admin, "spam")


def test_delegate_manages_only_its_unprivileged_users(scoped, sample_path):
    smtpd.enable(scoped, dele(), "alice", "defined")
    smtpd.update(scoped, dele(), "alice", "reject")
    assert entry(sample_path, "alice") == ("alice", "reject", None)
    before = sample_path.read_bytes()
    with pytest.raises(Denied):
        smtpd.update(scoped, dele(), "boss", "drop")  # managed, but holds rights of his own
    with pytest.raises(Denied):
        smtpd.disable(scoped, dele(), "cbdev")
    with pytest.raises(Denied):
        smtpd.enable(scoped, dele(), "dele", "any")  # not even for itself
    with pytest.raises(Denied):
        smtpd.enable(scoped, Session(user="plain", role=Role.USER), "plain", "any")
    assert sample_path.read_bytes() == before
    smtpd.disable(scoped, dele(), "alice")
    assert entry(sample_path, "alice") is None
