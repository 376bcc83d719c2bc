"""The Rights editor: toggles, delegations, core's warnings and refusals, and who sees which keys.

Pilot tests assert on the database (through sqlite3, not the services under test) and on what
the screen shows; the snapshot tests at the end are plain functions (snap_compare is sync).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tuikit import MARKUP_USER, settle, sql

from core.access import Role
from tui.screens.rights import CHECKED, UNCHECKED, RightsScreen
from tui.text import printable
from tui.widgets.confirm import ConfirmModal
from tui.widgets.prompt import PromptModal

SIZE = (80, 24)
WRITE_KEYS = ("space", "u", "x", "d")


# --- helpers ---------------------------------------------------------------------------------


def rows(path: Path, statement: str, *args: object) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(statement, args).fetchall()
    finally:
        connection.close()


def permissions(path: Path, user: str) -> set[str]:
    found = rows(path, "SELECT api_permission FROM api_access WHERE api_user = ?", user)
    return {p for (p,) in found}


def managed(path: Path, manager: str) -> set[str]:
    found = rows(path, "SELECT api_delegate FROM api_user_delegates WHERE api_user = ?", manager)
    return {m for (m,) in found}


def expressions(path: Path, manager: str) -> set[str]:
    query = "SELECT api_expression FROM api_address_delegates WHERE api_user = ?"
    return {e for (e,) in rows(path, query, manager)}


async def open_rights(app, pilot) -> RightsScreen:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, RightsScreen)
    return screen


async def pick_user(pilot, screen: RightsScreen, user: str) -> None:
    """Put the user list's cursor on `user` and wait for their rights to load."""
    table = screen.users.table
    table.move_cursor(row=table.get_row_index(user))
    await settle(pilot)
    assert screen.view is not None and screen.view.user == user


async def pick_line(pilot, screen: RightsScreen, kind: str, value: str) -> None:
    """Focus the rights pane with its cursor on one line (a permission or a delegation)."""
    screen.detail.focus()
    screen.detail.highlighted = screen.detail.get_option_index(f"{kind}:{value}")
    await pilot.pause()


def pane_lines(screen: RightsScreen) -> list[str]:
    detail = screen.detail
    return [detail.get_option_at_index(i).prompt.plain.strip() for i in range(detail.option_count)]


def keys(app) -> dict[str, bool]:
    """Key → enabled, for the keys shown now (hidden keys are absent)."""
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def messages(app, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity in (None, n.severity)]


# --- admin -----------------------------------------------------------------------------------


async def test_the_rights_of_a_user_are_read_by_exact_name(console, session_for, console_path):
    """A user's rights come from one exact-name call (the UNIQUE indexes), not from LIKE list
    filters that read the whole table; the user list reads no mail counts."""
    sql(console_path, "INSERT INTO users (user_name) VALUES ('a_')")  # LIKE 'a_' matches a1…
    sql(console_path, "INSERT INTO api_access VALUES ('a_', 'delegate')")
    sql(console_path, "INSERT INTO api_user_delegates VALUES ('a_', 'a3')")
    app = console(session=session_for("cbdev"))
    statements: list[str] = []
    original = app.db.pw.execute_sql

    def record(statement, params=None, *args, **kwargs):
        statements.append(statement)
        return original(statement, params, *args, **kwargs)

    app.db.pw.execute_sql = record
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        statements.clear()  # what the landing screen (Users) read
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "a_")
        assert screen.view.permissions == {"delegate"} and screen.view.managed == ("a3",)
        await pick_user(pilot, screen, "a1")
        assert screen.view.permissions == frozenset() and screen.view.managed == ()
    assert statements and not [s for s in statements if " LIKE " in s or "mailbox" in s]


async def test_admin_grants_delegate_with_space(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "plain")
        assert screen.query_one("#rights-title").content.plain == "Rights of plain"
        await pilot.press("enter")  # from the user list into the rights pane
        assert app.focused is screen.detail
        assert screen.detail.highlighted_option.id == "permission:admin"
        assert keys(app)["space"] and keys(app)["d"] is False  # d: no delegation under cursor
        await pilot.press("down", "space")
        await settle(pilot)
        assert permissions(console_path, "plain") == {"delegate"}
        assert f"{CHECKED} delegate" in " ".join(pane_lines(screen))
        assert "plain now holds the delegate permission." in messages(app)
        # core's warning: a delegate without delegations can act on nothing
        assert any("has no delegated users or expressions" in m for m in messages(app, "warning"))
        assert screen.users.table.get_row("plain")[1].plain == "delegate"  # the list follows

        await pilot.press("enter")  # Enter toggles too: revoke again, no dialog for delegate
        await settle(pilot)
        assert permissions(console_path, "plain") == set()
        assert f"{UNCHECKED} delegate" in " ".join(pane_lines(screen))


async def test_granting_admin_asks_first(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "plain")
        await pick_line(pilot, screen, "permission", "admin")
        await pilot.press("space")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert app.focused is dialog.query_one("#no")
        await pilot.press("n")
        await settle(pilot)
        assert permissions(console_path, "plain") == set()
        await pilot.press("space", "y")
        await settle(pilot)
        assert permissions(console_path, "plain") == {"admin"}


