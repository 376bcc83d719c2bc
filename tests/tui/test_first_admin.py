"""First start on a database without any admin: offer to create one (core does the work)."""

from __future__ import annotations

import importlib.util

import pytest
from textual.widgets import Input
from tuikit import log_in, settle

from core.access import Role
from tui.screens.first_admin import FirstAdminScreen
from tui.screens.login import LoginScreen
from tui.screens.users import UsersScreen

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("core.services.users") is None
    or importlib.util.find_spec("core.services.rights") is None,
    reason="core.services.users / core.services.rights are not written yet",
)


async def test_first_admin_is_created_then_logs_in(console, empty_path):
    app = console(empty_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FirstAdminScreen)
        await pilot.press(*"boss", "enter", *"s3cret-pw", "enter", *"s3cret-pw", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#user", Input).value == "boss"
        await pilot.press(*"s3cret-pw", "enter")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert app.session.user == "boss" and app.session.role is Role.ADMIN


async def test_mismatched_passwords_are_typed_again(console, empty_path):
    app = console(empty_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press(*"boss", "enter", *"one", "enter", *"two", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FirstAdminScreen)
        assert "differ" in str(app.screen.query_one("#first-admin-message").content)
        assert app.focused is app.screen.query_one("#admin-password", Input)


async def test_escape_skips_to_the_login(console, empty_path):
    app = console(empty_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)


async def test_no_offer_when_an_admin_exists_or_the_file_is_read_only(
    console, empty_path, monkeypatch
):
    import core.db

    monkeypatch.setattr(core.db, "is_writable", lambda path: False)
    app = console(empty_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
    monkeypatch.undo()
    app = console()  # the sample has admins
    async with app.run_test() as pilot:
        await log_in(pilot, "cbdev", "cbdev")
        assert isinstance(app.screen, UsersScreen)
