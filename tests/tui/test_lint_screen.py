"""The Lint screen: core's findings as text, errors first, filter, jump to a rule, admins only."""

from __future__ import annotations

import pytest
from tuikit import MARKUP_USER, settle, sql

from tui.screens.lint import LintScreen
from tui.text import printable

SIZE = (80, 24)


async def open_lint(app, pilot) -> LintScreen:
    await settle(pilot)
    await pilot.press("7")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, LintScreen)
    return screen


def rows(screen: LintScreen) -> list[list[str]]:
    table = screen.table.table
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def header(screen: LintScreen) -> str:
    return str(screen.query_one("#lint-header").content)


async def test_counts_and_findings_are_text_errors_first(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lint(app, pilot)
        assert header(screen).startswith("1 error · ")
        assert header(screen).endswith("users checked")
        shown = rows(screen)
        assert shown[0][:3] == ["error", "userdb-invalid", "kitinfo"]
        assert ["warning", "shadowed", "#100"] in [row[:3] for row in shown]
        severities = [row[0] for row in shown]
        order = {"error": 0, "warning": 1, "note": 2}
        assert severities == sorted(severities, key=order.__getitem__)
        assert "note" in severities  # core's "info" reads as a word, not a colour
        detail = str(screen.query_one("#lint-detail").content)
        assert detail.startswith("The user database") and "kitinfo" in detail  # the whole message


async def test_database_strings_are_shown_literally(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lint(app, pilot)
        table = screen.table.table
        cells = [table.get_row_at(i) for i in range(table.row_count)]
        ours = [row for row in cells if row[2].plain == printable(MARKUP_USER)]
        assert ours, "the fixture's markup user has findings"
        for row in ours:
            assert all(cell.spans == [] for cell in row[1:])  # no bold came from the name
            assert "[b]x[/b]\\e[31m" in row[3].plain


async def test_filter_is_over_the_loaded_findings(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lint(app, pilot)
        total = screen.table.table.row_count
        await pilot.press("slash", *"SHADOW", "enter")  # case-insensitive, literal
        await settle(pilot)
        assert [row[:3] for row in rows(screen)] == [["warning", "shadowed", "#100"]]
        await pilot.press("slash", *"zzz", "enter")
        await settle(pilot)
        assert "No finding contains 'zzz'" in str(screen.query_one("#empty").content)
        await pilot.press("escape")
        await settle(pilot)
        assert screen.table.table.row_count == total


async def test_refresh_runs_the_lint_again(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lint(app, pilot)
        sql(
            console_path,
            "INSERT INTO addresses (address_order, address_expression, address_router, "
            "address_route) VALUES (7, 'x@y', 'store', NULL)",
        )
        await pilot.press("r")
        await settle(pilot)
        assert header(screen).startswith("2 errors · ")
        assert ["error", "store-no-route", "#7"] in [row[:3] for row in rows(screen)]


async def test_enter_on_a_rule_finding_opens_addresses_on_it(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lint(app, pilot)
        table = screen.table.table
        index = next(i for i, row in enumerate(rows(screen)) if row[2] == "#100")
        table.move_cursor(row=index)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "addresses"
        assert app.screen.selected.order == 100
        await pilot.press("escape")  # back to the lint, where it was
        await settle(pilot)
        assert app.screen is screen


async def test_a_user_finding_has_no_rule_to_open(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lint(app, pilot)
        assert screen.selected.order is None  # the first row is kitinfo's user database
        assert app.screen.active_bindings["o"].enabled is False  # shown dimmed
        await pilot.press("enter")
        await pilot.press("o")
        await settle(pilot)
        assert app.screen is screen


@pytest.mark.parametrize("who", ["deleg", "plain"])
async def test_only_admins_get_the_module(console, session_for, who):
    app = console(session=session_for(who))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.screen
        assert "Lint" not in str(before.query_one("#module-bar").content)
        await pilot.press("7")
        await settle(pilot)
        assert app.screen is before
        assert not isinstance(app.screen, LintScreen)


def test_snapshot_admin(snap_compare, console, session_for):
    async def lint_screen(pilot):
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=lint_screen)
