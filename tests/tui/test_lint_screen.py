"""The Lint screen: core's findings as text, errors first, filter, jump to a rule, admins only;
findings shown as the check streams them, a bounded list, the check stopped when not watched."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from tuikit import MARKUP_USER, settle, sql

from core.services import lint as lint_service
from core.services.lint import Finding, LintBatch
from tui.screens import lint as lint_screen
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
        # The screen may have been rebuilt meanwhile: its cursor is back on the same finding.
        assert isinstance(app.screen, LintScreen) and app.screen.selected.order == 100


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


# --- findings as they arrive (a stand-in for core's scan, released batch by batch) ----------------


class SlowScan:
    """Yields its batches one at a time, each only once the test releases it; records whether
    the screen closed it (stopped reading)."""

    def __init__(self, *batches: LintBatch) -> None:
        self.batches = batches
        self.gates = [threading.Event() for _ in batches]
        self.taken = 0
        self.closed = threading.Event()

    def __call__(self, db: object, session: object) -> Iterator[LintBatch]:
        try:
            for gate, batch in zip(self.gates, self.batches, strict=True):
                if not gate.wait(10):
                    return
                self.taken += 1
                yield batch
        finally:
            self.closed.set()

    def release(self, *indexes: int) -> None:
        for index in indexes:
            self.gates[index].set()


def batch(*findings: Finding, done: int = 1, total: int | None = 3) -> LintBatch:
    return LintBatch(findings, "rules", done, total, rules=done, users=0)


def warning(order: int) -> Finding:
    return Finding("shadowed", "warning", f"#{order} is shadowed.", order)


async def until(pilot, condition, timeout: float = 5.0) -> None:
    """Wait for the screen (no settle(): it waits for every worker, the scan's too)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


async def open_slow_lint(app, pilot, monkeypatch, fake: SlowScan) -> LintScreen:
    monkeypatch.setattr(lint_service, "scan", fake)
    await settle(pilot)
    await pilot.press("7")
    await until(pilot, lambda: isinstance(app.screen, LintScreen))
    return app.screen


async def test_rows_show_before_the_check_ends(console, session_for, monkeypatch):
    fake = SlowScan(batch(warning(5)), batch(done=2), batch(warning(9), done=3))
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_slow_lint(app, pilot, monkeypatch, fake)
        fake.release(0)
        await until(pilot, lambda: screen.first_rows_shown)
        assert [row[:3] for row in rows(screen)] == [["warning", "shadowed", "#5"]]
        fake.release(1)
        await until(pilot, lambda: "2 of 3 rules" in header(screen))
        assert header(screen) == "Checking… 2 of 3 rules · 1 finding so far"
        assert screen.report is None
        fake.release(2)
        await until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        assert header(screen).startswith("0 errors · 2 warnings · 0 notes · 3 rules")
        assert [row[2] for row in rows(screen)] == ["#9", "#5"]


async def test_cursor_stays_on_its_finding_as_others_sort_above(console, session_for, monkeypatch):
    fake = SlowScan(batch(warning(7), warning(6), warning(5)), batch(warning(9), done=2))
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_slow_lint(app, pilot, monkeypatch, fake)
        fake.release(0)
        await until(pilot, lambda: screen.table.table.row_count == 3)
        screen.table.table.move_cursor(row=1)
        await until(pilot, lambda: screen.selected.order == 6)
        fake.release(1)  # #9 sorts above #6
        await until(pilot, lambda: screen.table.table.row_count == 4)
        assert [row[2] for row in rows(screen)] == ["#9", "#7", "#6", "#5"]
        assert screen.selected.order == 6 and screen.table.table.cursor_row == 2


async def test_a_cursor_on_the_first_row_follows_the_top(console, session_for, monkeypatch):
    error = Finding("route-empty", "error", "#1 has an empty route.", 1)
    fake = SlowScan(batch(warning(7)), batch(error, done=2))
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_slow_lint(app, pilot, monkeypatch, fake)
        fake.release(0, 1)
        await until(pilot, lambda: screen.table.table.row_count == 2)
        assert screen.selected is error  # the worst finding stays in view


async def test_each_kind_keeps_its_first_findings_and_counts_the_rest(
    console, session_for, monkeypatch
):
    monkeypatch.setattr(lint_screen, "KEPT_PER_KIND", 3)
    aliases = [
        Finding("store-to-alias", "warning", f"#{o} stores to an alias.", o, "x")
        for o in range(1, 6)
    ]
    fake = SlowScan(batch(*aliases[:2]), batch(*aliases[2:], done=3))
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_slow_lint(app, pilot, monkeypatch, fake)
        fake.release(0, 1)
        await until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        shown = rows(screen)
        assert [row[2] for row in shown] == ["#3", "#2", "#1", ""]  # the first three to arrive
        assert shown[-1][3] == (
            "… and 2 more store-to-alias findings: `cmail-console lint` lists them all."
        )
        assert header(screen).startswith("0 errors · 5 warnings")  # every finding counts
        assert "first 3 of each kind shown" in str(screen.table.query_one("#summary").content)
        screen.table.table.move_cursor(row=3)
        await pilot.pause()
        assert app.screen.active_bindings["o"].enabled is False  # no rule to open


async def test_leaving_the_screen_stops_the_check(console, session_for, monkeypatch):
    fake = SlowScan(batch(warning(5)), batch(warning(4), done=2), batch(warning(3), done=3))
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_slow_lint(app, pilot, monkeypatch, fake)
        fake.release(0)
        await until(pilot, lambda: screen.first_rows_shown)
        await pilot.press("1")  # another module
        await until(pilot, lambda: not isinstance(app.screen, LintScreen))
        fake.release(1, 2)
        await until(pilot, fake.closed.is_set)
        assert fake.taken <= 2  # the batch being read when it left, and no further


async def test_refresh_cancels_the_running_check(console, session_for, monkeypatch):
    first = SlowScan(batch(warning(5)), batch(warning(4), done=2))
    second = SlowScan(batch(warning(8), done=3))
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_slow_lint(app, pilot, monkeypatch, first)
        first.release(0)
        await until(pilot, lambda: screen.first_rows_shown)
        monkeypatch.setattr(lint_service, "scan", second)
        await pilot.press("r")
        first.release(1)  # arrives after r: thrown away
        second.release(0)
        await until(pilot, lambda: screen.report is not None)
        await settle(pilot)
        assert first.closed.is_set()
        assert [row[2] for row in rows(screen)] == ["#8"]
