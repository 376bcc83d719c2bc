"""The demo database: valid for cmail, deterministic, and usable with its three logins."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from cli.main import run
from core.access import Role, Session
from core.db import Database
from core.demo import LOGINS, create_demo
from core.errors import Conflict
from core.services import mailbox
from core.session import login
from core.validation import INBOUND_ROUTERS, OUTBOUND_ROUTERS


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "nested" / "demo.db3"
    info = create_demo(str(path))
    assert info.path == str(path) and info.logins == LOGINS
    return path


def rows(path: Path, statement: str) -> list[tuple]:
    connection = sqlite3.connect(str(path))
    try:
        return connection.execute(statement).fetchall()
    finally:
        connection.close()


def test_opens_and_passes_sqlite_checks(demo: Path) -> None:
    Database(str(demo))
    assert rows(demo, "PRAGMA foreign_key_check") == []
    assert rows(demo, "PRAGMA integrity_check") == [("ok",)]


def test_logins_and_roles(demo: Path) -> None:
    db = Database(str(demo))
    roles = {login.user: login.role for login in LOGINS}
    assert roles == {"admin": "admin", "delegate": "delegate", "alice": "user"}
    for entry in LOGINS:
        assert login(db, entry.user, entry.password).role is Role(entry.role)


def test_delegation(demo: Path) -> None:
    session = login(Database(str(demo)), "delegate", "delegate")
    assert session.managed == frozenset({"bob", "carol", "dave"})
    assert session.expressions == ("%@example.org",)


def test_every_router_and_a_locked_maildrop(demo: Path) -> None:
    inbound = {r for (r,) in rows(demo, "SELECT DISTINCT address_router FROM addresses")}
    outbound = {r for (r,) in rows(demo, "SELECT DISTINCT smtpd_router FROM smtpd")}
    assert inbound == set(INBOUND_ROUTERS) and outbound == set(OUTBOUND_ROUTERS)
    assert rows(demo, "SELECT pop_user, typeof(pop_lock) FROM popd WHERE pop_lock = 1") == [
        ("dave", "integer")
    ]
    handoff = rows(demo, "SELECT address_route FROM addresses WHERE address_router = 'handoff'")
    assert handoff == [("smtp.relay.example.net:587/starttls",)]


def test_catch_all_sits_below_specific_addresses(demo: Path) -> None:
    ((catch_all,),) = rows(
        demo, "SELECT address_order FROM addresses WHERE address_expression = '%@example.org'"
    )
    specific = rows(
        demo,
        "SELECT min(address_order) FROM addresses "
        "WHERE address_expression LIKE '%@example.org' AND address_expression <> '%@example.org'",
    )
    assert catch_all < specific[0][0]
    assert rows(demo, "SELECT count(*) FROM addresses WHERE address_route = ''") == [(0,)]
    stores = rows(
        demo,
        "SELECT address_route FROM addresses LEFT JOIN users ON user_name = address_route "
        "WHERE address_router = 'store' AND user_name IS NULL",
    )
    assert stores == []  # every store route names an existing user, exact case


def test_alias_and_user_database_mail(demo: Path) -> None:
    assert rows(demo, "SELECT user_alias FROM users WHERE user_name = 'al'") == [("alice",)]
    page = mailbox.list_mails(Database(str(demo)), Session.system(), "bob")
    sources = {m.source for m in page.rows}
    assert page.warnings == () and len(sources) == 2 and "master" in sources
    alice = mailbox.list_mails(Database(str(demo)), Session.system(), "alice")
    assert "Hi" in [m.subject for m in alice.rows]


def test_fixed_timestamps(demo: Path, tmp_path: Path) -> None:
    other = tmp_path / "again.db3"
    create_demo(str(other))
    query = "SELECT mail_submission, mail_data FROM mailbox ORDER BY mail_id"
    assert rows(demo, query) == rows(other, query)
    salts = "SELECT user_authdata FROM users WHERE user_authdata IS NOT NULL ORDER BY user_name"
    assert rows(demo, salts) != rows(other, salts)  # only the salts differ


def test_refuses_to_overwrite(demo: Path) -> None:
    before = demo.read_bytes()
    with pytest.raises(Conflict):
        create_demo(str(demo))
    assert demo.read_bytes() == before


def test_cli_creates_then_only_prints(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "demo.db3"
    out = io.StringIO()
    assert run(["demo", str(path)], out=out, err=io.StringIO()) == 0
    assert path.exists() and "Created" in out.getvalue()
    assert "delegate / delegate / delegate" in out.getvalue()
    before = path.read_bytes()
    out = io.StringIO()
    assert run(["demo", str(path)], out=out, err=io.StringIO()) == 0
    assert "Created" not in out.getvalue() and "alice / alice / user" in out.getvalue()
    assert path.read_bytes() == before
