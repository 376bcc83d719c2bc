"""Login sessions in the console: the idle lock, sessions ended by changes made elsewhere, and
the restricted (ssh ForceCommand) console."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from tuikit import PASSWORDS, log_in, settle

from core.access import Session, current_scope
from core.db import Database
from core.errors import SessionEnded
from core.services import rights, users
from core.session import WRONG_CREDENTIALS, login
from tui import app as app_module
from tui.app import CmailConsole, make_app, run_console
from tui.screens.account import AccountScreen
from tui.screens.lock import (
    DEFAULT_IDLE_MINUTES,
    IDLE_ENV,
    LOCK_MODE,
    LockScreen,
    idle_minutes_from_env,
)
from tui.screens.login import LoginScreen
from tui.screens.user_forms import FormModal
from tui.screens.users import UsersScreen

IDLE = 10.0  # minutes, as in production; the tests move a fake clock instead of waiting
ENDED = "changed since login; log in again"  # core's SessionEnded sentence (core/access.py)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def screen_text(app: CmailConsole) -> str:
    """Everything drawn on the terminal right now: the text runs of the SVG export, in order."""
    svg = app.export_screenshot()
    runs = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    return "".join(html.unescape(run) for run in runs).replace("\xa0", " ")


def message(app: CmailConsole, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def idle(pilot: Pilot, clock: FakeClock, minutes: float) -> bool:
    """Let `minutes` pass without input, then run the app's periodic check."""
    clock.advance(minutes)
    locked = pilot.app.idle_lock.check()
    await settle(pilot)
    return locked


async def type_password(pilot: Pilot, password: str) -> None:
    field = pilot.app.screen.query_one("#lock-password", Input)
    assert pilot.app.focused is field
    field.insert_text_at_cursor(password)  # key by key is slow and adds nothing here
    await pilot.press("enter")
    await settle(pilot)


# --- idle lock ---------------------------------------------------------------------------------


async def test_idle_lock_hides_everything_and_the_password_returns_to_the_same_place(
    console, clock
):
    app = console(idle_minutes=IDLE, idle_clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
        users_screen = app.screen
        assert isinstance(users_screen, UsersScreen)
        table = users_screen.query_one(DataTable)
        await pilot.press("down", "down")
        row = table.cursor_row
        assert row == 2 and "kitinfo" in screen_text(app)  # the data is on screen

        assert not await idle(pilot, clock, IDLE - 0.1)  # not yet
        await pilot.press("up")  # input restarts the count
        assert not await idle(pilot, clock, IDLE - 0.1)
        assert await idle(pilot, clock, 0.2)
        assert isinstance(app.screen, LockScreen) and app.current_mode == LOCK_MODE
        drawn = screen_text(app)
        assert "kitinfo" not in drawn  # nothing of the data behind it
        assert "Locked after 10 minutes without input" in drawn and "Password of cbdev" in drawn

        for key in ("1", "2", "ctrl+p", "escape"):  # no way around the lock
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, LockScreen), key
        assert app.focused is app.screen.query_one("#lock-password")

        await type_password(pilot, "not-the-password")
        assert isinstance(app.screen, LockScreen)
        assert message(app, "#lock-message") == WRONG_CREDENTIALS  # the neutral sentence
        assert app.screen.query_one("#lock-password", Input).value == ""

        await type_password(pilot, PASSWORDS["cbdev"])
        assert app.screen is users_screen and app.current_mode == "users"
        assert table.cursor_row == row - 1  # where the user was, the up key included
        assert app.session is not None and app.session.user == "cbdev"
        assert not await idle(pilot, clock, IDLE - 0.1)  # the unlock counts as input
        assert await idle(pilot, clock, 0.2)  # and it locks again later
        assert isinstance(app.screen, LockScreen)


