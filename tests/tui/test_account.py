"""My account: a plain user's own record, POP self-service and its own password, and nothing
of anybody else's."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static
from tuikit import PASSWORDS, pop_lock, settle, sql

from core.db import Database
from core.demo import create_demo
from core.passwords import verify
from core.services.popd import UNLOCK_WARNING
from core.session import login
from tui.app import CmailConsole
from tui.screens import account
from tui.screens.account import AccountScreen
from tui.screens.user_forms import FormModal
from tui.widgets.confirm import ConfirmModal

SIZE = (80, 24)


class T(str):
    """Text typed into the focused field at once (pressing it key by key is slow)."""


async def act(pilot: Pilot, *steps: str) -> None:
    """Press keys, and type `T("…")` text into whichever field has the focus then."""
    for step in steps:
        if isinstance(step, T):
            await pilot.pause()
            focused = pilot.app.focused
            assert isinstance(focused, Input), f"typing {step!r} with {focused} focused"
            focused.insert_text_at_cursor(step)
        else:
            await pilot.press(step)
    await pilot.pause()


@pytest.fixture
def demo_path(tmp_path: Path) -> Path:
    """cmail-console's demo database: alice has an address, an alias (al), mail, smtpd, POP."""
    path = tmp_path / "demo.db3"
    create_demo(str(path))
    return path


def alice(console, demo_path: Path) -> CmailConsole:
    return console(demo_path, session=login(Database(str(demo_path)), "alice", "alice"))


async def open_account(app: CmailConsole, pilot: Pilot) -> AccountScreen:
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, AccountScreen)  # where a plain user lands
    return screen


def shown(screen: AccountScreen) -> str:
    """The account grid as plain text, as it would be printed."""
    console = Console(width=300, record=True, file=io.StringIO())  # no wrapping
    console.print(screen.query_one("#account-grid", Static).content)
    return console.export_text()


def keys(app: CmailConsole) -> dict[str, bool]:
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def authdata(path: Path, user: str) -> str | None:
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT user_authdata FROM users WHERE user_name = ?", (user,)
        ).fetchone()
    finally:
        connection.close()
    return row[0]


async def test_plain_user_lands_on_its_own_account(console, demo_path):
    app = alice(console, demo_path)
    async with app.run_test() as pilot:
        screen = await open_account(app, pilot)
        text = shown(screen)
        assert "enabled (a password is set)" in text
        assert "100  alice@example.com" in text  # its own store address …
        assert "bob@example.org" not in text and "example.org" not in text  # … only
        assert "al (their logins act as you)" in text
        assert "3 in the master mailbox (2 unread)" in text
        assert "defined: may send from the addresses" in text
        assert "enabled, maildrop free" in text
        assert [a.route for a in screen.account.addresses.rows] == ["alice"]


async def test_nothing_of_other_users_is_reachable(console, demo_path):
    app = alice(console, demo_path)
    async with app.run_test() as pilot:
        await open_account(app, pilot)
        shown_keys = keys(app)
        assert shown_keys["p"] and shown_keys["x"]
        assert shown_keys["u"] is False  # not locked: dimmed
        assert "e" not in shown_keys  # POP is on already
        await pilot.press("1")  # the Users list shows alice alone
        await settle(pilot)
        assert [u.name for u in app.screen.table.records] == ["alice"]


async def test_unlock_own_pop_after_a_confirm(console, session_for, console_path):
    app = console(session=session_for("plain"))  # the fixture locked plain's maildrop
    async with app.run_test() as pilot:
        screen = await open_account(app, pilot)
        assert "LOCKED (possibly stale): press u to unlock" in shown(screen)
        assert keys(app)["u"]
        await pilot.press("u")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert app.focused is dialog.query_one("#no")
        assert UNLOCK_WARNING in [str(s.content) for s in dialog.query(".dialog-line")]
        await pilot.press("n")
        await settle(pilot)
        assert pop_lock(console_path, "plain") == 1
        await pilot.press("u", "y")
        await settle(pilot)
        assert pop_lock(console_path, "plain") == 0
        assert "enabled, maildrop free" in shown(screen)
        assert keys(app)["u"] is False


async def test_disable_and_enable_own_pop(console, session_for, console_path):
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        screen = await open_account(app, pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert pop_lock(console_path, "plain") is None
        assert "not enabled (no POP entry)" in shown(screen)
        assert keys(app)["e"] and "x" not in keys(app)
        await pilot.press("e")
        await settle(pilot)
        assert pop_lock(console_path, "plain") == 0


async def test_own_password_needs_the_current_one(console, session_for, console_path):
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        await open_account(app, pilot)
        before = authdata(console_path, "plain")
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        assert app.focused.id == "current"
        await act(pilot, "enter", T("new-pw"), "enter", T("new-pw"), "enter")  # no current
        await settle(pilot)
        assert "needs your current password" in str(app.screen.query_one("#form-message").content)
        assert authdata(console_path, "plain") == before
        assert app.focused.id == "current"  # a refusal starts the form over at the top
        await act(pilot, T(PASSWORDS["plain"]), "enter", T("new-pw"), "enter", T("new-pw"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, AccountScreen)
        assert verify(authdata(console_path, "plain"), "new-pw")
        await pilot.press("r")  # still logged in after changing its own password
        await settle(pilot)
        assert app.session is not None and isinstance(app.screen, AccountScreen)


async def test_an_alias_is_told_whose_pop_entry_counts(console, demo_path):
    sql(demo_path, "INSERT INTO popd (pop_user, pop_lock) VALUES ('al', 0)")
    app = console(demo_path, session=login(Database(str(demo_path)), "al", "al"))
    async with app.run_test() as pilot:
        screen = await open_account(app, pilot)
        text = shown(screen)
        assert "alias of alice: your logins act as alice" in text
        assert "your POP logins use alice's entry" in text
        assert "no smtpd entry: may not send mail" in text
        assert "none: no address stores mail for you" in text


async def test_the_account_does_not_wait_for_whole_table_reads(console, demo_path, monkeypatch):
    """The account appears from reads by key; its aliases and its mail need a pass over a
    whole table each, so those two lines say counting… until they arrive."""
    release = threading.Event()
    load_counted = account.load_counted

    def held_back(db, session):
        release.wait(10)
        return load_counted(db, session)

    monkeypatch.setattr(account, "load_counted", held_back)
    app = alice(console, demo_path)
    statements: list[str] = []
    original = app.db.pw.execute_sql

    def record(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(sql, params, *args, **kwargs)

    app.db.pw.execute_sql = record
    async with app.run_test() as pilot:
        for _ in range(200):
            await pilot.pause()
            screen = app.screen
            if isinstance(screen, AccountScreen) and screen.account is not None:
                break
        text = shown(screen)
        assert "100  alice@example.com" in text and "enabled, maildrop free" in text
        assert "Aliases of you       counting…" in text and "Mail                 counting…" in text
        assert not [sql for sql in statements if "mailbox" in sql or '"user_alias" = ?' in sql]
        release.set()
        await settle(pilot)
        text = shown(screen)
        assert "al (their logins act as you)" in text
        assert "3 in the master mailbox (2 unread)" in text
        assert "counting…" not in text


# --- snapshot ---------------------------------------------------------------------------------
def test_my_account(snap_compare, console, demo_path):
    assert snap_compare(alice(console, demo_path), terminal_size=SIZE, run_before=settle)
