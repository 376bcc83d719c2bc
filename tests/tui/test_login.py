"""Logging in and out: the role decides every screen after, refusals are one neutral sentence."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static
from tuikit import PASSWORDS, log_in, settle, sql

from core.access import Role
from core.session import WRONG_CREDENTIALS
from tui.screens.account import AccountScreen
from tui.screens.login import LoginScreen
from tui.screens.users import UsersScreen


def login_message(app) -> str:
    return str(app.screen.query_one("#login-message", Static).content)


@pytest.mark.parametrize(
    ("name", "role", "rows"),
    [
        ("cbdev", Role.ADMIN, None),  # None: every user
        ("deleg", Role.DELEGATE, {"deleg", "plain", "kitinfo"}),  # self + managed
    ],
)
async def test_staff_land_on_the_users_they_may_see(console, name, role, rows):
    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.focused is app.screen.query_one("#user", Input)
        await log_in(pilot, name, PASSWORDS[name])
        assert isinstance(app.screen, UsersScreen)
        assert app.session is not None and app.session.role is role
        shown = {user.name for user in app.screen.table.records}
        if rows is None:
            assert {"cbdev", "kitinfo", "user", "plain", "deleg", "a2", "foo"} <= shown
        else:
            assert shown == rows


async def test_a_plain_user_lands_on_its_own_account(console):
    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, "plain", PASSWORDS["plain"])
        assert isinstance(app.screen, AccountScreen)
        assert app.session is not None and app.session.role is Role.USER


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("cbdev", "wrong"),  # wrong password
        ("nobody", "cbdev"),  # no such user
        ("postmaster", ""),  # NULL authdata: login disabled
        ("foomatic", "x"),  # NULL authdata
    ],
)
async def test_refusals_are_one_neutral_sentence(console, name, password):
    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, name, password)
        assert isinstance(app.screen, LoginScreen)
        assert app.session is None
        assert login_message(app) == WRONG_CREDENTIALS
        assert app.screen.query_one("#password", Input).value == ""  # not kept in a widget
        assert app.focused is app.screen.query_one("#password", Input)
        assert not app._notifications  # inline only: no second message


async def test_logout_returns_to_an_empty_login(console):
    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, "cbdev", "cbdev")
        assert isinstance(app.screen, UsersScreen)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.session is None
        assert app.screen.query_one("#user", Input).value == ""
        assert login_message(app) == "Logged out."
        assert "pop" not in app._modes  # the user's screens are gone
        # and the next user gets their own view, not the previous one's
        await log_in(pilot, "plain", PASSWORDS["plain"])
        assert isinstance(app.screen, AccountScreen)
        assert app.session.user == "plain"


async def test_login_as_prefills_the_user_and_focuses_the_password(console):
    app = console(login_as="cbdev")
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.screen.query_one("#user", Input).value == "cbdev"
        assert app.focused is app.screen.query_one("#password", Input)
        await pilot.press(*"cbdev", "enter")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)


async def test_a_changed_password_ends_the_session(console, console_path):
    """Core re-reads rights on every call: a session whose password changed goes back to login."""
    from core.passwords import hash_password

    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, "cbdev", "cbdev")
        sql(
            console_path,
            "UPDATE users SET user_authdata = ? WHERE user_name = 'cbdev'",
            hash_password("new"),
        )
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert app.session is None
        assert "log in again" in login_message(app)


async def test_typeahead_never_puts_the_password_into_the_user_field(console):
    """Over a slow ssh link (or from a password manager) the whole `name⏎password⏎` arrives at
    once: every key after the first Enter belongs to the password field."""
    from textual import events

    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        burst = [*"plain", "enter", *PASSWORDS["plain"], "enter"]
        for key in burst:
            app.post_message(events.Key(key, "\r" if key == "enter" else key))
        await settle(pilot)
        assert app.session is not None and app.session.user == "plain"


async def test_typeahead_with_tab_between_the_fields(console):
    """Password managers type `name⇥password⏎`: the keys after the Tab belong to the password
    field, though Tab (like Enter) is a binding that Textual runs after they were handled."""
    from textual import events

    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        burst = [*"plain", "tab", *PASSWORDS["plain"], "enter"]
        for key in burst:
            character = {"tab": "\t", "enter": "\r"}.get(key, key)
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.session is not None and app.session.user == "plain"


async def test_typeahead_with_a_wrong_password_shows_no_password(console):
    from textual import events

    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        for key in [*"cbdev", "enter", *"s3cret", "backspace", "enter"]:
            app.post_message(
                events.Key(key, "\r" if key == "enter" else None if key == "backspace" else key)
            )
        await settle(pilot)
        assert app.screen.query_one("#user", Input).value == "cbdev"
        assert login_message(app) == WRONG_CREDENTIALS