async def test_an_open_dialog_survives_the_lock(console, clock):
    app = console(idle_minutes=IDLE, idle_clock=clock)
    async with app.run_test() as pilot:
        await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
        await pilot.press("a")  # add a user: a form with a half-typed name
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormModal)
        focused = app.focused
        assert isinstance(focused, Input)
        focused.insert_text_at_cursor("half-typed")
        assert await idle(pilot, clock, IDLE + 1)
        assert "half-typed" not in screen_text(app)
        await type_password(pilot, PASSWORDS["cbdev"])
        assert app.screen is form and app.focused is focused and focused.value == "half-typed"


async def test_ctrl_l_on_the_lock_logs_out_and_the_next_login_locks_again(console, clock):
    app = console(idle_minutes=IDLE, idle_clock=clock)
    async with app.run_test() as pilot:
        await log_in(pilot, "deleg", PASSWORDS["deleg"])
        assert await idle(pilot, clock, IDLE + 1)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert not app.idle_lock.check()  # nothing to lock before a login
        await log_in(pilot, "plain", PASSWORDS["plain"])
        assert isinstance(app.screen, AccountScreen)
        assert await idle(pilot, clock, IDLE + 1)  # the lock mode was removed at logout
        assert isinstance(app.screen, LockScreen) and app.screen.user == "plain"
        assert "Password of plain" in screen_text(app)
        await type_password(pilot, PASSWORDS["deleg"])  # the other user's password: no
        assert message(app, "#lock-message") == WRONG_CREDENTIALS
        await type_password(pilot, PASSWORDS["plain"])
        assert isinstance(app.screen, AccountScreen)


async def test_the_login_lockout_applies_on_the_lock_screen(
    console, clock, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CMAIL_CONSOLE_LOCKOUT_ATTEMPTS", "2")
    app = console(idle_minutes=IDLE, idle_clock=clock)
    async with app.run_test() as pilot:
        await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
        assert await idle(pilot, clock, IDLE + 1)
        for _ in range(2):
            await type_password(pilot, "guess")
            assert message(app, "#lock-message") == WRONG_CREDENTIALS
        await type_password(pilot, PASSWORDS["cbdev"])  # right, but too late
        assert "Too many failed logins" in message(app, "#lock-message")
        assert isinstance(app.screen, LockScreen)


async def test_the_real_timer_locks_and_zero_never_does(console):
    locking = console(idle_minutes=0.3 / 60)  # 0.3 s, checked every 0.05 s
    async with locking.run_test() as pilot:
        await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
        await pilot.pause(0.8)
        await settle(pilot)
        assert isinstance(locking.screen, LockScreen)
        assert "Locked after 0.3 seconds without input" in screen_text(locking)
    never = console(idle_minutes=0)
    async with never.run_test() as pilot:
        await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
        await pilot.pause(0.3)
        assert not never.idle_lock.enabled and isinstance(never.screen, UsersScreen)


def test_idle_minutes_come_from_the_environment(console, monkeypatch: pytest.MonkeyPatch):
    assert console().idle_lock.minutes == DEFAULT_IDLE_MINUTES == 10
    monkeypatch.setenv(IDLE_ENV, "3")
    assert console().idle_lock.minutes == 3
    assert console(idle_minutes=1).idle_lock.minutes == 1  # the parameter wins
    for value, minutes in [("0", 0), (" 2.5 ", 2.5), ("ten", 10), ("-1", 10), ("nan", 10)]:
        assert idle_minutes_from_env({IDLE_ENV: value}) == minutes, value


async def test_the_file_system_admin_has_no_password_and_is_not_locked(console, clock):
    app = console(session=Session.system(), idle_minutes=IDLE, idle_clock=clock)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert not await idle(pilot, clock, IDLE * 10)
        assert not isinstance(app.screen, LockScreen)


# --- sessions ended elsewhere ------------------------------------------------------------------


def admin_db(path: Path) -> tuple[Database, Session]:
    """Another console session: the admin cbdev, on its own connection."""
    db = Database(str(path))
    return db, login(db, "cbdev", PASSWORDS["cbdev"])


CHANGES = {
    "password": ("deleg", lambda db, s: users.set_password(db, s, "deleg", "changed-pw")),
    "grant admin": ("plain", lambda db, s: rights.grant(db, s, "plain", "admin")),
    "revoke delegate": ("deleg", lambda db, s: rights.revoke(db, s, "deleg", ["delegate"])),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_change_elsewhere_ends_the_session_at_its_next_action(
    console, console_path, change
):
    user, make_change = CHANGES[change]
    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, user, PASSWORDS[user])
        assert app.session is not None and app.session.user == user
        await pilot.press("r")  # works before the change
        await settle(pilot)
        assert app.session is not None

        db, admin = admin_db(console_path)
        make_change(db, admin)
        await pilot.press("r")  # the next action
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen) and app.session is None
        shown = message(app, "#login-message")
        assert shown == f"The password or rights of {user} changed since login; log in again."
        assert app.current_mode == "gate" and not app.visible_modules()


