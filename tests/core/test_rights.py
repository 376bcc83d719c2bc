"""The rights service: api_access and both delegation tables, for every role."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from core.access import Session
from core.db import Database
from core.errors import Conflict, Denied, Invalid, NotFound, SessionEnded
from core.services import rights, users
from core.session import login

SAMPLE_ADMINS = ["cbdev", "cdbev", "kitinfo", "mpease", "nulltest", "postmaster", "spam", "user"]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(path: Path, sql: str, *params: object) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def held(path: Path, user: str) -> list[str]:
    return [
        p
        for (p,) in rows(
            path, "SELECT api_permission FROM api_access WHERE api_user=? ORDER BY 1", user
        )
    ]


@pytest.fixture
def roles(sample_db: Database, admin: Session) -> dict[str, Session]:
    """`boss` delegates for a1 and `%@boss.example`; `rival` delegates for a2 and
    `%@rival.example`; a3 is a plain user managed by nobody; a1 is managed by boss."""
    for name in ("boss", "rival"):
        users.add_user(sample_db, admin, name, f"{name}pw")
        rights.grant(sample_db, admin, name, "delegate")
        rights.add_delegated_expression(sample_db, admin, name, f"%@{name}.example")
    rights.add_delegated_user(sample_db, admin, "boss", "a1")
    rights.add_delegated_user(sample_db, admin, "rival", "a2")
    return {
        "admin": login(sample_db, "cbdev", "cbdev"),
        "delegate": login(sample_db, "boss", "bosspw"),
        "user": login(sample_db, "a1", "a1"),
        "plain": login(sample_db, "a3", "a3"),
    }


# --- listing ----------------------------------------------------------------------------------


def test_admin_lists_permissions_with_filters(sample_db: Database, admin: Session):
    grants = rights.list_permissions(sample_db, admin)
    assert [g.user for g in grants] == SAMPLE_ADMINS
    assert {g.permission for g in grants} == {"admin"}
    assert [g.user for g in rights.list_permissions(sample_db, admin, "C%")] == ["cbdev", "cdbev"]
    assert rights.list_permissions(sample_db, admin, permission_pattern="deleg%") == []


def test_non_admins_see_only_their_own_and_managed_rights(
    sample_db: Database, admin: Session, roles: dict[str, Session]
):
    rights.grant(sample_db, admin, "a1", "admin")
    delegate_view = rights.list_permissions(sample_db, roles["delegate"])
    assert [(g.user, g.permission) for g in delegate_view] == [
        ("a1", "admin"),
        ("boss", "delegate"),
    ]
    assert rights.list_permissions(sample_db, roles["plain"]) == []


def test_delegation_listing_by_role_b_a1(sample_db: Database, roles: dict[str, Session]):
    everything = rights.list_delegations(sample_db, roles["admin"])
    assert [(d.kind, d.manager, d.target) for d in everything] == [
        ("user", "boss", "a1"),
        ("user", "rival", "a2"),
        ("address", "boss", "%@boss.example"),
        ("address", "rival", "%@rival.example"),
    ]
    # A delegate sees its own rows only, never another delegate's patterns.
    mine = rights.list_delegations(sample_db, roles["delegate"])
    assert [(d.kind, d.target) for d in mine] == [("user", "a1"), ("address", "%@boss.example")]
    # A plain user sees who manages it (B-D1: this listing failed on v9 in the PHP API).
    assert [(d.manager, d.target) for d in rights.list_delegations(sample_db, roles["user"])] == [
        ("boss", "a1")
    ]
    assert rights.list_delegations(sample_db, roles["plain"]) == []


def test_delegation_listing_filters(sample_db: Database, roles: dict[str, Session]):
    admin = roles["admin"]
    assert [d.manager for d in rights.list_delegations(sample_db, admin, "riv%")] == [
        "rival",
        "rival",
    ]
    assert [d.kind for d in rights.list_delegations(sample_db, admin, kind="address")] == [
        "address",
        "address",
    ]
    with pytest.raises(Invalid, match="user or address"):
        rights.list_delegations(sample_db, admin, kind="users")


def _listed_rights(db: Database, session: Session, name: str) -> tuple:
    """What the list calls show of `name`'s own rows, kept to the exact name."""
    grants = rights.list_permissions(db, session)
    delegations = [d for d in rights.list_delegations(db, session) if d.manager == name]
    return (
        tuple(g.permission for g in grants if g.user == name),
        tuple(d.target for d in delegations if d.kind == "user"),
        tuple(d.target for d in delegations if d.kind == "address"),
    )


