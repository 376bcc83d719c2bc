"""The Address mapping screen: the routing table per role, the rule form, delete, reorder with
its preview, and the live trace panel. Assertions go to the database and to what is on screen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select
from tuikit import MARKUP_USER, settle, sql

from tui.app import CmailConsole
from tui.screens.address_forms import AUTOMATIC_ORDER, RuleForm
from tui.screens.addresses import CHANGES_DESTINATION, VIEW_ONLY, AddressesScreen
from tui.widgets.confirm import ConfirmModal
from tui.widgets.prompt import PromptModal
from tui.widgets.trace_panel import TracePanel

SIZE = (80, 24)
Rows = dict[int, tuple[str, str, str | None]]


# --- helpers ---------------------------------------------------------------------------------
def rules(path: Path) -> Rows:
    """order → (expression, router, route), straight from the file."""
    connection = sqlite3.connect(path)
    try:
        query = "SELECT address_order, address_expression, address_router, address_route "
        rows = connection.execute(query + "FROM addresses").fetchall()
    finally:
        connection.close()
    return {order: (expression, router, route) for order, expression, router, route in rows}


def make_delegate(path: Path) -> None:
    """deleg (conftest: delegate of plain and kitinfo) also gets the expression %@kitinfo.de."""
    sql(path, "INSERT INTO api_address_delegates VALUES ('deleg', '%@kitinfo.de')")


async def open_addresses(pilot: Pilot) -> AddressesScreen:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AddressesScreen)
    return screen


async def select(pilot: Pilot, screen: AddressesScreen, order: int) -> None:
    table = screen.table.table
    table.move_cursor(row=table.get_row_index(str(order)))
    await pilot.pause()
    assert screen.selected is not None and screen.selected.order == order


def keys(app: CmailConsole) -> dict[str, bool]:
    """Key → enabled, for the keys shown now (hidden keys are absent)."""
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def messages(app: CmailConsole, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity in (None, n.severity)]


def listed(screen: AddressesScreen) -> list[int]:
    return [row.rule.order for row in screen.table.records]


async def fill(pilot: Pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await pilot.pause()


async def choose_router(pilot: Pilot, router: str) -> None:
    pilot.app.screen.query_one("#router", Select).value = router
    await pilot.pause()


async def open_form(pilot: Pilot, key: str) -> RuleForm:
    await pilot.press(key)
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, RuleForm)
    return form


def error_line(form: RuleForm, selector: str) -> str:
    line = form.query_one(selector)
    assert line.has_class("-shown"), f"{selector} is not shown"
    return str(line.render())


async def save(pilot: Pilot) -> None:
    await pilot.press("enter")
    await settle(pilot)


def dialog_lines(app: CmailConsole) -> list[str]:
    return [str(line.content) for line in app.screen.query(".dialog-line")]


# --- the list --------------------------------------------------------------------------------
async def test_admin_sees_every_rule_highest_order_first(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        orders = listed(screen)
        assert orders == sorted(orders, reverse=True) and len(orders) == 15
        cells = [c.plain for c in screen.table.table.get_row("102")]
        assert cells[1:3] == ["%@kitinfo.de", "redirect"]
        assert cells[3].startswith("(from-local)")
        assert [c.plain for c in screen.table.table.get_row("206")][3] == "—"  # NULL route
        shown = keys(app)
        assert all(shown[k] for k in "aedJmw")
        assert shown["K"] is False  # the top rule cannot go higher


async def test_filter_searches_expression_and_route(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await pilot.press("slash", *"mpease", "enter")
        await settle(pilot)
        assert listed(screen) == [203, 100]  # by expression and by route


# --- add and edit ----------------------------------------------------------------------------
async def test_admin_adds_a_store_rule_on_top(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        form = await open_form(pilot, "a")
        assert app.focused is form.query_one("#expression")
        assert AUTOMATIC_ORDER in str(form.query_one("#order-hint").render())
        await pilot.press(*"new@kitinfo.de", "tab", "tab", *"mpe")
        await pilot.pause(0.3)  # the debounce
        await settle(pilot)
        suggestions = form.query_one("#users")
        assert suggestions.display and suggestions.option_count == 1
        await pilot.press("down", "enter")  # take the suggested user
        await pilot.pause()
        assert form.route_input.value == "mpease"
        await save(pilot)
        assert isinstance(app.screen, AddressesScreen)
        assert rules(console_path)[207] == ("new@kitinfo.de", "store", "mpease")
        assert any("takes priority over every existing rule" in m for m in messages(app))
        assert screen.selected is not None and screen.selected.order == 207


async def test_unknown_store_target_is_refused_in_the_form(console, session_for, console_path):
    before = rules(console_path)
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_addresses(pilot)
        form = await open_form(pilot, "a")
        await fill(pilot, "#expression", "x@kitinfo.de")
        await fill(pilot, "#route", "MPEASE")
        await save(pilot)
        assert app.screen is form  # still open, nothing lost
        text = error_line(form, "#route-error")
        assert "there is no user 'MPEASE'" in text and "did you mean 'mpease'" in text
        assert app.focused is form.route_input
    assert rules(console_path) == before


async def test_redirect_with_an_unknown_placeholder_is_refused(console, session_for, console_path):
    before = rules(console_path)
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_addresses(pilot)
        form = await open_form(pilot, "a")
        await choose_router(pilot, "redirect")
        assert "(to-local) (to-domain) (from-local) (from-domain)" in str(
            form.query_one("#route-hint").render()
        )
        await fill(pilot, "#expression", "r@kitinfo.de")
        await fill(pilot, "#route", "(to-user)@elsewhere.org")
        await save(pilot)
        assert "unknown placeholder (to-user)" in error_line(form, "#route-error")
    assert rules(console_path) == before


async def test_an_explicit_order_that_is_taken_is_refused(console, session_for, console_path):
    before = rules(console_path)
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_addresses(pilot)
        form = await open_form(pilot, "a")
        await fill(pilot, "#expression", "o@kitinfo.de")
        await choose_router(pilot, "drop")
        assert not form.query_one("#route-row").display  # drop has no route
        await fill(pilot, "#order", "102")
        await save(pilot)
        assert "already taken by rule 102" in error_line(form, "#form-error")
        await fill(pilot, "#order", "150")
        await save(pilot)
    assert rules(console_path)[150] == ("o@kitinfo.de", "drop", None)
    assert len(rules(console_path)) == len(before) + 1


async def test_edit_changes_the_router_and_route(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 204)
        form = await open_form(pilot, "enter")  # Enter edits like e
        assert form.query_one("#expression", Input).value == "spam@kitinfo.de"
        assert form.route_input.value == "foo@foo.net"
        await choose_router(pilot, "reject")
        assert form.route_input.value == ""  # each router keeps its own route
        await fill(pilot, "#route", "No spam here")
        await save(pilot)
        assert isinstance(app.screen, AddressesScreen)
        assert rules(console_path)[204] == ("spam@kitinfo.de", "reject", "No spam here")
        assert any("now routes to reject (No spam here)" in m for m in messages(app))
        assert [c.plain for c in screen.table.table.get_row("204")][2] == "reject"


async def test_cancelling_the_form_changes_nothing(console, session_for, console_path):
    before = rules(console_path)
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 204)
        await open_form(pilot, "e")
        await fill(pilot, "#route", "other@foo.net")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)
    assert rules(console_path) == before


async def test_an_unknown_router_must_be_replaced(console, session_for, console_path):
    sql(console_path, "UPDATE addresses SET address_router = 'Store' WHERE address_order = 4")
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 4)
        form = await open_form(pilot, "e")
        assert form.query_one("#router", Select).is_blank()  # not silently turned into store
        assert "Unknown router Store" in str(form.query_one("#route-hint").render())
        await save(pilot)
        assert "The router must be one of" in error_line(form, "#router-error")
        await choose_router(pilot, "store")
        assert form.route_input.value == ""  # its own field: type or pick the user
        await fill(pilot, "#route", "user")
        await save(pilot)
    assert rules(console_path)[4] == ("%@test.piratenrun.de", "store", "user")


async def test_database_strings_are_shown_literally(console, session_for, console_path):
    sql(
        console_path,
        "INSERT INTO addresses VALUES (?, 300, 'reject', ?)",
        MARKUP_USER + "@kitinfo.de",
        "[red]no[/red]",
    )
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        cells = screen.table.table.get_row("300")
        assert cells[1].plain == "[b]x[/b]\\e[31m@kitinfo.de" and not cells[1].spans
        assert cells[3].plain == "[red]no[/red]"
        await select(pilot, screen, 300)
        await pilot.press("d")
        await settle(pilot)
        assert "[b]x[/b]\\e[31m@kitinfo.de" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("n")
        sql(
            console_path,
            "UPDATE addresses SET address_expression = '[b]%' WHERE address_order = 300",
        )
        panel = await trace(pilot, screen, "[b]x[/b]@kitinfo.de")
        assert "matched  rule 300  [b]% → reject [red]no[/red]" in panel.result_text
        assert "551 [red]no[/red]" in panel.result_text


# --- delete ----------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", ["n", "y"])
async def test_delete_asks_first(console, session_for, console_path, answer):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 102)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.focused is app.screen.query_one("#no")
        assert "%@kitinfo.de" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press(answer)
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)
        if answer == "n":
            assert 102 in rules(console_path)
        else:
            assert 102 not in rules(console_path)
            assert 102 not in listed(screen)
            # core says which rule gets the addresses back
            assert any("t%t@kitinfo.de" in m for m in messages(app, "warning"))


# --- reorder ---------------------------------------------------------------------------------
async def test_move_up_swaps_after_the_preview(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 100)
        await pilot.press("K")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.focused is app.screen.query_one("#no")
        title = str(app.screen.query_one(".dialog-title").content)
        assert "Swap rule 100 (t%t@kitinfo.de) with rule 102 (%@kitinfo.de)" in title
        lines = dialog_lines(app)
        assert CHANGES_DESTINATION in lines
        assert any("t%t@kitinfo.de" in line and "instead of" in line for line in lines)
        await pilot.press("y")
        await settle(pilot)
        after = rules(console_path)
        assert after[102] == ("t%t@kitinfo.de", "store", "mpease")
        assert after[100][0] == "%@kitinfo.de" and after[100][1] == "redirect"
        assert screen.selected is not None and screen.selected.order == 102  # cursor followed
        assert screen.selected.expression == "t%t@kitinfo.de"


async def test_declining_the_preview_changes_nothing(console, session_for, console_path):
    before = rules(console_path)
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 100)
        await pilot.press("K")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)
        assert screen.selected is not None and screen.selected.order == 100
    assert rules(console_path) == before


async def test_move_to_a_free_order_and_swap_by_order(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 4)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, PromptModal)
        await pilot.press(*"150", "enter")
        await settle(pilot)
        assert "to order 150?" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("y")
        await settle(pilot)
        assert rules(console_path)[150][0] == "%@test.piratenrun.de" and 4 not in rules(
            console_path
        )
        assert screen.selected is not None and screen.selected.order == 150

        await pilot.press("w", *"2", "enter")
        await settle(pilot)
        assert "Swap rule 150" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("y")
        await settle(pilot)
        after = rules(console_path)
        assert after[2][0] == "%@test.piratenrun.de" and after[150][0] == "%@cbcdn.com"
        assert screen.selected is not None and screen.selected.order == 2


async def test_a_big_preview_scrolls_inside_the_dialog(console, session_for, console_path):
    sql(console_path, "INSERT INTO addresses VALUES ('%', 3, 'drop', NULL)")
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 3)
        await pilot.press("m", *"1000", "enter")
        await settle(pilot)
        lines = dialog_lines(app)
        assert lines[1] == CHANGES_DESTINATION
        assert lines[-1].startswith("… and ") and lines[-1].endswith("more such changes.")
        box = app.screen.query_one("#reorder-lines")
        assert box.max_scroll_y > 0  # more than fits: it scrolls, the buttons stay on screen
        await pilot.press("pagedown")
        assert box.scroll_y > 0 and app.focused is app.screen.query_one("#no")
        await pilot.press("escape")
        await settle(pilot)
    assert 3 in rules(console_path)


async def test_a_bad_order_is_cores_sentence(console, session_for, console_path):
    before = rules(console_path)
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 4)
        await pilot.press("m", *"high", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)
        assert messages(app, "error") == ["The new order must be a whole number, not 'high'."]
    assert rules(console_path) == before


# --- delegate --------------------------------------------------------------------------------
async def test_delegate_adds_inside_its_expression_only(console, session_for, console_path):
    make_delegate(console_path)
    app = console(session=session_for("deleg"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        orders = listed(screen)
        assert 102 in orders and 2 not in orders  # %@cbcdn.com stores to cbdev: not its user
        form = await open_form(pilot, "a")
        assert "inside %@kitinfo.de" in form.query_one("#expression", Input).placeholder
        await fill(pilot, "#expression", "x@kitinfo.de")
        await fill(pilot, "#route", "plain")
        await save(pilot)
        assert rules(console_path)[207] == ("x@kitinfo.de", "store", "plain")

        form = await open_form(pilot, "a")
        await fill(pilot, "#expression", "x@cbcdn.com")
        await fill(pilot, "#route", "plain")
        await save(pilot)
        assert "does not lie inside one of your delegated expressions" in error_line(
            form, "#form-error"
        )
    assert not any(expression == "x@cbcdn.com" for expression, _, _ in rules(console_path).values())


async def test_delegate_write_keys_are_dimmed_outside_its_expressions(
    console, session_for, console_path
):
    make_delegate(console_path)
    sql(console_path, "UPDATE addresses SET address_route = 'plain' WHERE address_order = 2")
    before = rules(console_path)
    app = console(session=session_for("deleg"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        await select(pilot, screen, 2)  # %@cbcdn.com → plain: seen (its user), not writable
        assert [c.plain for c in screen.table.table.get_row("2")][-1] == VIEW_ONLY
        shown = keys(app)
        assert all(shown[k] is False for k in "edKJmw")
        assert shown["a"] and shown["t"]
        await pilot.press("d", "e", "K")
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)  # dimmed keys do nothing
        await select(pilot, screen, 102)
        assert all(keys(app)[k] for k in "edmw")
        # core refuses anyway: a swap with a rule outside the delegation
        await pilot.press("w", *"2", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)
        assert any("may not swap with rule 2" in m for m in messages(app, "error"))
    assert rules(console_path) == before


async def test_plain_user_sees_its_store_rules_read_only(console, session_for, console_path):
    sql(console_path, "UPDATE addresses SET address_route = 'plain' WHERE address_order = 4")
    app = console(session=session_for("plain"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        assert listed(screen) == [4]
        shown = keys(app)
        assert not any(k in shown for k in "aedKJmw")  # hidden, not just dimmed
        assert shown["t"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AddressesScreen)


# --- trace -----------------------------------------------------------------------------------
async def trace(pilot: Pilot, screen: AddressesScreen, recipient: str) -> TracePanel:
    await pilot.press("t")
    await pilot.pause()
    panel = screen.trace_panel
    assert panel.display and pilot.app.focused is panel.query_one("#trace-recipient")
    await pilot.press(*recipient)
    await pilot.pause(0.3)  # the debounce
    await settle(pilot)
    return panel


async def test_trace_shows_the_winner_and_the_shadowed_rule(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        panel = await trace(pilot, screen, "test@kitinfo.de")
        text = panel.result_text
        assert "matched  rule 102  %@kitinfo.de → redirect" in text
        assert "shadowed rule 100  t%t@kitinfo.de → store mpease" in text
        assert "outcome  REDIRECT" in text
        assert screen.selected is not None and screen.selected.order == 102  # cursor follows
        await pilot.press("escape")
        assert app.focused is screen.table.table
        await pilot.press("t")
        assert not panel.display


async def test_trace_answers_as_you_type_only_the_last_question(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        panel = await trace(pilot, screen, "user@kitinfo.de")
        assert "Stored in the mailbox of user." in panel.result_text
        await pilot.press("ctrl+u", *"nobody@nowhere.example")  # ctrl+u clears the input
        await pilot.pause(0.3)
        await settle(pilot)
        assert panel.trace is not None and panel.trace.outcome == "no-match"
        assert "551 Unknown user" in panel.result_text


async def test_plain_user_traces_its_own_address_only(console, session_for, console_path):
    sql(console_path, "UPDATE addresses SET address_route = 'plain' WHERE address_order = 200")
    app = console(session=session_for("plain"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_addresses(pilot)
        panel = await trace(pilot, screen, "user@kitinfo.de")
        assert "Stored in the mailbox of plain." in panel.result_text
        await pilot.press("ctrl+u", *"spam@kitinfo.de")
        await pilot.pause(0.3)
        await settle(pilot)
        assert panel.refusal is not None and "may not trace" in panel.result_text
        assert messages(app, "error") == []  # shown in the panel, not toasted per key


# --- snapshots -------------------------------------------------------------------------------
async def _open(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)


def test_snapshot_admin(snap_compare, console, session_for):
    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_open)


def test_snapshot_delegate(snap_compare, console, session_for, console_path):
    make_delegate(console_path)
    app = console(session=session_for("deleg"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_open)


def test_snapshot_add_form_store(snap_compare, console, session_for):
    async def run_before(pilot: Pilot) -> None:
        await _open(pilot)
        await pilot.press("a", *"new@kitinfo.de", "tab", "tab", *"cb")
        await pilot.pause(0.3)
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_trace(snap_compare, console, session_for):
    async def run_before(pilot: Pilot) -> None:
        await _open(pilot)
        await pilot.press("t", *"test@kitinfo.de")
        await pilot.pause(0.3)
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
