"""A filtered list shows the names that start with the text first, at the cost of an index
range, and then follows with the names that only contain it, from a scan (issue 5)."""

from __future__ import annotations

from tuikit import settle

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
