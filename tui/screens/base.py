"""`ModuleScreen`: the base of every module screen (Users, Rights, POP locks, …).

A module screen is the bottom screen of its own Textual *mode* (one screen stack per module, so
a drill-down survives a jump to another module and back). To add one:

1. subclass `ModuleScreen`, set `MODULE_ID`, `TITLE`, `HELP`, `BINDINGS`, and `WRITE_ACTIONS`
   (the actions that change the database: hidden on a read-only file, and asked of `allowed()`);
2. implement `compose_body()` (the part between the status lines and the footer), usually a
   `PagedTable`;
3. implement `allowed(action, parameters)` from `self.scope` (a `core.access.Scope` loaded for
   you): `False` hides a key the role can never use, `None` dims a key the current row does
   not allow. Core checks again on every call; this only keeps refused keys off the screen;
4. run database work in `@work(thread=True, exclusive=True, group=…, exit_on_error=False)`
   methods that call `self.attempt(partial(service, self.db, self.session, …), self._done)`;
5. register the class in `tui/modules.py`.

Only the module on view keeps its screen: when the admin switches module, the app releases the
screen left behind (tui/app.py) after `remember()` put what it showed into a `ScreenState` (the
filter and cursor row of each list, the focus, the attributes named in `KEEP`). Coming back
builds a new screen from the database as it is now, and `resume_from()` gives it that state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, TypeVar

from textual import work
from textual._context import active_app
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from core.access import Scope, Session, current_scope
from core.db import Database
from core.records import Change
from tui.widgets.footer import KeyFooter
from tui.widgets.paged_table import Fetch, FirstPage, ListState, PagedTable, first_limit
from tui.widgets.status_bar import ModuleBar, StatusBar
from tui.workers import ServiceCalls

T = TypeVar("T")


@dataclass(frozen=True)
class ScreenState:
    """What a released module screen showed, for the screen built when its module is opened
    again: a few strings and numbers, not the rows (those are read again)."""

    lists: Mapping[str, ListState] = field(default_factory=dict)  # by the list's id
    focus: str | None = None  # a selector of the focused widget
    kept: Mapping[str, object] = field(default_factory=dict)  # the screen's KEEP attributes


class ModuleScreen(ServiceCalls, Screen[None]):
    """Status bar + module bar + `compose_body()` + footer, and the rights to hide keys."""

    AUTO_FOCUS: ClassVar[str | None] = "DataTable"  # the list, not its (hidden) filter bar
    MODULE_ID: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    # Attributes a rebuilt screen gets back (e.g. a sort order); set before it composes.
    KEEP: ClassVar[tuple[str, ...]] = ()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.back", "Back", show=False, id="screen.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.scope: Scope | None = None
        self._on_screen = False  # between a ScreenResume and the next ScreenSuspend
        self._resumed_lists: dict[str, ListState] = {}
        self._prefetched: tuple[str, FirstPage] | None = None

    # --- what every module screen shares -------------------------------------------------------
    @property
    def db(self) -> Database:
        db = self.console.db
        assert db is not None, "module screens exist only with an open database"
        return db

    @property
    def session(self) -> Session:
        session = self.console.session
        assert session is not None, "module screens exist only while someone is logged in"
        return session

    def compose(self) -> ComposeResult:
        yield StatusBar(self.crumbs())
        yield ModuleBar(current=self.MODULE_ID)
        yield from self._resuming(self.compose_body())
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def crumbs(self) -> tuple[str, ...]:
        return (self.TITLE,)

    def first_list(self) -> tuple[str, Fetch] | None:
        """The id and fetch of the list whose first page `prefetch` reads (None: no list)."""
        return None

    def prefetch(self, executor: Executor) -> FirstPage | None:
        """Start reading the first page of the screen's list, before the screen is composed:
        the app does it while it releases the screen left, so the rows are there for the new
        screen's first frame instead of arriving a frame or two later."""
        found = self.first_list()
        if found is None:
            return None
        list_id, fetch = found
        state = self._resumed_lists.get(list_id)
        search = state.search if state is not None else None
        limit = first_limit(state)
        page = executor.submit(_as_app, self.app, partial(fetch, search, None, limit))
        first = FirstPage(search, limit, page)
        self._prefetched = (list_id, first)
        return first

    def on_screen_resume(self) -> None:
        # Textual resumes a mode's new screen twice (as the mode starts and as it is switched
        # to); the second changes nothing and must not read everything again (a whole lint).
        if self._on_screen:
            return
        self._on_screen = True
        self.resumed()

    def on_screen_suspend(self) -> None:
        self._on_screen = False

    def resumed(self) -> None:
        """The screen is shown, first or again. Override (calling super()) to re-read what
        other modules may have changed meanwhile; not `on_screen_resume`, which Textual calls
        in every class that defines it."""
        self.refresh_scope()  # rights may have changed while another module was on screen

    @work(thread=True, exclusive=True, group="scope", exit_on_error=False)
    def refresh_scope(self) -> None:
        self.attempt(partial(current_scope, self.db, self.session), self._scope_loaded)

    def _scope_loaded(self, scope: Scope) -> None:
        self.scope = scope
        self.refresh_bindings()

    # --- released and rebuilt (tui/app.py) -------------------------------------------------------
    def remember(self) -> ScreenState:
        """What to show again after this screen is released."""
        lists = {table.id: table.list_state() for table in self.query(PagedTable) if table.id}
        kept = {name: getattr(self, name) for name in self.KEEP}
        return ScreenState(lists, _focus_selector(self.focused), kept)

    def resume_from(self, state: ScreenState) -> None:
        """Call on a new screen, before it composes: it shows `state` instead of its start."""
        for name, value in state.kept.items():
            setattr(self, name, value)
        self._resumed_lists = dict(state.lists)
        if state.focus is not None:
            self.AUTO_FOCUS = state.focus  # type: ignore[misc]  # this screen only

    def _resuming(self, widgets: Iterable[Widget]) -> Iterator[Widget]:
        # Every widget the body yields passes here, also those inside `with container:`.
        for widget in widgets:
            if isinstance(widget, PagedTable) and widget.id in self._resumed_lists:
                widget.resume_list(self._resumed_lists.pop(widget.id))
            if isinstance(widget, PagedTable) and self._prefetched is not None:
                list_id, first = self._prefetched
                if widget.id == list_id:
                    self._prefetched = None
                    widget.preload(first)
            yield widget

    # --- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.WRITE_ACTIONS:
            if self.console.read_only or self.scope is None:
                return False
            return self.allowed(action, parameters)
        return True

    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Override: may the role use this write action (False hides), does the current state
        allow it (None dims)? Called only when the file is writable and `self.scope` is known."""
        return True

    # --- outcomes --------------------------------------------------------------------------------
    def report_change(self, change: Change) -> None:
        """Show a write's outcome: its sentence, then each warning core attached to it."""
        self.console.say(change.message)
        for warning in change.warnings:
            self.console.say(warning, severity="warning")


def _as_app(app: App[object], call: Callable[[], T]) -> T:
    """Run `call` in a pool thread as Textual's thread workers do: a screen not yet mounted
    finds its app (and so the database and session) only through the active-app variable."""
    active_app.set(app)
    return call()


def _focus_selector(widget: Widget | None) -> str | None:
    """`#list #table` for the focused widget (ids of it and its ancestors), or None: an input
    (a module key cannot have left the cursor in one) or a widget without an id gets the
    screen's usual focus back."""
    if widget is None or widget.id is None or isinstance(widget, Input):
        return None
    ids = [node.id for node in (widget, *widget.ancestors) if isinstance(node, Widget) and node.id]
    return " ".join(f"#{node_id}" for node_id in reversed(ids))
