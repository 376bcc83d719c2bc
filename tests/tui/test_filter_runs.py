"""A filtered list shows the names that start with the text first, at the cost of an index
range, and then follows with the names that only contain it, from a scan (issue 5)."""

from __future__ import annotations

import sqlite3

from tuikit import settle

from core import rule_index
from tui.widgets.paged_table import PagedTable


async def test_prefix_rows_are_shown_before_the_scan_for_the_others(
    console, session_for, monkeypatch
):
    shown: list[tuple[list[str], bool]] = []
    show = PagedTable._show

    def recorded(table: PagedTable, *args: object) -> None:
        show(table, *args)  # type: ignore[arg-type]
        if table.search:
            shown.append(([user.name for user in table.records], table.ready))

    monkeypatch.setattr(PagedTable, "_show", recorded)
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        table = app.screen.query_one(PagedTable)
        await pilot.press("slash", *"te", "enter")
        await settle(pilot)
        # "te" starts "test" and is inside "nulltest" and "postmaster".
        assert shown[0] == (["test"], False)  # on screen while the scan still runs
        assert [user.name for user in table.records] == ["test", "nulltest", "postmaster"]
        assert table.ready and table.answered


async def test_the_rule_filter_answers_from_the_side_index_then_from_the_table(
    console, session_for, console_path, monkeypatch
):
    """The rules list has no index for a substring: a filter is first answered from the
    console's side index (core.rule_index) and then confirmed by a scan of the table, which
    also finds a rule added behind the index's back (here: by another connection)."""
    shown: list[tuple[list[str], bool]] = []
    show = PagedTable._show

    def recorded(table: PagedTable, *args: object) -> None:
        show(table, *args)  # type: ignore[arg-type]
        if table.search:
            shown.append(([row.rule.expression for row in table.records], table.ready))

    monkeypatch.setattr(PagedTable, "_show", recorded)
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(PagedTable)
        await pilot.press("slash", *"kitinfo", "enter")  # the first filter starts the build
        await settle(pilot)
        index = rule_index.existing(app.db)
        assert index is not None and index.wait(30)
        with sqlite3.connect(console_path) as other:
            other.execute(
                "INSERT INTO addresses (address_expression, address_order, address_router)"
                " VALUES ('late@kitinfo.de', 150, 'drop')"
            )
        shown.clear()
        await pilot.press("escape", "slash", *"kitinfo", "enter")
        await settle(pilot)
        provisional, confirmed = shown[0], shown[-1]
        assert "late@kitinfo.de" not in provisional[0] and not provisional[1]
        assert confirmed[0] == [*provisional[0][:6], "late@kitinfo.de", *provisional[0][6:]]
        assert confirmed[1] and table.answered
        assert index.wait(30)  # rebuilt: the next answer from the index has the rule
        shown.clear()
        await pilot.press("escape", "slash", *"kitinfo", "enter")
        await settle(pilot)
        assert "late@kitinfo.de" in shown[0][0] and shown[0][0] == shown[-1][0]
