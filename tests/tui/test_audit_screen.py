"""The Audit screen: the trail newest first, filter, before → after, admins only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tuikit import MARKUP_USER, PASSWORDS, settle

from core.access import Role, Session
from core.db import Database
from core.errors import Denied
from core.services import popd, users
from core.session import login
from tui.modules import visible_modules
from tui.screens.audit import AuditScreen, EntryModal, change_lines
from tui.text import printable

SIZE = (80, 24)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def fixed_now() -> datetime:
    return NOW


@pytest.fixture
def audited(console_path: Path) -> Session:
    """A trail with fixed times: cbdev's login, an unlock, a user added without login, and a
    refused attempt of `plain` on the user whose name is markup. Returns cbdev's session."""
    db = Database(str(console_path), clock=fixed_now)
    admin = login(db, "cbdev", PASSWORDS["cbdev"])
    popd.unlock(db, admin, "user")
    users.add_user(db, Session.system(), "zoe", "zoe-secret-1")
    plain = login(db, "plain", PASSWORDS["plain"])
    with pytest.raises(Denied):
        popd.unlock(db, plain, MARKUP_USER)
    return admin


async def open_audit(app, pilot) -> AuditScreen:
    await settle(pilot)
    await pilot.press("8")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, AuditScreen)
    return screen


def rows(screen: AuditScreen) -> list[list[str]]:
    table = screen.table.table
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_entries_newest_first_and_literal(console, audited):
    app = console(session=audited)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_audit(app, pilot)
        shown = rows(screen)
        assert [row[2] for row in shown] == [
            "popd.unlock",
            "session.login",
            "users.add_user",
            "popd.unlock",
            "session.login",
        ]
        assert shown[0] == ["01-02 03:04", "plain", "popd.unlock", "refused",
                            printable(MARKUP_USER)]  # fmt: skip
        assert shown[2][1:4] == ["(file-system)", "users.add_user", "ok"]
        target = screen.table.table.get_row_at(0)[4]
        assert target.spans == []  # the name's [b] did not become bold
        detail = str(screen.query_one("#audit-detail").content)
        assert detail.startswith("2026-01-02T03:04:05+00:00 · plain (user) · popd.unlock · ")
        assert detail.endswith(" · refused · You (plain, user) may not unlock the maildrop of "
                               + printable(MARKUP_USER) + ".")  # fmt: skip
        assert "\x1b" not in detail


async def test_filter_is_core_search(console, audited):
    app = console(session=audited)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_audit(app, pilot)
        await pilot.press("slash", *"ZOE", "enter")
        await settle(pilot)
        assert [row[2] for row in rows(screen)] == ["users.add_user"]
        await pilot.press("slash", *"nothing like it", "enter")
        await settle(pilot)
        assert "No audit entry contains 'nothing like it'" in str(
            screen.query_one("#empty").content
        )
        await pilot.press("escape")
        await settle(pilot)
        assert len(rows(screen)) == 5


async def test_enter_shows_before_and_after(console, audited):
    app = console(session=audited)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_audit(app, pilot)
        screen.table.table.move_cursor(row=3)  # cbdev's unlock
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, EntryModal)
        assert str(modal.query_one("#entry-text").content) == "locked: true → false"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        screen.table.table.move_cursor(row=0)  # the refusal: nothing was changed
        await pilot.press("o")
        await settle(pilot)
        assert str(app.screen.query_one("#entry-text").content) == (
            "No before or after was recorded (nothing was changed)."
        )
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen


async def test_refresh_shows_new_entries(console, audited, console_path):
    app = console(session=audited)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_audit(app, pilot)
        popd.disable(Database(str(console_path), clock=fixed_now), audited, "plain")
        await pilot.press("r")
        await settle(pilot)
        assert rows(screen)[0][2:] == ["popd.disable", "ok", "plain"]


async def test_coming_back_shows_what_happened_meanwhile(console, audited, console_path):
    app = console(session=audited)
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(app, pilot)
        await pilot.press("1")
        await settle(pilot)
        popd.disable(Database(str(console_path), clock=fixed_now), audited, "plain")
        await pilot.press("8")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert rows(app.screen)[0][2:] == ["popd.disable", "ok", "plain"]


async def test_a_delegate_does_not_get_the_module(console, session_for):
    assert "audit" not in {m.id for m in visible_modules(Role.DELEGATE)}
    assert "audit" not in {m.id for m in visible_modules(Role.USER)}
    app = console(session=session_for("deleg"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        assert not isinstance(app.screen, AuditScreen)
        assert "Audit" not in str(app.screen.query_one("#module-bar").content)


def test_change_lines_per_field_and_whole_values():
    assert change_lines({"login": "enabled"}, {"login": "disabled", "password": "no password"}) == [
        'login: "enabled" → "disabled"',
        'password: — → "no password"',
    ]
    assert change_lines({"alias": None}, {"alias": ""}) == ['alias: null → ""']
    assert change_lines([1], [2]) == ["before: [1]", "after:  [2]"]
    assert change_lines(None, None) == ["No before or after was recorded (nothing was changed)."]


def test_snapshot(snap_compare, console, audited):
    async def audit_screen(pilot):
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)

    app = console(session=audited)
    assert snap_compare(app, terminal_size=SIZE, run_before=audit_screen)
