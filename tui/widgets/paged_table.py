"""A list whose rows come from a core function returning `Page`s, one page at a time.

The cost of showing a list depends on the page, never on the table: the first page loads when the
list mounts, and the next one only when the cursor comes near the last loaded row. Every fetch runs
in a thread worker; a newer fetch cancels an older one, and a generation number makes sure a slow
stale answer is thrown away instead of overwriting a fresh one.

Use it from a screen:

    yield PagedTable(
        [Column("User", 24), Column("Lock", 24), Column("Note")],
        fetch=lambda search, after, limit: popd.list_entries(
            db, session, search=search, after=after, limit=limit),
        row_key=lambda entry: entry.user,           # the primary key
        cells=lambda entry: (safe(entry.user), …),  # rich Text cells, never markup strings
        empty_text=lambda search: "…why it is empty, and what to press…",
    )
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Static

from core.records import Page
from tui.text import printable
from tui.widgets.filter_bar import FilterBar
from tui.workers import ServiceCalls, deliver

# (search, after, limit) -> Page: called in a worker thread, so it may block on the database.
Fetch = Callable[[str | None, Any, int], Page[Any]]

MAX_ROWS_PER_FETCH = 1000  # core's own cap on one page (core.services.common.MAX_PAGE)


@dataclass(frozen=True)
class Column:
    label: str
    width: int | None = None  # None: as wide as the widest loaded cell


class RowTable(DataTable):
    """A DataTable for lists of records: Home/End go to the first/last row, not the first/last
    column (the row cursor is the only cursor here)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]


