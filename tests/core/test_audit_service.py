"""Every write service leaves one audit entry with who, what and before → after (never a
password or its hash); refusals are recorded; only admins read the trail."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.access import Session
from core.db import Database
from core.errors import Denied, Invalid, StorageError
from core.passwords import hash_password
from core.services import addresses, mailbox, popd, rights, smtpd, users
from core.services import audit as audit_service
from core.session import login

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SECRETS = ("new-secret-9", "deleg-secret-1", "plain-secret-1")
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def fixed_clock() -> datetime:
    return NOW


def sql(path: Path | str, statement: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            return connection.execute(statement, params).fetchall()
    finally:
        connection.close()


def digest(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class World:
    db: Database
    master: Path
    userdb: Path

    def session(self, name: str) -> Session:
        passwords = {"cbdev": "cbdev", "deleg": SECRETS[1], "plain": SECRETS[2]}
        return login(self.db, name, passwords[name])

    def raw_trail(self) -> list[tuple]:
        return sql(self.db.audit.path, "SELECT * FROM audit ORDER BY id")


@pytest.fixture
def world(sample_path: Path, userdb_path: Path) -> World:
    """The sample, plus: kitinfo's user database, a delegate `deleg` managing `plain` and the
    pattern %@deleg.example, and user's maildrop locked."""
    statements = [
        ("UPDATE users SET user_database = ? WHERE user_name = 'kitinfo'", (str(userdb_path),)),
        ("INSERT INTO users (user_name, user_authdata) VALUES ('deleg', ?)",
         (hash_password(SECRETS[1]),)),
        ("INSERT INTO users (user_name, user_authdata) VALUES ('plain', ?)",
         (hash_password(SECRETS[2]),)),
        ("INSERT INTO api_access VALUES ('deleg', 'delegate')", ()),
        ("INSERT INTO api_user_delegates VALUES ('deleg', 'plain')", ()),
        ("INSERT INTO api_address_delegates VALUES ('deleg', '%@deleg.example')", ()),
        ("UPDATE popd SET pop_lock = 1 WHERE pop_user = 'user'", ()),
    ]  # fmt: skip
    for statement, params in statements:
        sql(sample_path, statement, params)
    return World(Database(str(sample_path), clock=fixed_clock), sample_path, userdb_path)


Call = Callable[[Database, Session, World], object]