def test_user_rights_shows_exactly_what_the_lists_show(
    sample_db: Database, admin: Session, roles: dict[str, Session]
):
    """The exact-name call hides what the list calls hide, for every role and every user,
    names with LIKE wildcards and unknown names included."""
    rights.grant(sample_db, admin, "a1", "admin")  # a delegate sees a managed user's rights
    users.add_user(sample_db, admin, "a_", "pw")  # LIKE 'a_' would also match a1, a2, a3
    rights.grant(sample_db, admin, "a_", "delegate")
    rights.add_delegated_user(sample_db, admin, "a_", "a3")
    roles["user"] = login(sample_db, "a1", "a1")  # its rights changed: a new session
    names = [u.name for u in users.list_users(sample_db, admin, limit=100).rows]
    for role, session in {**roles, "system": admin}.items():
        for name in [*names, "nobody", "%"]:
            found = rights.user_rights(sample_db, session, name)
            listed = _listed_rights(sample_db, session, name)
            assert found.user == name
            assert (found.permissions, found.managed, found.expressions) == listed, (role, name)
    boss = rights.user_rights(sample_db, roles["admin"], "boss")
    assert (boss.permissions, boss.managed, boss.expressions) == (
        ("delegate",),
        ("a1",),
        ("%@boss.example",),
    )
    # A plain user sees who manages it, and nothing else of that delegate's.
    assert rights.user_rights(sample_db, roles["plain"], "a_").managed == ("a3",)
    assert rights.user_rights(sample_db, roles["plain"], "a_").permissions == ()


def test_user_rights_refuses_what_the_lists_refuse(
    sample_db: Database, admin: Session, roles: dict[str, Session]
):
    delegate = roles["delegate"]
    rights.revoke(sample_db, admin, "boss", ["delegate"])  # boss's session is now stale
    for call in (
        lambda: rights.list_permissions(sample_db, delegate),
        lambda: rights.list_delegations(sample_db, delegate),
        lambda: rights.user_rights(sample_db, delegate, "boss"),
    ):
        with pytest.raises(SessionEnded):
            call()
    with pytest.raises(Invalid, match="user must be text"):
        rights.user_rights(sample_db, admin, 7)  # type: ignore[arg-type]


