"""Issue 5 (scale): only the module on view keeps its screen, and the login screen's first frame
comes before peewee, core and the database are loaded."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey
from tuikit import settle

import core.db
import tui.app
from core.access import Role
from core.errors import SchemaError
from tui.app import CmailConsole, make_app
from tui.modules import EVERYONE, visible_modules
from tui.screens.login import LoginScreen
from tui.screens.pop_locks import PopLocksScreen
from tui.screens.problem import ProblemScreen
from tui.screens.users import UsersScreen
from tui.widgets.paged_table import PagedTable

ROOT = Path(__file__).resolve().parents[2]


def users_table(app: CmailConsole) -> PagedTable:
    screen = app.screen
    assert isinstance(screen, UsersScreen)
    return screen.table


async def filter_users(pilot, text: str) -> None:
    await pilot.press("slash", *text, "enter")
    await settle(pilot)


def alive_module_screens() -> list[str]:
    from tui.screens.base import ModuleScreen

    gc.collect()
    return [type(o).__name__ for o in gc.get_objects() if isinstance(o, ModuleScreen)]


# --- one module screen at a time ---------------------------------------------------------------
async def test_the_screen_left_is_freed_and_comes_back_as_it_was(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        await filter_users(pilot, "foo")
        table = users_table(app)
        assert [user.name for user in table.records] == ["foo", "foomatic"]
        await pilot.press("down")
        await settle(pilot)
        assert table.selected.name == "foomatic"
        left = weakref.ref(app.screen)
        del table

        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, PopLocksScreen)
        assert left() is None  # not kept by its mode, a worker thread, or a frozen generation
        assert alive_module_screens() == ["PopLocksScreen"]

        await pilot.press("1")
        await settle(pilot)
        table = users_table(app)
        assert table.search == "foo" and [user.name for user in table.records] == [
            "foo",
            "foomatic",
        ]
        assert table.selected.name == "foomatic"
        bar = table.query_one("#filter", Input)
        assert bar.display and bar.value == "foo"
        assert app.focused is table.table  # the list has the keys again, as before


async def test_a_module_screen_shows_its_rows_in_its_first_frame(
    console, session_for, monkeypatch: pytest.MonkeyPatch
):
    """The app reads the list's first page while it builds the screen, so no frame of the new
    screen shows an empty list waiting for its rows."""
    monkeypatch.setattr(tui.app, "FIRST_PAGE_WAIT", 30.0)  # a slow machine still gets it in time
    rows_per_frame: list[int] = []
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        display = app._display

        def counted(screen: Screen, renderable: object) -> None:
            display(screen, renderable)
            if (
                renderable is not None
                and not app._batch_count
                and isinstance(screen, PopLocksScreen)
            ):
                rows_per_frame.append(screen.query_one(PagedTable).table.row_count)

        app._display = counted  # type: ignore[method-assign]
        await pilot.press("5")
        await settle(pilot)
    assert rows_per_frame and rows_per_frame[0] > 0
    assert rows_per_frame[0] == rows_per_frame[-1]


async def test_a_row_further_down_than_the_first_page_is_loaded_again(
    console, session_for, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(PagedTable, "PAGE_SIZE", 3)
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        for _ in range(7):
            await pilot.press("down")
            await settle(pilot)
        table = users_table(app)
        chosen, loaded = table.selected.name, len(table.records)
        assert loaded > PagedTable.PAGE_SIZE
        del table
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("escape")  # back, as Esc goes back to the previous module
        await settle(pilot)
        table = users_table(app)
        assert table.selected.name == chosen and len(table.records) >= loaded
        assert table.PAGE_SIZE == 3  # the next pages are the usual size again


async def test_a_screen_with_something_open_on_it_is_kept(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        base = app.screen
        drill_down = Screen()
        await app.push_screen(drill_down)
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert app.screen is drill_down and app.screen_stack[0] is base


async def test_logout_forgets_what_the_screens_showed(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        await filter_users(pilot, "foo")
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press(*"cbdev", "enter", *"cbdev", "enter")
        await settle(pilot)
        assert users_table(app).search is None


async def test_moving_the_cursor_keeps_the_footer_until_its_keys_change(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        keys = list(app.screen.query(FooterKey))
        assert keys
        await pilot.press("down")
        await settle(pilot)
        assert list(app.screen.query(FooterKey)) == keys  # the same widgets, not new ones
        table = users_table(app)
        table.table.move_cursor(row=table.table.get_row_index("cbdev"))
        await settle(pilot)
        delete = [key for key in app.screen.query(FooterKey) if key.action == "delete"]
        assert delete and delete[0].has_class("-disabled")  # nobody deletes themselves


def test_roles_are_the_values_of_core_roles():
    assert {role.value for role in Role} == EVERYONE
    assert next(m.id for m in visible_modules(Role.USER)) == "account"
    assert "audit" in {m.id for m in visible_modules(Role.ADMIN)}


# --- the login screen first, the database after it ---------------------------------------------
def imported_after(code: str, *args: str) -> set[str]:
    """The heavy modules a fresh interpreter has loaded after `code`."""
    heavy = ("peewee", "hashlib", "json", "core.db", "core.access", "core.models", "core.session")
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


def test_the_console_starts_without_peewee_and_core(console_path):
    code = "import sys, cli.main\nfrom tui.app import make_app\nmake_app(sys.argv[1])"
    assert imported_after(code, str(console_path)) == set()


def test_a_file_that_is_not_a_database_is_refused_without_peewee(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    code = (
        "import sys\nfrom tui.app import make_app\napp = make_app(sys.argv[1])\n"
        "assert 'not an SQLite database' in str(app.problem)"
    )
    assert imported_after(code, str(notes)) == set()


async def test_the_database_opens_after_the_first_frame(console):
    app = console()
    assert app.db is None
    events: list[str] = []
    display, open_database = app._display, app.open_database

    def displayed(screen, renderable) -> None:
        if renderable is not None and "frame" not in events:
            events.append("frame")
        display(screen, renderable)

    def opened():
        if "open" not in events:
            events.append("open")
        return open_database()

    app._display = displayed  # type: ignore[method-assign]
    app.open_database = opened  # type: ignore[method-assign]
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert events == ["frame", "open"] and app.db is not None
        await pilot.press(*"cbdev", "enter", *"cbdev", "enter")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)


async def test_a_file_that_fails_to_open_after_the_first_frame_gets_the_problem_screen(
    console, monkeypatch: pytest.MonkeyPatch
):
    def replaced(path: str, **options: object) -> None:
        raise SchemaError(f"{path} is at cmail schema version 8; this console needs version 9.")

    app = console()  # the file was fine when the console started
    monkeypatch.setattr(core.db, "Database", replaced)  # and is not when it opens it
    async with app.run_test() as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ProblemScreen) and app.db is None
        shown = " ".join(str(widget.content) for widget in app.screen.query(Static))
        assert "schema version 8" in shown
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 11


async def test_a_read_only_file_shows_its_badge_on_the_login_screen(
    console, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(core.db, "is_writable", lambda path: False)
    app = console()
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.read_only
        assert app.screen.query_one("#read-only-badge").display


def test_make_app_with_a_broken_file_shows_the_problem_screen_first(tmp_path):
    app = make_app(str(tmp_path / "nowhere.db3"))
    assert app.db is None and "does not exist" in str(app.problem)