async def test_revoking_the_last_usable_admin_is_refused(console, session_for, console_path):
    # cbdev stays the only admin whose password works ('user' holds admin with a broken hash).
    sql(
        console_path,
        "DELETE FROM api_access WHERE api_permission = 'admin' AND api_user "
        "NOT IN ('cbdev', 'user')",
    )
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "cbdev")
        await pick_line(pilot, screen, "permission", "admin")
        await pilot.press("space")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        lines = [str(s.content) for s in dialog.query(".dialog-line")]
        assert any("That is you" in line for line in lines)
        await pilot.press("y")
        await settle(pilot)
        assert permissions(console_path, "cbdev") == {"admin"}  # unchanged
        errors = messages(app, "error")
        assert len(errors) == 1 and errors[0].startswith("cbdev is the last admin who can log in")
        assert f"{CHECKED} admin" in " ".join(pane_lines(screen))
        assert isinstance(app.screen, RightsScreen)


async def test_admin_delegates_a_user_and_removes_it(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "deleg")
        assert {"plain", "kitinfo"} <= set(pane_lines(screen))
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, PromptModal)
        await pilot.press(*"foo", "enter")
        await settle(pilot)
        assert managed(console_path, "deleg") == {"plain", "kitinfo", "foo"}
        assert "foo" in pane_lines(screen)
        assert "deleg now manages foo." in messages(app)

        await pick_line(pilot, screen, "user", "foo")
        assert keys(app)["d"] and keys(app)["space"] is False
        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert str(dialog.query_one(".dialog-title").content) == "Stop deleg managing foo?"
        await pilot.press("n")
        await settle(pilot)
        assert "foo" in managed(console_path, "deleg")
        await pilot.press("d", "y")
        await settle(pilot)
        assert managed(console_path, "deleg") == {"plain", "kitinfo"}
        assert "foo" not in pane_lines(screen)


async def test_a_refused_delegation_is_one_sentence(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "deleg")
        await pilot.press("u", *"nobody", "enter")
        await settle(pilot)
        assert messages(app, "error") == ["No managed user named 'nobody' exists."]
        assert managed(console_path, "deleg") == {"plain", "kitinfo"}


async def test_admin_delegates_patterns_with_cores_warnings(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "deleg")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, PromptModal)
        await pilot.press(*"_@example.com", "enter")
        await settle(pilot)
        assert expressions(console_path, "deleg") == {"_@example.com"}
        assert "_@example.com" in pane_lines(screen)
        warnings = messages(app, "warning")
        assert any("contains _, which LIKE reads as any one character" in w for w in warnings)

        await pilot.press("x", *"%example.org", "enter")  # no @ or dot after the %
        await settle(pilot)
        assert expressions(console_path, "deleg") == {"_@example.com", "%example.org"}
        assert any("is not anchored" in w for w in messages(app, "warning"))

        await pick_line(pilot, screen, "address", "%example.org")
        await pilot.press("d", "y")
        await settle(pilot)
        assert expressions(console_path, "deleg") == {"_@example.com"}


async def test_markup_in_a_user_name_stays_literal(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, MARKUP_USER)
        title = screen.query_one("#rights-title").content
        assert title.plain == f"Rights of {printable(MARKUP_USER)}" and not title.spans


# --- delegate and plain user -----------------------------------------------------------------


async def test_delegate_sees_its_own_rights_read_only(console, session_for, console_path):
    sql(console_path, "INSERT INTO api_address_delegates VALUES ('deleg', '%@example.org')")
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        assert {u.name for u in screen.users.records} == {"deleg", "plain", "kitinfo"}
        assert screen.view is not None and screen.view.user == "deleg"  # starts on itself
        lines = pane_lines(screen)
        assert {"plain", "kitinfo", "%@example.org"} <= set(lines)
        assert any(line.startswith(f"{CHECKED} delegate") for line in lines)
        hint = str(screen.query_one("#rights-hint").content)
        assert hint == "Only admins change rights and delegations; this view is read-only."
        await pick_line(pilot, screen, "user", "plain")
        shown = keys(app)
        assert not any(key in shown for key in WRITE_KEYS)  # hidden, not just dimmed
        await pilot.press("d", "space", "u", "x")
        await pilot.pause()
        assert isinstance(app.screen, RightsScreen)  # no dialog opened
        assert managed(console_path, "deleg") == {"plain", "kitinfo"}
        assert permissions(console_path, "deleg") == {"delegate"}


async def test_plain_user_has_no_rights_module(console, session_for):
    session = session_for("plain")
    assert session.role is Role.USER
    app = console(session=session)
    async with app.run_test() as pilot:
        await settle(pilot)
        before = app.screen
        await pilot.press("2")
        await settle(pilot)
        assert app.screen is before and not isinstance(app.screen, RightsScreen)


# --- snapshots -------------------------------------------------------------------------------


def test_rights_editor_admin(snap_compare, console, session_for):
    async def show_deleg(pilot):
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press(*["down"] * 6, "enter")  # deleg, then into its rights
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=show_deleg)


def test_rights_editor_delegate(snap_compare, console, session_for):
    async def show_own(pilot):
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    app = console(session=session_for("deleg"))
    assert snap_compare(app, terminal_size=SIZE, run_before=show_own)


async def test_read_only_database_hides_every_write_key(console, session_for, monkeypatch):
    import core.db

    session = session_for("cbdev")
    monkeypatch.setattr(core.db, "is_writable", lambda path: False)
    app = console(session=session)
    async with app.run_test() as pilot:
        screen = await open_rights(app, pilot)
        await pick_user(pilot, screen, "deleg")
        await pick_line(pilot, screen, "user", "plain")
        assert not any(key in keys(app) for key in WRITE_KEYS)
        hint = str(screen.query_one("#rights-hint").content)
        assert hint == "The database is read-only: nothing can be changed here."