def subset(expected: dict[str, Any]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and expected.items() <= value.items()


R100 = {"order": 100, "expression": "t%t@kitinfo.de", "router": "store", "route": "mpease"}
R200 = {"order": 200, "expression": "user@kitinfo.de", "router": "store", "route": "user"}
R204 = {"order": 204, "expression": "spam@kitinfo.de", "router": "redirect", "route": "foo@foo.net"}
R205 = {"order": 205, "expression": "spam@cbcdn.com", "router": "redirect", "route": "foo@foo.net"}
R206 = {"order": 206, "expression": "nulltest@kitinfo.de", "router": "drop", "route": None}

# (action, call, target, before, after): before/after are the exact value, or a predicate.
CASES: list[tuple[str, Call, str | Callable[[World], str], Any, Any]] = [
    ("users.add_user", lambda db, s, w: users.add_user(db, s, "zoe", SECRETS[0]), "zoe",
     None, {"login": "enabled", "rights": [], "alias": None, "manager": None}),
    ("users.delete_user", lambda db, s, w: users.delete_user(db, s, "spam"), "spam",
     subset({"name": "spam", "login": "enabled", "smtpd": True, "pop": False,
             "rights": ["admin"]}), None),
    ("users.set_password", lambda db, s, w: users.set_password(db, s, "a1", SECRETS[0]), "a1",
     {"login": "enabled"}, {"login": "enabled", "password": "new password"}),
    ("users.set_password", lambda db, s, w: users.set_password(db, s, "foo", SECRETS[0]), "foo",
     {"login": "disabled"}, {"login": "enabled", "password": "new password"}),
    ("users.set_password", lambda db, s, w: users.set_password(db, s, "a3", ""), "a3",
     {"login": "enabled"}, {"login": "disabled", "password": "no password"}),
    ("users.revoke_login", lambda db, s, w: users.revoke_login(db, s, "a3"), "a3",
     {"login": "enabled"}, {"login": "disabled"}),
    ("users.set_alias", lambda db, s, w: users.set_alias(db, s, "a3", "mpease"), "a3",
     {"alias": None}, {"alias": "mpease"}),
    ("users.set_alias", lambda db, s, w: users.set_alias(db, s, "a1", None), "a1",
     {"alias": "a2"}, {"alias": None}),
    ("users.set_user_database",
     lambda db, s, w: users.set_user_database(db, s, "spam", str(w.userdb)), "spam",
     {"database": None}, lambda value: value == {"database": value["database"]}
     and value["database"].endswith("userdb.db3")),
    ("users.rename_user", lambda db, s, w: users.rename_user(db, s, "mpease", "mp"),
     "mpease → mp", {"name": "mpease"}, {"name": "mp", "store_routes_retargeted": 2}),
    ("rights.grant", lambda db, s, w: rights.grant(db, s, "a3", "delegate"), "a3",
     {"permissions": []}, {"permissions": ["delegate"]}),
    ("rights.revoke", lambda db, s, w: rights.revoke(db, s, "spam", ["admin"]), "spam",
     {"permissions": ["admin"]}, {"permissions": []}),
    ("rights.set_permissions",
     lambda db, s, w: rights.set_permissions(db, s, "deleg", ["admin"]), "deleg",
     {"permissions": ["delegate"]}, {"permissions": ["admin"]}),
    ("rights.add_delegated_user", lambda db, s, w: rights.add_delegated_user(db, s, "a3", "a1"),
     "a3 → a1", None, {"manager": "a3", "managed": "a1"}),
    ("rights.remove_delegated_user",
     lambda db, s, w: rights.remove_delegated_user(db, s, "deleg", "plain"), "deleg → plain",
     {"manager": "deleg", "managed": "plain"}, None),
    ("rights.add_delegated_expression",
     lambda db, s, w: rights.add_delegated_expression(db, s, "a3", "%@a3.example"),
     "a3 → %@a3.example", None, {"manager": "a3", "expression": "%@a3.example"}),
    ("rights.remove_delegated_expression",
     lambda db, s, w: rights.remove_delegated_expression(db, s, "deleg", "%@deleg.example"),
     "deleg → %@deleg.example", {"manager": "deleg", "expression": "%@deleg.example"}, None),
    ("smtpd.enable", lambda db, s, w: smtpd.enable(db, s, "foo", "handoff", "mx.example"),
     "foo", None, {"router": "handoff", "route": "mx.example"}),
    ("smtpd.update", lambda db, s, w: smtpd.update(db, s, "cbdev", "any"), "cbdev",
     {"router": "defined", "route": None}, {"router": "any", "route": None}),
    ("smtpd.disable", lambda db, s, w: smtpd.disable(db, s, "cdbev"), "cdbev",
     {"router": "drop", "route": "cbdev"}, None),
    ("popd.enable", lambda db, s, w: popd.enable(db, s, "a1"), "a1",
     {"pop": "disabled"}, {"pop": "enabled", "locked": False}),
    ("popd.disable", lambda db, s, w: popd.disable(db, s, "kitinfo"), "kitinfo",
     {"pop": "enabled", "locked": False}, {"pop": "disabled"}),
    ("popd.unlock", lambda db, s, w: popd.unlock(db, s, "user"), "user",
     {"locked": True}, {"locked": False}),
    ("addresses.add_rule",
     lambda db, s, w: addresses.add_rule(db, s, "new@kitinfo.de", "drop", order=300),
     "rule 300", None,
     {"order": 300, "expression": "new@kitinfo.de", "router": "drop", "route": None}),
    ("addresses.update_rule",
     lambda db, s, w: addresses.update_rule(db, s, 204, "redirect", "bar@foo.net"), "rule 204",
     R204, {**R204, "route": "bar@foo.net"}),
    ("addresses.delete_rule", lambda db, s, w: addresses.delete_rule(db, s, 206), "rule 206",
     R206, None),
    ("addresses.move_rule", lambda db, s, w: addresses.move_rule(db, s, 206, 300), "rule 206",
     R206, {**R206, "order": 300}),
    ("addresses.swap_rules", lambda db, s, w: addresses.swap_rules(db, s, 100, 200),
     "rules 100 and 200", [R100, R200], [{**R100, "order": 200}, {**R200, "order": 100}]),
    ("addresses.step_rule", lambda db, s, w: addresses.step_rule(db, s, 206, "down"),
     "rules 206 and 205", [R206, R205], [{**R206, "order": 205}, {**R205, "order": 206}]),
    ("mailbox.mark_read",
     lambda db, s, w: mailbox.mark_read(db, s, "cbdev", "master", 483, True),
     "mail 483 of cbdev in master", {"read": False}, {"read": True}),
    ("mailbox.delete_mail", lambda db, s, w: mailbox.delete_mail(db, s, "cbdev", "master", 483),
     "mail 483 of cbdev in master",
     lambda value: value["read"] is False and {"envelope_from", "envelope_to"} <= value.keys(),
     None),
    ("mailbox.mark_read",
     lambda db, s, w: mailbox.mark_read(db, s, "kitinfo", str(w.userdb), 11, True),
     lambda w: f"mail 11 of kitinfo in {w.userdb}", {"read": False}, {"read": True}),
    ("mailbox.delete_mail",
     lambda db, s, w: mailbox.delete_mail(db, s, "kitinfo", str(w.userdb), 11),
     lambda w: f"mail 11 of kitinfo in {w.userdb}",
     {"read": False, "envelope_from": "cb@cbcdn.com", "envelope_to": "store-kitinfo@kitinfo.de"},
     None),
]  # fmt: skip


def matches(expected: Any, value: Any) -> bool:
    return expected(value) if callable(expected) else value == expected


def secrets_in(world: World) -> list[str]:
    """Every password used and every stored authdata (before and after the call)."""
    stored = [a for (a,) in sql(world.master, "SELECT user_authdata FROM users") if a]
    return [*SECRETS, *stored]


@pytest.mark.parametrize(
    ("action", "call", "target", "before", "after"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_every_write_leaves_one_entry_with_before_and_after(
    world: World, action: str, call: Call, target: Any, before: Any, after: Any
) -> None:
    session = world.session("cbdev")
    stored_before = secrets_in(world)
    count = len(world.raw_trail())
    call(world.db, session, world)
    entries = world.db.audit.entries().rows
    entry = entries[0]
    assert len(world.raw_trail()) == count + 1  # exactly one entry per change
    expected_target = target(world) if callable(target) else target
    assert (entry.action, entry.login, entry.role, entry.result, entry.target) == (
        action,
        "cbdev",
        "admin",
        "ok",
        expected_target,
    )
    assert entry.time == "2026-03-04T05:06:07+00:00"  # the Database's clock
    assert matches(before, entry.before), entry.before
    assert matches(after, entry.after), entry.after
    assert entry.before != entry.after
    raw = repr(world.raw_trail())
    for secret in {*stored_before, *secrets_in(world)}:
        assert secret not in raw
    assert not HEX_DIGEST.search(raw)


# (action, call as the delegate, target): each outside what `deleg` may do.
REFUSED: list[tuple[str, Call, str | Callable[[World], str]]] = [
    ("users.delete_user", lambda db, s, w: users.delete_user(db, s, "cbdev"), "cbdev"),
    ("users.set_password", lambda db, s, w: users.set_password(db, s, "cbdev", "x-secret-1"),
     "cbdev"),
    ("users.rename_user", lambda db, s, w: users.rename_user(db, s, "plain", "p2"),
     "plain → p2"),
    ("rights.grant", lambda db, s, w: rights.grant(db, s, "plain", "admin"), "plain"),
    ("addresses.delete_rule", lambda db, s, w: addresses.delete_rule(db, s, 206), "rule 206"),
    ("addresses.swap_rules", lambda db, s, w: addresses.swap_rules(db, s, 100, 200),
     "rules 100 and 200"),
    ("smtpd.update", lambda db, s, w: smtpd.update(db, s, "cbdev", "any"), "cbdev"),
    ("popd.unlock", lambda db, s, w: popd.unlock(db, s, "user"), "user"),
    ("mailbox.delete_mail", lambda db, s, w: mailbox.delete_mail(db, s, "cbdev", "master", 483),
     "mail 483 of cbdev in master"),
    ("mailbox.delete_mail",
     lambda db, s, w: mailbox.delete_mail(db, s, "kitinfo", str(w.userdb), 11),
     lambda w: f"mail 11 of kitinfo in {w.userdb}"),
]  # fmt: skip


@pytest.mark.parametrize(("action", "call", "target"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_delegates_refused_call_is_recorded(
    world: World, action: str, call: Call, target: Any
) -> None:
    session = world.session("deleg")
    master, userdb = digest(world.master), digest(world.userdb)
    with pytest.raises(Denied) as refusal:
        call(world.db, session, world)
    entry = world.db.audit.entries().rows[0]
    expected_target = target(world) if callable(target) else target
    assert (entry.action, entry.login, entry.role, entry.result, entry.target) == (
        action,
        "deleg",
        "delegate",
        "refused",
        expected_target,
    )
    assert entry.message == str(refusal.value)
    assert (entry.before, entry.after) == (None, None)  # nothing was changed, nothing noted
    assert (digest(world.master), digest(world.userdb)) == (master, userdb)


def test_a_refusal_quoting_a_non_utf8_name_is_still_recorded(world: World) -> None:
    """A command-line argument with an undecodable byte arrives as a lone surrogate; the trail
    must record the refusal rather than fail to encode it (and hide the refusal)."""
    session = world.session("deleg")
    with pytest.raises(Denied):
        popd.unlock(world.db, session, "x\udcff")
    entry = world.db.audit.entries().rows[0]
    assert (entry.result, entry.target) == ("refused", "x\\udcff")


@pytest.mark.parametrize("source", ["master", "userdb"])
def test_a_trail_that_cannot_be_written_stops_a_mail_change(
    world: World, tmp_path: Path, source: str
) -> None:
    """The user database commits on its own: its entry must be written before that commit."""
    blocked = Database(str(world.master), audit_path=str(tmp_path / "missing" / "audit.db3"))
    user, where, number = (
        ("cbdev", "master", 483) if source == "master" else ("kitinfo", str(world.userdb), 11)
    )
    path = world.master if source == "master" else world.userdb
    before = digest(path)
    with pytest.raises(StorageError, match="audit trail"):
        mailbox.delete_mail(blocked, Session.system(), user, where, number)
    assert digest(path) == before
    assert sql(path, "SELECT count(*) FROM mailbox WHERE mail_id = ?", (number,)) == [(1,)]


def test_a_failed_user_database_write_is_recorded_as_failed(world: World) -> None:
    with pytest.raises(Exception, match="no mail 999"):
        mailbox.delete_mail(world.db, world.session("cbdev"), "kitinfo", str(world.userdb), 999)
    entry = world.db.audit.entries().rows[0]
    assert (entry.action, entry.result, entry.login) == ("mailbox.delete_mail", "failed", "cbdev")


# --- reading the trail ---------------------------------------------------------------------------


def test_admins_list_newest_first_filter_and_page(world: World) -> None:
    admin = world.session("cbdev")
    popd.unlock(world.db, admin, "user")
    users.add_user(world.db, Session.system(), "zoe", SECRETS[0])
    addresses.delete_rule(world.db, admin, 206)
    master = digest(world.master)
    page = audit_service.list_entries(world.db, admin)
    assert [e.action for e in page.rows[:3]] == [
        "addresses.delete_rule",
        "users.add_user",
        "popd.unlock",
    ]
    ids = [e.id for e in page.rows]
    assert ids == sorted(ids, reverse=True)
    found = audit_service.list_entries(world.db, admin, search="ZOE")  # literal, any case
    assert [(e.action, e.login) for e in found.rows] == [("users.add_user", None)]
    mine = audit_service.list_entries(world.db, admin, login="cbdev")
    assert {e.login for e in mine.rows} == {"cbdev"}
    assert "users.add_user" not in {e.action for e in mine.rows}
    assert audit_service.list_entries(world.db, admin, search="%").rows == []  # not a wildcard
    walked, cursor = [], None
    while True:
        part = audit_service.list_entries(world.db, admin, before_id=cursor, limit=2)
        walked += part.rows
        if not part.has_more:
            break
        cursor = part.cursor
    assert [e.id for e in walked] == ids
    assert digest(world.master) == master  # reading never writes the master database


@pytest.mark.parametrize(("name", "role"), [("deleg", "delegate"), ("plain", "user")])
def test_only_admins_read_the_trail_and_a_refusal_is_recorded(
    world: World, name: str, role: str
) -> None:
    session = world.session(name)
    with pytest.raises(Denied, match="may not read the audit trail"):
        audit_service.list_entries(world.db, session)
    entry = world.db.audit.entries().rows[0]
    assert (entry.action, entry.login, entry.role, entry.result) == (
        "audit.list_entries",
        name,
        role,
        "refused",
    )


@pytest.mark.parametrize(
    ("options", "field"),
    [({"search": "x\udcff"}, "filter"), ({"login": "x\udcff"}, "login"),
     ({"before_id": "7"}, "before id"), ({"before_id": True}, "before id")],
)  # fmt: skip
def test_bad_list_options_are_refused_naming_the_field(
    world: World, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(Invalid) as error:
        audit_service.list_entries(world.db, Session.system(), **options)
    assert error.value.field == field
