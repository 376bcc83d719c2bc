"""The POP locks screen: rows per role, keys per role, the confirm flows and their effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuikit import MARKUP_USER, pop_lock, settle, sql

from core.services.popd import UNLOCK_WARNING
from tui.screens.pop_locks import FREE, LOCKED, PopLocksScreen
from tui.text import printable
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import PagedTable
from tui.widgets.prompt import PromptModal


async def open_pop(app, pilot) -> PopLocksScreen:
    await settle(pilot)
    if not isinstance(app.screen, PopLocksScreen):
        await pilot.press("5")
        await settle(pilot)
    screen = app.screen
    assert isinstance(screen, PopLocksScreen)
    return screen


async def select(pilot, screen: PopLocksScreen, user: str) -> None:
    table = screen.table.table
    table.move_cursor(row=table.get_row_index(user))
    await pilot.pause()
    assert screen.table.selected.user == user


def keys(app) -> dict[str, bool]:
    """Key → enabled, for the keys shown now (hidden keys are absent)."""
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def cell_texts(screen: PopLocksScreen, user: str) -> list[str]:
    return [cell.plain for cell in screen.table.table.get_row(user)]


async def test_lock_state_is_text_and_alias_is_explained(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        assert cell_texts(screen, "user")[1] == LOCKED
        assert cell_texts(screen, "cbdev")[1] == FREE
        assert cell_texts(screen, "a2")[2] == "alias of a3 (uses a3's row)"
        assert "rows · refreshed 03:04:05" in str(screen.query_one("#summary").content)


async def test_unlock_asks_with_cores_warning_then_unlocks(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        await select(pilot, screen, "user")
        await pilot.press("u")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        lines = [str(s.content) for s in dialog.query(".dialog-line")]
        assert UNLOCK_WARNING in lines
        assert app.focused is dialog.query_one("#no")  # the safe answer first
        await pilot.press("y")
        await settle(pilot)
        assert pop_lock(console_path, "user") == 0
        assert isinstance(app.screen, PopLocksScreen)
        assert cell_texts(screen, "user")[1] == FREE
        assert screen.table.selected.user == "user"  # the cursor stayed on the row
        messages = [n.message for n in app._notifications]
        assert "The maildrop of user is unlocked." in messages
        assert UNLOCK_WARNING in messages


@pytest.mark.parametrize("answer", ["n", "escape", "enter"])  # enter presses the focused No
async def test_declining_the_unlock_changes_nothing(console, session_for, console_path, answer):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        await select(pilot, screen, "user")
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(answer)
        await settle(pilot)
        assert isinstance(app.screen, PopLocksScreen)
        assert pop_lock(console_path, "user") == 1


async def test_disable_and_enable(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        await select(pilot, screen, "kitinfo")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert pop_lock(console_path, "kitinfo") is None
        assert "kitinfo" not in {e.user for e in screen.table.records}

        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, PromptModal)
        await pilot.press(*"kitinfo", "enter")
        await settle(pilot)
        assert pop_lock(console_path, "kitinfo") == 0
        assert screen.table.selected.user == "kitinfo"  # the new row is selected


async def test_a_refusal_from_core_is_one_sentence(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await open_pop(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press(*"cbdev", "enter")  # already enabled
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert [n.message for n in errors] == ["POP is already enabled for cbdev."]


async def test_plain_user_sees_and_acts_on_its_own_row_only(console, session_for, console_path):
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        assert [e.user for e in screen.table.records] == ["plain"]
        shown = keys(app)
        assert "e" not in shown  # its own row exists already
        assert shown["x"] and shown["u"]  # self-service: core allows it
        await pilot.press("u", "y")
        await settle(pilot)
        assert pop_lock(console_path, "plain") == 0


async def test_plain_user_without_pop_may_enable_its_own(console, session_for, console_path):
    sql(console_path, "DELETE FROM popd WHERE pop_user = 'plain'")
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        assert screen.table.records == []
        assert "Press e to enable it" in str(screen.query_one("#empty").content)
        assert keys(app)["e"]
        await pilot.press("e")
        await pilot.pause()
        assert app.screen.query_one("#prompt-input").value == "plain"  # prefilled
        await pilot.press("enter")
        await settle(pilot)
        assert pop_lock(console_path, "plain") == 0


async def test_delegate_keys_follow_the_row(console, session_for):
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        await select(pilot, screen, "plain")  # managed, locked
        assert keys(app)["u"] and keys(app)["x"]
        await select(pilot, screen, "kitinfo")  # managed but an admin: seen, not changed
        assert keys(app)["u"] is False and keys(app)["x"] is False  # shown dimmed
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PopLocksScreen)  # a dimmed key does nothing


async def test_database_strings_are_shown_literally(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        cell = screen.table.table.get_row(MARKUP_USER)[0]
        assert cell.plain == "[b]x[/b]\\e[31m"  # markup as typed, ESC as a visible escape
        assert cell.spans == [] and not cell.style  # no bold came from the name
        assert printable(MARKUP_USER) == cell.plain
        await select(pilot, screen, MARKUP_USER)
        await pilot.press("x")
        await pilot.pause()
        title = app.screen.query_one(".dialog-title").content
        assert "[b]x[/b]\\e[31m" in str(title)


async def test_filter_applies_on_enter_and_clears_on_escape(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        total = len(screen.table.records)
        await pilot.press("slash")
        assert app.focused.id == "filter"
        await pilot.press(*"kit", "enter")
        await settle(pilot)
        assert [e.user for e in screen.table.records] == ["kitinfo"]
        assert app.focused is screen.table.table  # back on the list
        assert str(screen.query_one("#summary").content).startswith("filtered: 'kit' · 1 row")
        await pilot.press("slash", *"zzz", "enter")  # the old text is selected: replaced
        await settle(pilot)
        assert "No POP user name contains 'zzz'" in str(screen.query_one("#empty").content)
        await pilot.press("escape")  # on the list: clears the filter
        await settle(pilot)
        assert len(screen.table.records) == total


async def test_pages_load_as_the_cursor_nears_the_end(console, session_for, console_path: Path):
    for number in range(130):
        sql(console_path, "INSERT INTO users (user_name) VALUES (?)", f"zz{number:03}")
        sql(console_path, "INSERT INTO popd (pop_user, pop_lock) VALUES (?, 0)", f"zz{number:03}")
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_pop(app, pilot)
        table: PagedTable = screen.table
        assert len(table.records) == PagedTable.PAGE_SIZE  # one page, not the whole table
        assert "50+ rows" in str(screen.query_one("#summary").content)
        await pilot.press("end")
        await settle(pilot)
        assert len(table.records) == 2 * PagedTable.PAGE_SIZE
        await pilot.press("end")
        await settle(pilot)
        await pilot.press("end")
        await settle(pilot)
        assert len(table.records) == 130 + 7  # every row once (7 from the fixture), in order
        assert [e.user for e in table.records] == sorted(e.user for e in table.records)
