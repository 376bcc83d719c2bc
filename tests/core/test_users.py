"""The users service on copies of cmail's sample master database, for every role."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from core import passwords
from core.access import Session
from core.db import Database, create_userdb
from core.errors import Conflict, Denied, Invalid, NotFound, SessionEnded, StorageError
from core.services import rights, users
from core.session import login

ALL_USERS = [
    "a1",
    "a2",
    "a3",
    "cbdev",
    "cdbev",
    "foo",
    "foomatic",
    "kitinfo",
    "mpease",
    "nulltest",
    "postmaster",
    "spam",
    "test",
    "user",
]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(path: Path, sql: str, *params: object) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def write(path: Path, sql: str) -> None:
    """A change made behind the console's back, as cmail-admin or a daemon would."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(sql)
    finally:
        connection.close()


def authdata(path: Path, name: str) -> str | None:
    return rows(path, "SELECT user_authdata FROM users WHERE user_name = ?", name)[0][0]


@pytest.fixture
def roles(sample_db: Database, admin: Session) -> dict[str, Session]:
    """Sessions for every role: `boss` is a delegate managing a1 and spam (spam is an admin, so
    boss may see but not act on it); a3 is a plain user; cbdev an admin."""
    users.add_user(sample_db, admin, "boss", "bosspw")
    rights.grant(sample_db, admin, "boss", "delegate")
    rights.add_delegated_user(sample_db, admin, "boss", "a1")
    rights.add_delegated_user(sample_db, admin, "boss", "spam")
    return {
        "admin": login(sample_db, "cbdev", "cbdev"),
        "delegate": login(sample_db, "boss", "bosspw"),
        "user": login(sample_db, "a3", "a3"),
    }


# --- list_users -------------------------------------------------------------------------------


def test_admin_lists_every_user_with_cmail_admins_counts(sample_db: Database, admin: Session):
    page = users.list_users(sample_db, admin, limit=100)
    assert [u.name for u in page.rows] == ALL_USERS
    assert not page.has_more
    cbdev = next(u for u in page.rows if u.name == "cbdev")
    assert (cbdev.addresses, cbdev.mails, cbdev.pop, cbdev.smtpd) == (2, 1, True, True)
    assert cbdev.rights == ("admin",)
    postmaster = next(u for u in page.rows if u.name == "postmaster")
    assert (postmaster.can_login, postmaster.addresses, postmaster.pop) == (False, 1, False)
    kitinfo = next(u for u in page.rows if u.name == "kitinfo")
    assert kitinfo.database == "/home/cbdev/dev/cmail/userdb.db3"


def test_keyset_pages_cover_all_users_in_both_directions(sample_db: Database, admin: Session):
    seen, cursor = [], None
    while True:
        page = users.list_users(sample_db, admin, after=cursor, limit=4)
        seen += [u.name for u in page.rows]
        cursor = page.cursor
        if not page.has_more:
            break
    assert seen == ALL_USERS
    first = users.list_users(sample_db, admin, descending=True, limit=3)
    second = users.list_users(sample_db, admin, descending=True, after=first.cursor, limit=3)
    assert [u.name for u in first.rows + second.rows] == ALL_USERS[::-1][:6]


def test_list_filters_by_like_pattern_and_by_literal_search(sample_db: Database, admin: Session):
    assert [u.name for u in users.list_users(sample_db, admin, "A%").rows] == ["a1", "a2", "a3"]
    assert [u.name for u in users.list_users(sample_db, admin, "foo").rows] == ["foo"]
    assert [u.name for u in users.list_users(sample_db, admin, search="DEV").rows] == ["cbdev"]
    with pytest.raises(Invalid, match="sorted by name"):
        users.list_users(sample_db, admin, sort="mails")


def test_counts_are_queried_for_the_page_names_only(sample_db: Database, admin: Session):
    statements: list[tuple[str, tuple]] = []
    original = sample_db.pw.execute_sql

    def record(sql, params=None, *args, **kwargs):
        statements.append((sql, tuple(params or ())))
        return original(sql, params, *args, **kwargs)

    sample_db.pw.execute_sql = record
    page = users.list_users(sample_db, admin, after="cbdev", limit=2)
    assert [u.name for u in page.rows] == ["cdbev", "foo"]
    counted = [(sql, params) for sql, params in statements if '"mailbox"' in sql]
    assert counted, "the mail count was not queried"
    for sql, params in counted:
        assert " IN " in sql
        assert set(params) <= {"cdbev", "foo"}