def test_user_rights_reads_by_key(sample_db: Database, roles: dict[str, Session]):
    """No LIKE: the UNIQUE (api_user, …) indexes answer it, however many rows there are."""
    statements: list[str] = []
    original = sample_db.pw.execute_sql

    def record(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(sql, params, *args, **kwargs)

    sample_db.pw.execute_sql = record
    rights.user_rights(sample_db, roles["admin"], "boss")
    tables = ('"api_access"', '"api_user_delegates"', '"api_address_delegates"')
    read = [sql for sql in statements if any(table in sql for table in tables)]
    assert all(any(table in sql for sql in read) for table in tables)
    assert all('"api_user" = ?' in sql and " LIKE " not in sql for sql in read)


# --- grant / revoke / set ---------------------------------------------------------------------


def test_grant_and_its_warnings(sample_db: Database, sample_path: Path, admin: Session):
    change = rights.grant(sample_db, admin, "foo", "delegate")
    assert held(sample_path, "foo") == ["delegate"]
    text = " ".join(change.warnings)
    assert "cannot log in" in text and "no delegated users" in text


@pytest.mark.parametrize(
    ("user", "permission", "error", "text"),
    [
        ("cbdev", "admin", Conflict, "already holds"),
        ("a3", "root", Invalid, "admin or delegate"),
        ("a3", "Admin", Invalid, "admin or delegate"),
        ("ghost", "admin", NotFound, "ghost"),
    ],
)
def test_refused_grant_leaves_database_unchanged(
    sample_db: Database, sample_path: Path, admin: Session, user, permission, error, text
):
    before = file_digest(sample_path)
    with pytest.raises(error, match=text):
        rights.grant(sample_db, admin, user, permission)
    assert file_digest(sample_path) == before


def test_only_admins_change_rights_b_d3(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    before = file_digest(sample_path)
    for role in ("delegate", "user"):
        session = roles[role]
        with pytest.raises(Denied):
            rights.grant(sample_db, session, "a1", "admin")
        with pytest.raises(Denied):
            rights.revoke(sample_db, session, "boss", None)
        with pytest.raises(Denied):
            rights.set_permissions(sample_db, session, "a1", ["delegate"])
        with pytest.raises(Denied):
            rights.add_delegated_user(sample_db, session, "boss", "a3")
        with pytest.raises(Denied):
            rights.add_delegated_expression(sample_db, session, "boss", "%")
        with pytest.raises(Denied):
            rights.remove_delegated_user(sample_db, session, "boss", "a1")
        with pytest.raises(Denied):
            rights.remove_delegated_expression(sample_db, session, "boss", "%@boss.example")
    assert file_digest(sample_path) == before


def test_revoke_one_permission_works_b_u4(sample_db: Database, sample_path: Path, admin: Session):
    change = rights.revoke(sample_db, admin, "spam", ["admin"])
    assert "Revoked admin from spam" in change.message
    assert held(sample_path, "spam") == []


def test_revoke_without_names_removes_all(sample_db: Database, sample_path: Path, admin: Session):
    rights.grant(sample_db, admin, "spam", "delegate")
    rights.revoke(sample_db, admin, "spam", None)
    assert held(sample_path, "spam") == []
    with pytest.raises(NotFound, match="holds no permissions"):
        rights.revoke(sample_db, admin, "spam", None)


def test_revoke_is_all_or_nothing(sample_db: Database, sample_path: Path, admin: Session):
    before = file_digest(sample_path)
    with pytest.raises(NotFound, match="delegate"):
        rights.revoke(sample_db, admin, "spam", ["admin", "delegate"])
    with pytest.raises(NotFound):
        rights.revoke(sample_db, admin, "ghost", None)
    assert file_digest(sample_path) == before


def test_revoke_cleans_up_stray_permission_names(sample_path: Path, admin: Session):
    connection = sqlite3.connect(sample_path)
    with connection:
        connection.execute("INSERT INTO api_access VALUES ('a3', 'superuser')")
    connection.close()
    db = Database(str(sample_path))
    rights.revoke(db, admin, "a3", ["superuser"])
    assert held(sample_path, "a3") == []


def test_set_permissions_makes_the_list_exact(
    sample_db: Database, sample_path: Path, admin: Session
):
    change = rights.set_permissions(sample_db, admin, "spam", ["delegate", "delegate"])
    assert held(sample_path, "spam") == ["delegate"]
    assert change.data["added"] == ["delegate"] and change.data["removed"] == ["admin"]
    unchanged = rights.set_permissions(sample_db, admin, "spam", ["delegate"])
    assert "nothing was changed" in unchanged.message
    rights.set_permissions(sample_db, admin, "spam", [])
    assert held(sample_path, "spam") == []
    with pytest.raises(Invalid, match="admin or delegate"):
        rights.set_permissions(sample_db, admin, "spam", ["admin", "root"])
    assert held(sample_path, "spam") == []


def test_last_admin_cannot_lose_admin_b_u14(empty_db: Database, empty_path: Path, admin: Session):
    users.add_user(empty_db, admin, "root", "pw", rights=["admin"])
    users.add_user(empty_db, admin, "ghost", None, rights=["admin"])
    before = file_digest(empty_path)
    with pytest.raises(Conflict, match="last admin"):
        rights.revoke(empty_db, admin, "root", ["admin"])
    with pytest.raises(Conflict, match="last admin"):
        rights.revoke(empty_db, admin, "root", None)
    with pytest.raises(Conflict, match="last admin"):
        rights.set_permissions(empty_db, admin, "root", ["delegate"])
    assert file_digest(empty_path) == before
    rights.revoke(empty_db, admin, "ghost", None)  # an admin that cannot log in may go
    rights.grant(empty_db, admin, "ghost", "admin")
    users.set_password(empty_db, admin, "ghost", "pw")
    rights.revoke(empty_db, admin, "root", ["admin"])
    assert held(empty_path, "root") == []


def test_admin_changing_its_own_rights_keeps_its_session(
    sample_db: Database, roles: dict[str, Session]
):
    me = roles["admin"]
    other = login(sample_db, "cbdev", "cbdev")
    rights.grant(sample_db, me, "cbdev", "delegate")
    assert [g.permission for g in rights.list_permissions(sample_db, me, "cbdev")] == [
        "admin",
        "delegate",
    ]
    with pytest.raises(SessionEnded):
        rights.list_permissions(sample_db, other)


# --- delegations ------------------------------------------------------------------------------


def test_add_and_remove_user_delegation(sample_db: Database, sample_path: Path, admin: Session):
    change = rights.add_delegated_user(sample_db, admin, "a3", "a1")
    assert any("does not hold the delegate permission" in w for w in change.warnings)
    assert rows(sample_path, "SELECT * FROM api_user_delegates") == [("a3", "a1")]
    privileged = rights.add_delegated_user(sample_db, admin, "a3", "spam")
    assert any("holds rights of its own" in w for w in privileged.warnings)
    rights.remove_delegated_user(sample_db, admin, "a3", "a1")
    assert rows(sample_path, "SELECT * FROM api_user_delegates") == [("a3", "spam")]


@pytest.mark.parametrize(
    ("manager", "managed", "error"),
    [("a3", "a3", Invalid), ("ghost", "a1", NotFound), ("a3", "ghost", NotFound)],
)
def test_refused_user_delegation(
    sample_db: Database, sample_path: Path, admin: Session, manager, managed, error
):
    before = file_digest(sample_path)
    with pytest.raises(error):
        rights.add_delegated_user(sample_db, admin, manager, managed)
    assert file_digest(sample_path) == before


def test_duplicate_and_missing_delegations(sample_db: Database, roles: dict[str, Session]):
    admin = roles["admin"]
    with pytest.raises(Conflict):
        rights.add_delegated_user(sample_db, admin, "boss", "a1")
    with pytest.raises(Conflict):
        rights.add_delegated_expression(sample_db, admin, "boss", "%@boss.example")
    with pytest.raises(NotFound, match="does not manage"):
        rights.remove_delegated_user(sample_db, admin, "boss", "a3")
    with pytest.raises(NotFound, match="no delegated pattern"):
        rights.remove_delegated_expression(sample_db, admin, "boss", "%@other.example")


@pytest.mark.parametrize(
    ("pattern", "warning"),
    [
        ("a_b@example.com", "contains _"),
        ("%example.com", "also matches evil-example.com"),
        ("postmaster%", "also matches postmaster@evil.example"),
        ("info%@boss.example", "already covers"),
    ],
)
def test_expression_delegation_warnings(
    sample_db: Database, roles: dict[str, Session], pattern, warning
):
    change = rights.add_delegated_expression(sample_db, roles["admin"], "boss", pattern)
    assert any(warning in w for w in change.warnings), change.warnings


@pytest.mark.parametrize("pattern", ["%@example.com", "%.example.com", "t%t@kitinfo.de"])
def test_anchored_patterns_draw_no_warning(sample_db: Database, roles: dict[str, Session], pattern):
    change = rights.add_delegated_expression(sample_db, roles["admin"], "boss", pattern)
    assert change.warnings == ()


def test_expression_delegation_to_non_delegate_warns_and_removal_works(
    sample_db: Database, sample_path: Path, admin: Session
):
    change = rights.add_delegated_expression(sample_db, admin, "a3", "%@a3.example")
    assert any("does not hold the delegate permission" in w for w in change.warnings)
    rights.remove_delegated_expression(sample_db, admin, "a3", "%@a3.example")
    assert rows(sample_path, "SELECT count(*) FROM api_address_delegates") == [(0,)]
    with pytest.raises(Invalid):
        rights.add_delegated_expression(sample_db, admin, "a3", "")
