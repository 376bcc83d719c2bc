"""What the canonical screens look like at 80x24 (review SVG changes before --snapshot-update).

Snapshot tests must be plain functions: `snap_compare` cannot run inside an async test.
"""

from __future__ import annotations

from tuikit import fixed_clock, settle

from tui.app import make_app

SIZE = (80, 24)


def test_login(snap_compare, console):
    assert snap_compare(console(), terminal_size=SIZE, run_before=settle)


def test_login_refused(snap_compare, console):
    async def refuse(pilot):
        await settle(pilot)
        await pilot.press(*"cbdev", "enter", *"nope", "enter")
        await settle(pilot)

    assert snap_compare(console(), terminal_size=SIZE, run_before=refuse)


def test_problem_missing_file(snap_compare):
    # A fixed path: the message names it, and tmp paths differ from run to run.
    app = make_app("/nonexistent/cmail/master.db3", clock=fixed_clock, cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


async def open_pop(pilot):
    """Logins land on Users (or My account): the POP locks are module 5."""
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)


def test_pop_locks_admin(snap_compare, console, session_for):
    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=open_pop)


def test_pop_locks_plain_user(snap_compare, console, session_for):
    app = console(session=session_for("plain"))
    assert snap_compare(app, terminal_size=SIZE, run_before=open_pop)


def test_unlock_confirm(snap_compare, console, session_for):
    async def ask(pilot):
        await open_pop(pilot)
        await pilot.press("down", "down", "down", "down", "down", "down", "u")
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=ask)


def test_help(snap_compare, console, session_for):
    async def open_help(pilot):
        await open_pop(pilot)
        await pilot.press("f1")
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=open_help)


def test_read_only_delegate(snap_compare, console, session_for, monkeypatch):
    import core.db

    session = session_for("deleg")
    monkeypatch.setattr(core.db, "is_writable", lambda path: False)
    app = console(session=session)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_pop)