def test_list_names_is_list_users_without_the_counts(
    sample_db: Database, admin: Session, roles: dict[str, Session]
):
    """Same users, order, filters and cursors as list_users, with names and rights only; it
    never reads the mailbox (no index on mail_user: every read is a pass over it)."""
    statements = recorded(sample_db)
    for session in (admin, *roles.values()):
        for options in (
            {},
            {"search": "a"},
            {"search": "DEV"},
            {"descending": True},
            {"pattern": "c%"},
            {"limit": 3},
            {"after": "cbdev", "limit": 2},
        ):
            expected = users.list_users(sample_db, session, **options)
            statements.clear()
            names = users.list_names(sample_db, session, **options)
            assert not [sql for sql in statements if "mailbox" in sql]
            assert [(u.name, u.rights) for u in expected.rows] == [
                (u.name, u.rights) for u in names.rows
            ]
            assert (names.cursor, names.has_more) == (expected.cursor, expected.has_more)
    with pytest.raises(Invalid, match="sorted by name"):
        users.list_names(sample_db, admin, sort="mails")


def test_mail_counts_follow_the_page(sample_db: Database, admin: Session, roles):
    """list_users(mails=False) reads no mailbox; mail_totals gives the counts list_users
    would have, and refuses a name the actor may not see."""
    statements = recorded(sample_db)
    page = users.list_users(sample_db, admin, mails=False)
    assert not [sql for sql in statements if "mailbox" in sql]
    assert {user.mails for user in page.rows} == {None}
    names = [user.name for user in page.rows]
    full = users.list_users(sample_db, admin)
    assert users.mail_totals(sample_db, admin, names) == {u.name: u.mails for u in full.rows}
    assert any(full.rows[i].mails for i in range(len(full.rows)))  # the sample has mail
    plain = roles["user"]
    with pytest.raises(Denied):
        users.mail_totals(sample_db, plain, [n for n in names if n != plain.user][:1])


def test_list_by_role(sample_db: Database, roles: dict[str, Session]):
    names = lambda s: [u.name for u in users.list_users(sample_db, s).rows]  # noqa: E731
    assert names(roles["admin"]) == sorted([*ALL_USERS, "boss"])
    assert names(roles["delegate"]) == ["a1", "boss", "spam"]
    assert names(roles["user"]) == ["a3"]


# --- get_user ---------------------------------------------------------------------------------


def test_get_user_shows_sample_oddities(sample_db: Database, admin: Session):
    nulltest = users.get_user(sample_db, admin, "nulltest")
    assert nulltest.login == "ok" and nulltest.shared_with == ("cbdev",)
    broken = users.get_user(sample_db, admin, "user")
    assert broken.login == "malformed" and "65 characters" in broken.login_problem
    assert broken.smtpd_router == "drop" and broken.pop_locked is False
    assert [r.order for r in broken.store_routes] == [200, 4]
    a2 = users.get_user(sample_db, admin, "a2")
    assert (a2.alias, a2.aliased_by) == ("a3", ("a1",))
    assert users.get_user(sample_db, admin, "foo").login == "disabled"


def test_get_user_rights_by_role(sample_db: Database, roles: dict[str, Session]):
    boss = users.get_user(sample_db, roles["admin"], "boss")
    assert boss.managed == ("a1", "spam") and boss.rights == ("delegate",)
    assert users.get_user(sample_db, roles["delegate"], "a1").managers == ("boss",)
    assert users.get_user(sample_db, roles["user"], "a3").name == "a3"
    with pytest.raises(Denied):
        users.get_user(sample_db, roles["delegate"], "cbdev")
    with pytest.raises(Denied):
        users.get_user(sample_db, roles["user"], "a2")


