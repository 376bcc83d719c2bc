"""The top lines of every module screen: where you are, who you are, what you may do.

Meaning never rests on colour alone: the role is spelled out, and a read-only database shows the
word READ-ONLY, not just a red cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui.text import printable

if TYPE_CHECKING:
    from tui.app import CmailConsole
    from tui.modules import Module

SEPARATOR = " › "
LOCK_WAIT_TEXT = "waiting for the database lock…"
# A write that waits longer than this (a daemon holds the lock) is shown; shorter waits would
# only flicker.
LOCK_WAIT_SHOWN = 0.3


class StatusBar(Horizontal):
    """Breadcrumb on the left; `user (role) · file.db3 · READ-ONLY` on the right, and
    `waiting for the database lock…` while a write waits for the daemons' lock."""

    DEFAULT_CSS = """
    StatusBar #lock-wait {
        display: none;
        width: auto;
        padding: 0 1;
        text-style: bold reverse;
    }
    """

    def __init__(self, crumbs: Sequence[str] = (), *, id: str | None = "status-bar") -> None:
        super().__init__(id=id)
        self._crumbs = tuple(crumbs)

    def compose(self) -> ComposeResult:
        yield Static(id="crumbs")
        yield Static(id="identity")
        yield Static(Text("READ-ONLY"), id="read-only-badge")
        yield Static(Text(LOCK_WAIT_TEXT), id="lock-wait")

    def on_mount(self) -> None:
        self.update_status()
        # Writes run in thread workers and may wait in SQLite's busy handler for seconds; the
        # database tells how long, so a cheap poll shows it without touching every screen.
        self.set_interval(0.1, self._show_lock_wait)

    def _show_lock_wait(self) -> None:
        console: CmailConsole = self.app  # type: ignore[assignment]
        waiting = console.db is not None and console.db.lock_wait() >= LOCK_WAIT_SHOWN
        badge = self.query_one("#lock-wait")
        if badge.display != waiting:
            badge.display = waiting

    def set_crumbs(self, *crumbs: str) -> None:
        """Show a new location, e.g. `set_crumbs("Users", name)` for a detail view."""
        self._crumbs = crumbs
        self.update_status()

    def update_status(self) -> None:
        console: CmailConsole = self.app  # type: ignore[assignment]
        crumbs = Text("cmail console", style="bold")
        for crumb in self._crumbs:
            crumbs.append(SEPARATOR)
            crumbs.append(printable(crumb))  # crumbs may quote database strings
        self.query_one("#crumbs", Static).update(crumbs)
        session = console.session
        who = (
            Text.assemble(printable(session.label), f" ({session.role.value})")
            if session is not None
            else Text("not logged in", style="dim")
        )
        identity = Text.assemble(who, " · ", printable(console.db_name))
        self.query_one("#identity", Static).update(identity)
        self.query_one("#read-only-badge").display = console.read_only


class ModuleBar(Static):
    """The modules this role may open, with their keys; the current one is highlighted and
    bracketed (so it is visible without colour)."""

    def __init__(self, current: str | None = None, *, id: str | None = "module-bar") -> None:
        super().__init__(id=id)
        self._current = current

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Full titles when they fit, the short labels otherwise (an admin's 8 modules at 80)."""
        console: CmailConsole = self.app  # type: ignore[assignment]
        modules = console.visible_modules()
        line = self._line([(m, m.title) for m in modules])
        if self.size.width and line.cell_len > self.size.width:
            line = self._line([(m, m.label) for m in modules])
        self.update(line)

    def _line(self, labels: list[tuple[Module, str]]) -> Text:
        line = Text()
        for module, title in labels:
            label = f"{module.key} {title}"
            if module.id == self._current:
                line.append(f"[{label}]", style="reverse bold")
            else:
                line.append(f" {label} ")
        return line