class PagedTable(ServiceCalls, Vertical):
    """DataTable + `/` filter + a summary line ("n rows", "filtered: 'x'") + an empty state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "open_filter", "Filter", id="list.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="list.clear-filter"),
    ]
    PAGE_SIZE = 50
    PREFETCH = 10  # load the next page when the cursor is this close to the last loaded row
    LOADING_SHOWN = 0.15  # seconds before a (re)load says "loading…": faster ones would flicker

    class Loaded(Message):
        """A page arrived and is on screen."""

        def __init__(self, table: PagedTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> PagedTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        fetch: Fetch,
        row_key: Callable[[Any], object],
        cells: Callable[[Any], Sequence[Text]],
        empty_text: Callable[[str | None], str],
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._columns = tuple(columns)
        self._fetcher = fetch
        self._row_key = row_key
        self._cells = cells
        self._empty_text = empty_text
        self._records: dict[str, Any] = {}
        self._cursor: Any = None
        self._has_more = False
        self._search: str | None = None
        self._generation = 0
        self._shown_generation = -1  # the generation whose first page is on screen
        self._loading = False
        self._loaded_once = False
        self._note = ""
        self._loading_timer: Timer | None = None
        self._focus_with_page = False
        self._first: FirstPage | None = None

    # --- composition -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        bar = FilterBar(id="filter")
        bar.display = False
        yield bar
        yield RowTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static(id="empty")
        yield Static(id="summary")

    def on_mount(self) -> None:
        for column in self._columns:
            self.table.add_column(Text(column.label), width=column.width)  # not markup
        self.reload()

    # --- what screens use --------------------------------------------------------------------
    @property
    def table(self) -> RowTable:
        return self.query_one("#table", RowTable)

    @property
    def search(self) -> str | None:
        return self._search

    @property
    def loading_rows(self) -> bool:
        return self._loading

    @property
    def ready(self) -> bool:
        """A page is on screen and no fetch is pending (what the benchmark waits for)."""
        return self._loaded_once and not self._loading

    @property
    def answered(self) -> bool:
        """The rows on screen answer the current question (search), though a next page may
        still be loading: a filter's rows that start with the text come before the scan for
        the others ends, and a provisional page before the exact one that replaces it."""
        return self._shown_generation == self._generation

    @property
    def records(self) -> list[Any]:
        """The records loaded so far, in display order."""
        return list(self._records.values())

    @property
    def selected(self) -> Any | None:
        """The record under the cursor, or None when the list is empty."""
        table = self.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._records.get(key) if key is not None else None

    def set_note(self, note: str) -> None:
        """Extra text for the summary line (e.g. when the list was last refreshed)."""
        self._note = note
        self._update_summary()

    def focus_table(self) -> None:
        self.table.focus()

    def reload(self, *, select: object | None = None, fresh: bool = False) -> None:
        """Fetch again from the first row, as many rows as are loaded now (at least a page;
        only a page when `fresh`), keeping the cursor on the same record (or on `select`, e.g.
        a row just created)."""
        self._generation += 1
        self._loading = True
        keep = str(select) if select is not None else self._selected_key()
        loaded = 0 if fresh else len(self._records)
        limit = min(max(self.PAGE_SIZE, loaded), MAX_ROWS_PER_FETCH)
        first, self._first = self._first, None
        if first is not None and first.answers(self._search, limit):
            if first.page.done() and first.page.exception() is None:
                # Read while the screen was built: the rows are in its first frame.
                self._show(self._generation, False, keep, first.page.result())
                return
            call: Callable[[], Page[Any]] = first.page.result  # a failure reports as usual
        else:
            call = partial(self._fetcher, self._search, None, limit)
        self._say_loading_soon()
        self._fetch(self._generation, call, False, keep)

    def preload(self, first: FirstPage) -> None:
        """Call before the list mounts: its first load takes `first` (already being read)
        instead of starting a fetch of its own."""
        self._first = first

    # --- loading -----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="paged-table", exit_on_error=False)
    def _fetch(
        self, generation: int, call: Callable[[], Page[Any]], append: bool, keep: str | None
    ) -> None:
        ok = self.attempt(call, partial(self._show, generation, append, keep))
        if not ok:
            deliver(self, self._failed, generation)

    def _failed(self, generation: int) -> None:
        if generation == self._generation:
            self._loading = False
            self._page_arrived()
            self._update_summary()

    def _say_loading_soon(self) -> None:
        """The summary says "loading…" at once on the first load, else only once a fetch takes
        long enough to notice (a repaint meanwhile would also slow the fetch down)."""
        if self._loading_timer is not None:
            self._loading_timer.stop()
            self._loading_timer = None
        if self._loaded_once:
            self._loading_timer = self.set_timer(self.LOADING_SHOWN, self._update_summary)
        else:
            self._update_summary()

    def _page_arrived(self) -> None:
        if self._loading_timer is not None:
            self._loading_timer.stop()
            self._loading_timer = None
        if self._focus_with_page:
            self._focus_with_page = False
            self.focus_table()

    def _show(self, generation: int, append: bool, keep: str | None, page: Page[Any]) -> None:
        if generation != self._generation:
            return  # an answer to a question nobody asks any more
        table = self.table
        old_index = table.cursor_row
        if not append:
            table.clear()
            self._records.clear()
            self._shown_generation = generation
        for record in page.rows:
            key = str(self._row_key(record))
            if key in self._records:
                continue  # the same row twice would make DataTable raise
            self._records[key] = record
            table.add_row(*self._cells(record), key=key)
        self._cursor = page.cursor
        self._has_more = page.has_more
        self._loading = False
        self._loaded_once = True
        self._page_arrived()
        if not append and table.row_count:
            index = table.get_row_index(keep) if keep in self._records else old_index
            table.move_cursor(row=min(index, table.row_count - 1), animate=False)
        if page.confirm is not None and not append:
            # A provisional answer (a side index's): shown now, replaced by the exact page.
            self._loading = True
            self._say_loading_soon()
            self._fetch(generation, page.confirm, False, None)
        self.set_class(table.row_count == 0, "-empty")
        self._update_summary()
        self.refresh_bindings()
        self.post_message(self.Loaded(self))
        self._fetch_more_if_near_end()  # a short page that says more may follow
        # The rows replaced, their rendered lines and the fetch's worker are cyclic garbage that
        # only a full pass frees, and full passes come seldom: ~1 MB of it would pile up on a
        # screen. The pass walks one screen's objects (app.collect_garbage froze what lives on
        # for the session): a few ms, after the frame that shows the page.
        self.call_after_refresh(gc.collect)

    def _selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return value

    def _update_summary(self) -> None:
        count = self.table.row_count
        if self._loading and not self._loaded_once:
            text = Text("loading…")
        else:
            rows = f"{count}{'+' if self._has_more else ''} row{'' if count == 1 else 's'}"
            text = Text(rows)
            if self._search:
                text = Text.assemble("filtered: '", printable(self._search), "' · ", rows)
            if self._loading:
                text.append(" · loading…")
        if self._note:
            text.append(f" · {self._note}")
        self.query_one("#summary", Static).update(text)
        empty = self._empty_text(self._search) if self._loaded_once and count == 0 else ""
        self.query_one("#empty", Static).update(Text(printable(empty)))

    @on(DataTable.RowHighlighted, "#table")
    def _near_the_end(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()  # keys may depend on the row under the cursor
        self._fetch_more_if_near_end()

    def _fetch_more_if_near_end(self) -> None:
        table = self.table
        if (
            self._has_more
            and not self._loading
            and table.cursor_row >= table.row_count - self.PREFETCH
        ):
            self._loading = True
            self._say_loading_soon()
            call = partial(self._fetcher, self._search, self._cursor, self.PAGE_SIZE)
            self._fetch(self._generation, call, True, None)

    # --- filter --------------------------------------------------------------------------------
    def action_open_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        bar.focus()

    def action_clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = ""
        self._apply_filter("")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self._search)  # otherwise Esc falls through to the screen ("back")
        return True

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        event.stop()
        self._apply_filter(event.text)

    @on(FilterBar.Typed)
    def _filter_typed(self, event: FilterBar.Typed) -> None:
        """Follow the filter as it is typed, leaving the focus in the bar."""
        event.stop()
        if (event.text or None) != self._search:
            self._search = event.text or None
            self.reload(fresh=True)

    def _apply_filter(self, text: str) -> None:
        search = text or None
        self.query_one(FilterBar).display = bool(text)
        if search == self._search and self._loaded_once:
            # The list already follows this text (typed, then a pause): no second query.
            if self._loading:
                self._focus_with_page = True
            else:
                self.focus_table()
            return
        self._search = search
        # The cursor moves to the list with the filtered page: one repaint, not two.
        self._focus_with_page = True
        self.reload(fresh=True)

    # --- kept while its screen is released (tui/screens/base.py, ModuleScreen.remember) -------
    _resumed: ListState | None = None

    def list_state(self) -> ListState:
        """What a rebuilt list shows again: the filter, as many rows, the cursor's row."""
        return ListState(self._search, self._selected_key(), len(self._records))

    def resume_list(self, state: ListState) -> None:
        """Call before the list mounts: its first load is `state`'s, not the unfiltered top."""
        self._resumed = state
        self._search = state.search
        if state.rows > self.PAGE_SIZE:  # the first load fetches them all, so the row is there
            self.PAGE_SIZE = first_limit(state)

    @on(events.Mount)
    def _show_resumed_filter(self) -> None:
        # Runs before on_mount's first load, so the bar is there in the first frame.
        if self._search:
            bar = self.query_one(FilterBar)
            bar.value = self._search
            bar.display = True

    @on(Loaded)
    def _place_resumed_cursor(self, event: Loaded) -> None:
        if event.table is not self or self._resumed is None:
            return
        state, self._resumed = self._resumed, None
        vars(self).pop("PAGE_SIZE", None)  # later pages are the usual size
        if state.cursor is not None and state.cursor in self._records:
            self.table.move_cursor(row=self.table.get_row_index(state.cursor), animate=False)


@dataclass(frozen=True)
class ListState:
    """A list's filter, loaded row count and cursor row (its key), kept across a rebuild."""

    search: str | None
    cursor: str | None
    rows: int


def first_limit(state: ListState | None) -> int:
    """How many rows a list's first load asks for: a page, or as many as it showed before it
    was released (so the cursor's row is there again)."""
    rows = state.rows if state is not None else 0
    return min(max(PagedTable.PAGE_SIZE, rows), MAX_ROWS_PER_FETCH)


@dataclass(frozen=True)
class FirstPage:
    """A list's first page, asked for before the list exists (tui/screens/base.py, prefetch)."""

    search: str | None
    limit: int
    page: Future[Page[Any]]

    def answers(self, search: str | None, limit: int) -> bool:
        return (search, limit) == (self.search, self.limit)
