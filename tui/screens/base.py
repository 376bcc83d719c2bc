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
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from core.access import Scope, Session, current_scope
from core.db import Database
from core.records import Change
from tui.widgets.status_bar import ModuleBar, StatusBar
from tui.workers import ServiceCalls

fetch_scope = current_scope  # TODO(lead): remove once every screen imports current_scope


class ModuleScreen(ServiceCalls, Screen[None]):
    """Status bar + module bar + `compose_body()` + footer, and the rights to hide keys."""

    AUTO_FOCUS: ClassVar[str | None] = "DataTable"  # the list, not its (hidden) filter bar
    MODULE_ID: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.back", "Back", show=False, id="screen.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.scope: Scope | None = None

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
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def crumbs(self) -> tuple[str, ...]:
        return (self.TITLE,)

    def on_screen_resume(self) -> None:
        # Rights may have changed while another module was on screen.
        self.refresh_scope()

    @work(thread=True, exclusive=True, group="scope", exit_on_error=False)
    def refresh_scope(self) -> None:
        self.attempt(partial(current_scope, self.db, self.session), self._scope_loaded)

    def _scope_loaded(self, scope: Scope) -> None:
        self.scope = scope
        self.refresh_bindings()

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
