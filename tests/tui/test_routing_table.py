"""The Routing table (smtpd): add, edit, delete per role, core's warnings and refusals.

Pilot tests assert on the database (through sqlite3) and on what the screen shows; the snapshot
tests at the end are plain functions (snap_compare is sync).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tuikit import settle, sql

from core.services.smtpd import SESSION_NOTE
from tui.screens.routing import VIEW_ONLY, RouteForm, RoutingScreen
from tui.widgets.confirm import ConfirmModal

SIZE = (80, 24)
BAD_ROUTE = "The handoff remote needs a host name of at least 2 characters."


# --- helpers ---------------------------------------------------------------------------------


def smtpd_row(path: Path, user: str) -> tuple[str, str | None] | None:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            "SELECT smtpd_router, smtpd_route FROM smtpd WHERE smtpd_user = ?", (user,)
        ).fetchone()
    finally:
        connection.close()


async def open_routing(app, pilot) -> RoutingScreen:
    await settle(pilot)
    await pilot.press("4")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, RoutingScreen)
    return screen


async def select(pilot, screen: RoutingScreen, user: str) -> None:
    table = screen.table.table
    table.move_cursor(row=table.get_row_index(user))
    await pilot.pause()
    assert screen.table.selected.user == user


def cells(screen: RoutingScreen, user: str) -> list[str]:
    return [cell.plain for cell in screen.table.table.get_row(user)]


def keys(app) -> dict[str, bool]:
    """Key → enabled, for the keys shown now (hidden keys are absent)."""
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def messages(app, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity in (None, n.severity)]


async def choose_router(pilot, router: str) -> None:
    """In the form, with the router list focused: open it, type to find, Enter."""
    await pilot.press("enter", *router[:2], "enter")
    await pilot.pause()


# --- admin -----------------------------------------------------------------------------------


async def test_rows_explain_what_cmail_does(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        assert cells(screen, "cdbev") == ["cdbev", "drop", "cbdev", "alias of cbdev: ignored"]
        assert cells(screen, "cbdev") == ["cbdev", "defined", "—", ""]
        assert all(key in keys(app) for key in ("a", "e", "d"))


async def test_admin_adds_a_defined_row(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RouteForm)
        assert app.focused is form.query_one("#route-user")
        assert form.query_one("#route-route").disabled  # defined takes no route
        await pilot.press(*"plain", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RoutingScreen)
        assert smtpd_row(console_path, "plain") == ("defined", None)
        assert cells(screen, "plain")[:3] == ["plain", "defined", "—"]
        assert screen.table.selected.user == "plain"  # the cursor is on the new row
        assert messages(app, "information")[0].startswith("plain now sends with the defined")
        assert any("No store rule routes to plain" in w for w in messages(app, "warning"))


async def test_adding_with_the_any_router_warns(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await open_routing(app, pilot)
        await pilot.press("a", *"plain", "tab")
        await choose_router(pilot, "any")
        assert app.screen.router == "any"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert smtpd_row(console_path, "plain") == ("any", None)
        assert any("may send as anyone" in w for w in messages(app, "warning"))


async def test_admin_edits_to_handoff_then_a_bad_route_is_refused(
    console, session_for, console_path
):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        await select(pilot, screen, "cbdev")
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RouteForm)
        assert app.focused is form.query_one("#route-router")  # the user is fixed
        await choose_router(pilot, "handoff")
        route = form.query_one("#route-route")
        assert not route.disabled
        await pilot.press("tab", *"smtp.example.net:587/starttls", "enter")
        await settle(pilot)
        assert smtpd_row(console_path, "cbdev") == ("handoff", "smtp.example.net:587/starttls")
        assert cells(screen, "cbdev")[1:3] == ["handoff", "smtp.example.net:587/starttls"]
        assert SESSION_NOTE in messages(app, "warning")

        await pilot.press("enter")  # Enter on a row edits it too
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RouteForm)
        route = form.query_one("#route-route")
        assert route.value == "smtp.example.net:587/starttls"  # prefilled
        route.focus()
        route.value = "h"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form  # still open, so the typo can be fixed in place
        assert str(form.query_one("#route-error").content) == BAD_ROUTE
        assert app.focused is route
        assert BAD_ROUTE in messages(app, "error")
        assert smtpd_row(console_path, "cbdev") == ("handoff", "smtp.example.net:587/starttls")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RoutingScreen)
        assert smtpd_row(console_path, "cbdev") == ("handoff", "smtp.example.net:587/starttls")


async def test_delete_asks_and_no_keeps_the_row(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        await select(pilot, screen, "spam")
        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert app.focused is dialog.query_one("#no")
        lines = " ".join(str(s.content) for s in dialog.query(".dialog-line"))
        assert "the user will no longer be able to send mail but still receives it" in lines
        await pilot.press("n")
        await settle(pilot)
        assert smtpd_row(console_path, "spam") == ("drop", None)
        await pilot.press("d", "y")
        await settle(pilot)
        assert smtpd_row(console_path, "spam") is None
        assert "spam" not in {row.user for row in screen.table.records}
        assert messages(app, "information")[-1].startswith("Removed the smtpd entry of spam")


async def test_adding_twice_is_refused_in_the_form(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await open_routing(app, pilot)
        await pilot.press("a", *"spam", "enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, RouteForm)
        sentence = "spam already has an smtpd entry; use update to change it."
        assert str(form.query_one("#route-error").content) == sentence
        assert messages(app, "error") == [sentence]
        assert smtpd_row(console_path, "spam") == ("drop", None)


# --- delegate and plain user -----------------------------------------------------------------


async def test_delegate_changes_managed_rows_only(console, session_for, console_path):
    sql(console_path, "INSERT INTO smtpd (smtpd_user, smtpd_router) VALUES ('plain', 'defined')")
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        assert {row.user for row in screen.table.records} == {"plain", "kitinfo"}
        # kitinfo is managed but holds admin: shown, dimmed, marked, not actionable
        assert cells(screen, "kitinfo")[3] == VIEW_ONLY
        assert screen.table.table.get_row("kitinfo")[0].style == "dim"
        await select(pilot, screen, "kitinfo")
        assert keys(app)["e"] is False and keys(app)["d"] is False and keys(app)["a"]
        await pilot.press("e", "d")
        await pilot.pause()
        assert isinstance(app.screen, RoutingScreen)  # dimmed keys do nothing

        await select(pilot, screen, "plain")
        assert keys(app)["e"] and keys(app)["d"]
        await pilot.press("e")
        await pilot.pause()
        await choose_router(pilot, "reject")
        await pilot.press("tab", *"no mail from here", "enter")
        await settle(pilot)
        assert smtpd_row(console_path, "plain") == ("reject", "no mail from here")

        # Core refuses what the keys cannot hide: a user this delegate does not manage.
        await pilot.press("a", *"cbdev", "enter")
        await settle(pilot)
        refusal = "You (deleg, delegate) may not enable sending for cbdev."
        assert refusal in messages(app, "error")
        assert smtpd_row(console_path, "cbdev") == ("defined", None)


async def test_plain_user_sees_only_its_own_row_read_only(console, session_for, console_path):
    sql(console_path, "INSERT INTO smtpd (smtpd_user, smtpd_router) VALUES ('plain', 'defined')")
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        assert [row.user for row in screen.table.records] == ["plain"]
        assert cells(screen, "plain")[3] == VIEW_ONLY
        assert not any(key in keys(app) for key in ("a", "e", "d"))
        await pilot.press("enter", "a", "e", "d")
        await pilot.pause()
        assert isinstance(app.screen, RoutingScreen)
        assert smtpd_row(console_path, "plain") == ("defined", None)


async def test_plain_user_without_a_row_is_told_why(console, session_for):
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        screen = await open_routing(app, pilot)
        assert screen.table.records == []
        assert "You have no smtpd entry" in str(screen.query_one("#empty").content)


# --- snapshots -------------------------------------------------------------------------------


async def _open(pilot) -> None:
    await settle(pilot)
    await pilot.press("4")
    await settle(pilot)


def test_routing_table_admin(snap_compare, console, session_for):
    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_open)


def test_routing_table_plain_user(snap_compare, console, session_for, console_path):
    sql(console_path, "INSERT INTO smtpd (smtpd_user, smtpd_router) VALUES ('plain', 'defined')")
    app = console(session=session_for("plain"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_open)


def test_routing_form_handoff(snap_compare, console, session_for):
    async def edit(pilot) -> None:
        await _open(pilot)
        await pilot.press("down", "down", "down", "e")  # cbdev (after a1, a2, a3)
        await settle(pilot)
        await choose_router(pilot, "handoff")
        await pilot.press("tab", *"relay.example.net:587/starttls")
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=edit)


async def test_read_only_database_hides_every_write_key(console, session_for, monkeypatch):
    import core.db

    session = session_for("cbdev")
    monkeypatch.setattr(core.db, "is_writable", lambda path: False)
    app = console(session=session)
    async with app.run_test() as pilot:
        await open_routing(app, pilot)
        assert not any(key in keys(app) for key in ("a", "e", "d"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RoutingScreen)