async def test_a_change_while_locked_ends_the_session_at_the_unlock(console, console_path, clock):
    app = console(idle_minutes=IDLE, idle_clock=clock)
    async with app.run_test() as pilot:
        await log_in(pilot, "deleg", PASSWORDS["deleg"])
        await pilot.press("a")  # a dialog on top: resuming it alone would not re-read rights
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        assert await idle(pilot, clock, IDLE + 1)
        db, admin = admin_db(console_path)
        rights.revoke(db, admin, "deleg", ["delegate"])
        await type_password(pilot, PASSWORDS["deleg"])  # the right password, the old grant
        assert isinstance(app.screen, LoginScreen) and app.session is None
        assert ENDED in message(app, "#login-message")


async def test_own_password_change_keeps_this_session_and_ends_the_others(
    console, console_path, session_for
):
    other = session_for("plain")  # the same user, logged in elsewhere
    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, "plain", PASSWORDS["plain"])
        assert isinstance(app.screen, AccountScreen)
        await pilot.press("p")
        await settle(pilot)
        for value in (PASSWORDS["plain"], "brand-new-pw", "brand-new-pw"):
            focused = app.focused
            assert isinstance(focused, Input)
            focused.insert_text_at_cursor(value)
            await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AccountScreen)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, AccountScreen) and app.session is not None
    db = Database(str(console_path))
    with pytest.raises(SessionEnded, match=ENDED):
        current_scope(db, other)
    assert current_scope(db, login(db, "plain", "brand-new-pw")).user == "plain"


# --- restricted console ------------------------------------------------------------------------


def palette(app: CmailConsole) -> set[str]:
    return {command.title for command in app.get_system_commands(app.screen)}


async def test_restricted_console_offers_no_screenshot_and_no_suspend_anywhere(console):
    app = console(restricted=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        for where in ("login", "admin"):
            assert "Screenshot" not in palette(app), where
            assert "Quit" in palette(app)
            assert "ctrl+z" not in app.screen.active_bindings, where
            assert app.check_action("suspend_process", ()) is False
            assert app.check_action("screenshot", ()) is False
            if where == "login":
                await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
                assert isinstance(app.screen, UsersScreen)


async def test_unrestricted_admin_console_keeps_them(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert "Screenshot" in palette(app) and "ctrl+z" in app.screen.active_bindings
        assert app.check_action("screenshot", ()) is True


def test_the_environment_forces_restricted_mode(console_path, monkeypatch: pytest.MonkeyPatch):
    started: list[CmailConsole] = []
    monkeypatch.setattr(CmailConsole, "run", lambda self, **options: started.append(self))
    run_console(str(console_path), restricted=False)
    monkeypatch.setenv(app_module.RESTRICTED_ENV, "1")
    run_console(str(console_path), restricted=False)  # an argument cannot undo it
    run_console(str(console_path))
    assert [app.restricted for app in started] == [False, True, True]
    assert make_app(str(console_path)).restricted is False  # only run_console reads it
