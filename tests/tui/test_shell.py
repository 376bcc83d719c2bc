"""The app shell: problem screen, read-only files, help, palette, restricted mode, options."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Input, Static
from tuikit import PASSWORDS, log_in, settle

import core.db
from tui.app import CmailConsole, make_app
from tui.modules import MODULES, visible_modules
from tui.screens.help import HelpScreen
from tui.screens.login import LoginScreen
from tui.screens.pop_locks import PopLocksScreen
from tui.screens.problem import ProblemScreen


def problem_text(app: CmailConsole) -> str:
    return " ".join(str(widget.content) for widget in app.screen.query(Static))


def broken_files(tmp_path: Path, sample_path: Path) -> dict[str, tuple[Path, str]]:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database\n" * 10)
    old = tmp_path / "old.db3"
    old.write_bytes(sample_path.read_bytes())
    connection = sqlite3.connect(old)
    with connection:
        connection.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    connection.close()
    return {
        "missing": (tmp_path / "nowhere.db3", "cmail-console init"),
        "not sqlite": (text_file, "is not an SQLite database"),
        "wrong version": (old, "schema version 8"),
    }


@pytest.mark.parametrize("case", ["missing", "not sqlite", "wrong version"])
async def test_problem_screen_says_what_is_wrong_and_q_quits(tmp_path, sample_path, case):
    path, expected = broken_files(tmp_path, sample_path)[case]
    app = make_app(str(path))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ProblemScreen)
        text = problem_text(app)
        assert expected in text
        assert "-d PATH" in text and "CMAIL_MASTER_DB" in text  # how to open another one
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 11  # like the command line's schema error


async def test_read_only_file_shows_a_badge_and_no_write_keys(
    console, session_for, monkeypatch: pytest.MonkeyPatch
):
    session = session_for("cbdev")
    monkeypatch.setattr(core.db, "is_writable", lambda path: False)  # root may write anything
    app = console(session=session)
    assert app.read_only
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, PopLocksScreen)
        badge = app.screen.query_one("#read-only-badge", Static)
        assert badge.display and str(badge.content) == "READ-ONLY"
        shown = set(app.screen.active_bindings)
        assert {"e", "x", "u"}.isdisjoint(shown)
        assert {"r", "slash"} <= shown  # reading still works


async def test_writable_file_has_no_badge(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#read-only-badge").display


async def test_help_lists_every_key_of_the_screen(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys")
        rows = [tuple(cell.plain for cell in table.get_row_at(i)) for i in range(table.row_count)]
        described = {does for _, does, _ in rows}
        for expected in ("Enable", "Disable", "Unlock", "Refresh", "Filter", "Log out", "Help"):
            assert expected in described or f"{expected} (not now)" in described
        assert ("f1 ?", "Help", "everywhere") in rows
        assert ("5", "POP locks", "everywhere") in rows
        assert rows[0][2] == "this screen"  # the screen's own keys come first
        assert ("e", "Enable", "this screen") in rows
        assert "stale" in str(app.screen.query_one("#help-text").content)  # the screen's HELP
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PopLocksScreen)


async def test_help_works_on_the_login_screen_with_f1(console):
    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("question_mark")  # typed into the user field, not help
        assert app.screen.query_one("#user", Input).value == "?"
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_keys_of_a_plain_user_hide_what_core_would_refuse(console, session_for):
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        table = app.screen.query_one("#help-keys")
        described = {table.get_row_at(i)[1].plain for i in range(table.row_count)}
        assert "Enable" not in described  # it has its own row already


def palette_titles(app: CmailConsole) -> set[str]:
    return {command.title for command in app.get_system_commands(app.screen)}


@pytest.mark.parametrize(("restricted", "user"), [(False, "cbdev"), (True, "cbdev")])
async def test_restricted_console_has_no_screenshot_and_no_suspend(
    console, session_for, restricted, user
):
    app = console(session=session_for(user), restricted=restricted)
    async with app.run_test() as pilot:
        await settle(pilot)
        titles = palette_titles(app)
        assert {"Theme", "Quit", "Help", "Log out"} <= titles
        assert ("Screenshot" in titles) is not restricted
        assert ("ctrl+z" in app.screen.active_bindings) is not restricted


async def test_delegates_and_users_are_restricted_anyway(console, session_for):
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert "Screenshot" not in palette_titles(app)
        assert "ctrl+z" not in app.screen.active_bindings


@pytest.mark.parametrize("user", ["cbdev", "plain"])
async def test_palette_offers_the_modules_of_the_role(console, session_for, user):
    from tui.commands import ModuleCommands

    session = session_for(user)
    app = console(session=session)
    async with app.run_test() as pilot:
        await settle(pilot)
        provider = ModuleCommands(app.screen)
        names = [str(hit.display) async for hit in provider.discover()]
        assert names == [f"Go to {m.title}" for m in visible_modules(session.role)]
        assert "Go to POP locks" in names
        hidden = [m for m in MODULES if not m.visible_to(session.role)]
        assert not {f"Go to {m.title}" for m in hidden} & set(names)


async def test_module_keys_and_logout_are_hidden_before_login(console):
    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.check_action("open_module", ("pop",)) is False
        assert app.check_action("logout", ()) is False
        await pilot.press("ctrl+l")  # does nothing before login
        assert isinstance(app.screen, LoginScreen)


async def test_no_blink_option_and_no_animation(console):
    app = console()
    assert app.animation_level == "none"
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.focused.cursor_blink is False


async def test_no_color_is_honoured(console, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = console()
    assert app.no_color  # Textual reads NO_COLOR itself and renders in monochrome


async def test_theme_is_the_one_asked_for(console, console_path):
    assert console().theme == "textual-dark"
    assert make_app(str(console_path), theme="nord").theme == "nord"


async def test_module_keys_switch_and_escape_goes_back(console):
    app = console()
    async with app.run_test() as pilot:
        await log_in(pilot, "cbdev", PASSWORDS["cbdev"])
        assert app.check_action("back", ()) is False  # no history yet
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, PopLocksScreen)
        others = [m for m in visible_modules(app.session.role) if m.id != "pop"]
        if not others:
            pytest.skip("only one module is registered")
        await pilot.press(others[0].key)
        await settle(pilot)
        assert app.current_mode == others[0].id
        assert isinstance(app.screen, others[0].screen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, PopLocksScreen)
        assert app.screen.table.selected is not None  # the POP screen kept its state


async def test_the_list_follows_the_filter_as_it_is_typed(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("slash", *"kit")
        await pilot.pause(0.3)  # a pause in typing, no Enter
        await settle(pilot)
        assert {entry.user for entry in app.screen.table.records} == {"kitinfo"}
        assert isinstance(app.focused, Input)  # still typing in the filter
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.screen.table.records) > 1