def recorded(db: Database) -> list[str]:
    """The SQL statements `db` runs from now on (within this test)."""
    statements: list[str] = []
    original = db.pw.execute_sql

    def record(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(sql, params, *args, **kwargs)

    db.pw.execute_sql = record
    return statements


def share_password(path: Path, source: str, *targets: str) -> None:
    connection = sqlite3.connect(path)
    with connection:
        for target in targets:
            connection.execute(
                "UPDATE users SET user_authdata = "
                "(SELECT user_authdata FROM users WHERE user_name = ?) WHERE user_name = ?",
                (source, target),
            )
    connection.close()


def _reads_passwords(sql: str) -> bool:
    return 'FROM "users"' in sql and '"user_authdata" = ?' in sql


def test_shared_passwords_are_read_only_among_users_the_actor_may_see(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    """A plain user may see no other user, so its detail reads no other password entry; a
    delegate's reads its own users' entries by key; only an admin's reads the whole table."""
    share_password(sample_path, "a3", "a1", "spam")
    statements = recorded(sample_db)
    assert users.get_user(sample_db, roles["user"], "a3").shared_with == ()
    assert not [sql for sql in statements if _reads_passwords(sql)]
    assert users.user_links(sample_db, roles["user"], "a3").shared_with == ()
    assert not [sql for sql in statements if _reads_passwords(sql)]

    statements.clear()
    assert users.get_user(sample_db, roles["delegate"], "a1").shared_with == ("spam",)
    read = [sql for sql in statements if _reads_passwords(sql)]
    assert read and all('"user_name" IN (' in sql for sql in read)

    statements.clear()
    assert users.get_user(sample_db, roles["admin"], "a1").shared_with == ("a3", "spam")
    assert users.get_user(sample_db, roles["admin"], "a3").shared_with == ("a1", "spam")


def test_an_admins_whole_table_facts_take_one_pass(sample_db: Database, admin: Session):
    """Who shares the password entry and who is an alias: one pass over users, not two."""
    statements = recorded(sample_db)
    a2 = users.get_user(sample_db, admin, "a2")
    assert a2.aliased_by == ("a1",)
    passes = [s for s in statements if _reads_passwords(s) or '"user_alias" = ?' in s]
    assert len(passes) == 1


def test_get_user_without_whole_table_reads_by_key_only(
    sample_db: Database, sample_path: Path, admin: Session, roles: dict[str, Session]
):
    share_password(sample_path, "a3", "a1", "spam")
    sessions = {**roles, "system": admin}
    for role, session in sessions.items():
        for name in [u.name for u in users.list_users(sample_db, session, limit=100).rows]:
            statements = recorded(sample_db)
            cheap = users.get_user(sample_db, session, name, whole_table=False)
            scans = [
                sql
                for sql in statements
                if "mailbox" in sql or '"user_alias" = ?' in sql or _reads_passwords(sql)
            ]
            assert scans == [], (role, name)
            assert (cheap.shared_with, cheap.aliased_by, cheap.mails) == (None, None, None)
            full = users.get_user(sample_db, session, name)
            links = users.user_links(sample_db, session, name)
            assert (links.name, links.shared_with, links.aliased_by) == (
                name,
                full.shared_with,
                full.aliased_by,
            )
            whole = replace(
                cheap, shared_with=full.shared_with, aliased_by=full.aliased_by, mails=full.mails
            )
            assert whole == full, (role, name)


def test_user_links_refuses_what_get_user_refuses(sample_db: Database, roles: dict[str, Session]):
    for session, name in ((roles["delegate"], "cbdev"), (roles["user"], "a2")):
        for call in (users.get_user, users.user_links):
            with pytest.raises(Denied):
                call(sample_db, session, name)
    with pytest.raises(NotFound, match="nobody"):
        users.user_links(sample_db, roles["admin"], "nobody")


def test_get_unknown_user_is_not_found(sample_db: Database, admin: Session):
    with pytest.raises(NotFound, match="nobody"):
        users.get_user(sample_db, admin, "nobody")


# --- add_user ---------------------------------------------------------------------------------


def test_admin_adds_user_with_password_rights_and_alias(
    sample_db: Database, sample_path: Path, admin: Session
):
    change = users.add_user(sample_db, admin, "dave", "pw", rights=["delegate"], alias="cbdev")
    assert "dave" in change.message
    assert passwords.verify(authdata(sample_path, "dave"), "pw")
    assert rows(sample_path, "SELECT user_alias FROM users WHERE user_name='dave'") == [("cbdev",)]
    assert rows(sample_path, "SELECT api_permission FROM api_access WHERE api_user='dave'") == [
        ("delegate",)
    ]


def test_empty_password_is_stored_as_null(sample_db: Database, sample_path: Path, admin: Session):
    change = users.add_user(sample_db, admin, "nologin", "")
    assert authdata(sample_path, "nologin") is None
    assert "disabled" in change.message


def test_add_warns_about_odd_names(sample_db: Database, admin: Session):
    assert any("all digits" in w for w in users.add_user(sample_db, admin, "007").warnings)
    assert any("reserved" in w for w in users.add_user(sample_db, admin, "Main").warnings)
    assert any("wildcards" in w for w in users.add_user(sample_db, admin, "a_b").warnings)
    assert any("letter case" in w for w in users.add_user(sample_db, admin, "CBDEV").warnings)


@pytest.mark.parametrize(
    ("name", "password", "error"),
    [
        ("cbdev", "x", Conflict),
        ("", "x", Invalid),
        ("   ", "x", Invalid),
        ("bad\x1bname", "x", Invalid),
        ("ok", "nul\x00byte", Invalid),
        ("ok", "x" * 257, Invalid),
    ],
)
def test_refused_add_leaves_database_unchanged(
    sample_db: Database, sample_path: Path, admin: Session, name, password, error
):
    before = file_digest(sample_path)
    with pytest.raises(error):
        users.add_user(sample_db, admin, name, password)
    assert file_digest(sample_path) == before


def test_add_with_unknown_alias_target_is_not_found(
    sample_db: Database, sample_path: Path, admin: Session
):
    before = file_digest(sample_path)
    with pytest.raises(NotFound, match="alias target"):
        users.add_user(sample_db, admin, "dave", "pw", alias="ghost")
    assert file_digest(sample_path) == before


def test_delegate_creates_user_that_it_then_manages_b_u1(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    change = users.add_user(sample_db, roles["delegate"], "newbie", "pw")
    assert "boss manages it" in change.message
    assert rows(
        sample_path, "SELECT api_user FROM api_user_delegates WHERE api_delegate='newbie'"
    ) == [("boss",)]
    # The delegate's scope is read afresh: it may act on the new user at once.
    users.set_password(sample_db, roles["delegate"], "newbie", "other")
    assert passwords.verify(authdata(sample_path, "newbie"), "other")


@pytest.mark.parametrize("extra", [{"rights": ["admin"]}, {"alias": "a1"}])
def test_delegate_may_not_grant_rights_or_alias_on_add(
    sample_db: Database, sample_path: Path, roles: dict[str, Session], extra
):
    before = file_digest(sample_path)
    with pytest.raises(Denied):
        users.add_user(sample_db, roles["delegate"], "newbie", "pw", **extra)
    assert file_digest(sample_path) == before


def test_plain_user_may_not_create_users(sample_db: Database, roles: dict[str, Session]):
    with pytest.raises(Denied, match="create users"):
        users.add_user(sample_db, roles["user"], "newbie", "pw")


# --- delete -----------------------------------------------------------------------------------


def test_preview_lists_cascade_and_dangling_store_routes(sample_db: Database, admin: Session):
    preview = users.delete_preview(sample_db, admin, "cbdev")
    assert (preview.mails, preview.smtpd, preview.pop, preview.rights) == (
        1,
        True,
        True,
        ("admin",),
    )
    assert preview.aliased_by == ("cdbev",)
    assert [(r.order, r.expression) for r in preview.dangling_routes] == [
        (201, "cbdev@kitinfo.de"),
        (2, "%@cbcdn.com"),
    ]
    kitinfo = users.delete_preview(sample_db, admin, "kitinfo")
    assert any("not deleted" in note for note in kitinfo.notes)


def test_delete_cascades_and_reports_dangling_routes(
    sample_db: Database, sample_path: Path, admin: Session
):
    change = users.delete_user(sample_db, admin, "cbdev")
    assert "1 mail in the master mailbox" in change.message and "cdbev" in change.message
    assert any("201 cbdev@kitinfo.de" in w for w in change.warnings)
    for table, column in [
        ("mailbox", "mail_user"),
        ("smtpd", "smtpd_user"),
        ("popd", "pop_user"),
        ("api_access", "api_user"),
    ]:
        assert rows(sample_path, f"SELECT count(*) FROM {table} WHERE {column}='cbdev'") == [(0,)]
    assert rows(sample_path, "SELECT user_alias FROM users WHERE user_name='cdbev'") == [(None,)]
    # Store routes are not foreign keys: they stay, as reported.
    assert rows(sample_path, "SELECT count(*) FROM addresses WHERE address_route='cbdev'") == [(2,)]


def test_delete_with_its_store_rules(sample_db: Database, sample_path: Path, admin: Session):
    change = users.delete_user(sample_db, admin, "cbdev", store_rules=users.SettledRules())
    assert "Its store rules were deleted too: 201 cbdev@kitinfo.de, 2 %@cbcdn.com." in (
        change.message
    )
    assert not any("dangle" in w for w in change.warnings)
    assert rows(sample_path, "SELECT count(*) FROM addresses WHERE address_order IN (201, 2)") == [
        (0,)
    ]
    entry = sample_db.audit.entries(limit=1).rows[0]
    assert entry.after == {"store_rules": {"deleted": [201, 2]}}


def test_delete_moving_its_store_rules_to_another_user(
    sample_db: Database, sample_path: Path, admin: Session
):
    change = users.delete_user(sample_db, admin, "cbdev", store_rules=users.SettledRules("mpease"))
    assert "Its store rules now store to mpease: 201 cbdev@kitinfo.de, 2 %@cbcdn.com." in (
        change.message
    )
    moved = "SELECT address_route FROM addresses WHERE address_order IN (201, 2)"
    assert rows(sample_path, moved) == [("mpease",), ("mpease",)]


@pytest.mark.parametrize(
    ("to", "error", "sentence"),
    [
        ("nobody", Invalid, "there is no user 'nobody'"),
        ("Mpease", Invalid, "did you mean 'mpease'"),
        ("cbdev", Invalid, "cannot go to cbdev, the user being deleted"),
        ("", Invalid, "store"),
    ],
)
def test_delete_refuses_a_bad_store_rule_target_and_changes_nothing(
    sample_db: Database, sample_path: Path, admin: Session, to: str, error: type, sentence: str
):
    before = file_digest(sample_path)
    with pytest.raises(error, match=re.escape(sentence)):
        users.delete_user(sample_db, admin, "cbdev", store_rules=users.SettledRules(to))
    assert file_digest(sample_path) == before


def test_a_delegate_settles_store_rules_inside_its_expressions_only(
    sample_db: Database, sample_path: Path, admin: Session, roles: dict[str, Session]
):
    """Rule by rule, as deleting each alone would be checked: one rule outside the delegate's
    expressions refuses the whole deletion, and nothing changes."""
    rights.add_delegated_expression(sample_db, admin, "boss", "%@boss.example")
    users.set_alias(sample_db, admin, "a1", None)
    write(sample_path, "INSERT INTO addresses VALUES ('a1@boss.example', 300, 'store', 'a1')")
    write(sample_path, "INSERT INTO addresses VALUES ('a1@else.example', 301, 'store', 'a1')")
    before = file_digest(sample_path)
    with pytest.raises(Denied, match="rule 301"):
        users.delete_user(sample_db, roles["delegate"], "a1", store_rules=users.SettledRules())
    assert file_digest(sample_path) == before
    write(sample_path, "DELETE FROM addresses WHERE address_order = 301")
    users.delete_user(sample_db, roles["delegate"], "a1", store_rules=users.SettledRules())
    left = "SELECT count(*) FROM addresses WHERE address_route = 'a1'"
    assert rows(sample_path, left) == [(0,)]


def test_delete_refusals_leave_database_unchanged(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    before = file_digest(sample_path)
    with pytest.raises(Denied, match="your own account"):
        users.delete_user(sample_db, roles["admin"], "cbdev")
    with pytest.raises(Denied):
        users.delete_user(sample_db, roles["delegate"], "cbdev")  # not managed
    with pytest.raises(Denied):
        users.delete_user(sample_db, roles["delegate"], "spam")  # managed but an admin
    with pytest.raises(Denied):
        users.delete_user(sample_db, roles["user"], "a3")
    with pytest.raises(NotFound):
        users.delete_user(sample_db, roles["admin"], "nobody")
    assert file_digest(sample_path) == before


def test_delegate_deletes_managed_user(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    users.set_alias(sample_db, Session.system(), "a1", None)  # see the test below for aliases
    users.delete_user(sample_db, roles["delegate"], "a1")
    assert rows(sample_path, "SELECT count(*) FROM users WHERE user_name='a1'") == [(0,)]


def test_delegate_cannot_act_on_a_managed_alias_of_an_unmanaged_user(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    """a1 is an alias of a2, whom boss does not manage: cmail logs a1 in as a2, so setting a1's
    password would let boss act as a2."""
    before = sample_path.read_bytes()
    with pytest.raises(Denied):
        users.set_password(sample_db, roles["delegate"], "a1", "x")
    with pytest.raises(Denied):
        users.delete_user(sample_db, roles["delegate"], "a1")
    assert sample_path.read_bytes() == before


def test_last_admin_who_can_log_in_cannot_be_deleted_b_u14(empty_db: Database, admin: Session):
    users.add_user(empty_db, admin, "root", "pw", rights=["admin"])
    users.add_user(empty_db, admin, "ghost", None, rights=["admin"])  # admin, but no login
    with pytest.raises(Conflict, match="last admin"):
        users.delete_user(empty_db, admin, "root")
    users.delete_user(empty_db, admin, "ghost")  # removing an admin nobody can use is fine
    users.add_user(empty_db, admin, "second", "pw", rights=["admin"])
    users.delete_user(empty_db, admin, "root")


# --- passwords --------------------------------------------------------------------------------


def test_admin_sets_and_revokes_passwords(sample_db: Database, sample_path: Path, admin: Session):
    users.set_password(sample_db, admin, "a3", "fresh")
    assert passwords.verify(authdata(sample_path, "a3"), "fresh")
    users.set_password(sample_db, admin, "a3", "")
    assert authdata(sample_path, "a3") is None
    change = users.set_password(sample_db, admin, "nulltest", "own")
    assert any("cbdev" in w for w in change.warnings)
    assert passwords.verify(authdata(sample_path, "cbdev"), "cbdev")


def test_set_password_of_unknown_user_is_not_found_b_u11(
    sample_db: Database, sample_path: Path, admin: Session
):
    before = file_digest(sample_path)
    with pytest.raises(NotFound):
        users.set_password(sample_db, admin, "nobody", "pw")
    with pytest.raises(Invalid, match="NUL"):
        users.set_password(sample_db, admin, "a3", "a\x00b")
    assert file_digest(sample_path) == before


def test_plain_user_changes_own_password_and_keeps_session_b_u6(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    me = roles["user"]
    other_session = login(sample_db, "a3", "a3")
    users.set_password(sample_db, me, "a3", "new-a3", current="a3")
    assert passwords.verify(authdata(sample_path, "a3"), "new-a3")
    assert users.get_user(sample_db, me, "a3").name == "a3"  # the acting session stays valid
    with pytest.raises(SessionEnded):
        users.get_user(sample_db, other_session, "a3")


def test_own_password_change_needs_the_current_one(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    before = file_digest(sample_path)
    with pytest.raises(Denied, match="current password"):
        users.set_password(sample_db, roles["user"], "a3", "new")
    with pytest.raises(Denied, match="current password"):
        users.set_password(sample_db, roles["user"], "a3", "new", current="wrong")
    with pytest.raises(Denied, match="own login"):
        users.set_password(sample_db, roles["user"], "a3", "", current="a3")
    with pytest.raises(Denied):
        users.set_password(sample_db, roles["user"], "a2", "new")
    assert file_digest(sample_path) == before


def test_delegate_sets_password_of_managed_user_only(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    users.set_alias(sample_db, Session.system(), "a1", None)
    users.set_password(sample_db, roles["delegate"], "a1", "x")
    assert passwords.verify(authdata(sample_path, "a1"), "x")
    with pytest.raises(Denied):
        users.set_password(sample_db, roles["delegate"], "spam", "x")


def test_revoke_login(sample_db: Database, sample_path: Path, roles: dict[str, Session]):
    users.revoke_login(sample_db, roles["admin"], "a2")
    assert authdata(sample_path, "a2") is None
    with pytest.raises(Denied, match="own login"):
        users.revoke_login(sample_db, roles["admin"], "cbdev")
    with pytest.raises(Denied):
        users.revoke_login(sample_db, roles["user"], "a1")


def test_last_admin_keeps_its_login(empty_db: Database, admin: Session):
    users.add_user(empty_db, admin, "root", "pw", rights=["admin"])
    with pytest.raises(Conflict, match="last admin"):
        users.revoke_login(empty_db, admin, "root")
    with pytest.raises(Conflict, match="last admin"):
        users.set_password(empty_db, admin, "root", "")


# --- aliases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [None, "", "cdbev"])
def test_alias_can_be_cleared_b_u13(sample_db: Database, sample_path: Path, admin: Session, target):
    change = users.set_alias(sample_db, admin, "cdbev", target)
    assert "no longer an alias of cbdev" in change.message
    assert rows(sample_path, "SELECT user_alias FROM users WHERE user_name='cdbev'") == [(None,)]


def test_alias_warnings_for_chains_cycles_and_store_routes(sample_db: Database, admin: Session):
    change = users.set_alias(sample_db, admin, "a3", "a1")
    text = " ".join(change.warnings)
    assert "a1 is itself an alias of a2" in text
    assert "cycle (a3 → a1 → a2 → a3)" in text
    routed = users.set_alias(sample_db, admin, "mpease", "a3")
    assert any("203 mpease@kitinfo.de" in w for w in routed.warnings)


def test_alias_refusals(sample_db: Database, sample_path: Path, roles: dict[str, Session]):
    before = file_digest(sample_path)
    with pytest.raises(NotFound, match="alias target"):
        users.set_alias(sample_db, roles["admin"], "a3", "ghost")
    with pytest.raises(Denied):
        users.set_alias(sample_db, roles["delegate"], "a1", None)
    assert file_digest(sample_path) == before


# --- user databases ---------------------------------------------------------------------------


def test_set_and_clear_user_database(
    sample_db: Database, sample_path: Path, admin: Session, userdb_path: Path
):
    change = users.set_user_database(sample_db, admin, "a3", str(userdb_path))
    assert any("not moved" in w for w in change.warnings)
    assert rows(sample_path, "SELECT user_database FROM users WHERE user_name='a3'") == [
        (str(userdb_path),)
    ]
    users.set_user_database(sample_db, admin, "kitinfo", "")
    assert rows(sample_path, "SELECT user_database FROM users WHERE user_name='kitinfo'") == [
        (None,)
    ]


def test_fresh_user_database_from_create_userdb_is_accepted(
    sample_db: Database, admin: Session, tmp_path: Path
):
    target = tmp_path / "fresh.db3"
    create_userdb(str(target))
    assert "fresh.db3" in users.set_user_database(sample_db, admin, "a3", str(target)).message


def _bad_userdbs(tmp_path: Path, master: Path) -> dict[str, tuple[str, str]]:
    text = tmp_path / "text.db3"
    text.write_text("hello")
    empty = tmp_path / "nomailbox.db3"
    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.close()
    narrow = tmp_path / "narrow.db3"
    sqlite3.connect(narrow).execute("CREATE TABLE mailbox (mail_id, mail_user)").connection.close()
    zero = tmp_path / "zero.db3"
    zero.write_bytes(b"")
    strict = tmp_path / "strict.db3"
    sqlite3.connect(strict).execute(
        "CREATE TABLE mailbox (mail_id INTEGER PRIMARY KEY, mail_user, mail_ident, "
        "mail_envelopeto, mail_envelopefrom, mail_submission, mail_submitter, mail_proto, "
        "mail_data, mail_flag TEXT NOT NULL)"
    ).connection.close()
    return {
        "relative": ("userdb.db3", "must be an absolute path"),
        "missing": (str(tmp_path / "missing.db3"), "does not exist; cmail-smtpd would refuse"),
        "directory": (str(tmp_path), "is a directory"),
        "text": (str(text), "not an SQLite database"),
        "empty": (str(zero), "is empty, so it has no mailbox table"),
        "no mailbox": (str(empty), "no mailbox table"),
        "narrow": (str(narrow), "without mail_ident"),
        "master": (str(master), "master database itself"),
        "not null": (str(strict), "requires mail_flag, which cmail-smtpd never fills"),
    }


BAD_USERDBS = (
    "relative",
    "missing",
    "directory",
    "text",
    "empty",
    "no mailbox",
    "narrow",
    "master",
    "not null",
)


@pytest.mark.parametrize("case", BAD_USERDBS)
def test_unusable_user_database_is_refused_with_the_reason(
    sample_db: Database, sample_path: Path, admin: Session, tmp_path: Path, case
):
    path, reason = _bad_userdbs(tmp_path, sample_path)[case]
    before = file_digest(sample_path)
    with pytest.raises(Invalid, match=reason):
        users.set_user_database(sample_db, admin, "a3", path)
    assert file_digest(sample_path) == before


def test_only_admins_set_user_databases(
    sample_db: Database, roles: dict[str, Session], userdb_path: Path
):
    with pytest.raises(Denied):
        users.set_user_database(sample_db, roles["delegate"], "a1", str(userdb_path))


# --- rename -----------------------------------------------------------------------------------


def test_rename_cascades_and_retargets_store_routes(
    sample_db: Database, sample_path: Path, admin: Session
):
    change = users.rename_user(sample_db, admin, "cbdev", "cb")
    assert "2 store routes retargeted" in change.message
    assert rows(
        sample_path, "SELECT address_order FROM addresses WHERE address_route='cb' ORDER BY 1"
    ) == [(2,), (201,)]
    assert rows(sample_path, "SELECT count(*) FROM addresses WHERE address_route='cbdev'") == [(0,)]
    assert rows(sample_path, "SELECT mail_user FROM mailbox") == [("cb",)]
    assert rows(sample_path, "SELECT user_alias FROM users WHERE user_name='cdbev'") == [("cb",)]
    for table, column in [
        ("smtpd", "smtpd_user"),
        ("popd", "pop_user"),
        ("api_access", "api_user"),
    ]:
        assert rows(sample_path, f"SELECT count(*) FROM {table} WHERE {column}='cb'") == [(1,)]


def test_rename_is_one_transaction(
    sample_db: Database, sample_path: Path, admin: Session, monkeypatch: pytest.MonkeyPatch
):
    def broken_update(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    before = file_digest(sample_path)
    monkeypatch.setattr(users.Address, "update", broken_update)
    with pytest.raises(StorageError):
        users.rename_user(sample_db, admin, "cbdev", "cb")
    assert file_digest(sample_path) == before


def test_rename_refusals_and_warnings(
    sample_db: Database, sample_path: Path, roles: dict[str, Session]
):
    before = file_digest(sample_path)
    with pytest.raises(Conflict):
        users.rename_user(sample_db, roles["admin"], "a1", "a2")
    with pytest.raises(NotFound):
        users.rename_user(sample_db, roles["admin"], "ghost", "x")
    with pytest.raises(Invalid):
        users.rename_user(sample_db, roles["admin"], "a1", "a1")
    with pytest.raises(Denied):
        users.rename_user(sample_db, roles["delegate"], "a1", "x")
    assert file_digest(sample_path) == before
    change = users.rename_user(sample_db, roles["admin"], "kitinfo", "kit")
    assert any("keeps mail_user kitinfo" in w for w in change.warnings)


def test_admin_renaming_itself_keeps_its_session(sample_db: Database, roles: dict[str, Session]):
    me = roles["admin"]
    users.rename_user(sample_db, me, "cbdev", "chief")
    assert me.user == "chief"
    assert users.get_user(sample_db, me, "chief").rights == ("admin",)
