"""Audit: every change made through the console and every refused attempt, newest first.

Admins only (core refuses anyone else). The list pages backwards through the trail by entry id;
`/` filters by a literal text (action, target, user, result or message, as core searches), the
line under the list shows the whole selected entry, and Enter shows its before → after. Every
value is shown literally: the trail quotes names and messages that anybody may have typed.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from core.audit import Entry
from core.records import Page
from core.services import audit
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.paged_table import Column, Fetch, PagedTable

FILE_SYSTEM = "(file-system)"  # a change made without a login (CLI as the file's owner)
ABSENT = "—"  # a field a row did not have before (created) or has no more (deleted)
ARROW = " → "


def who(entry: Entry) -> str:
    return entry.login if entry.login is not None else FILE_SYSTEM


def short_time(entry: Entry) -> str:
    """'01-02 03:04' from the stored ISO time; the detail line shows it whole."""
    return entry.time[5:16].replace("T", " ")


_MISSING = object()


def _value(value: Any) -> str:
    # JSON spelling keeps "" apart from null and escapes every control character.
    return ABSENT if value is _MISSING else json.dumps(value, ensure_ascii=False, default=str)


def change_lines(before: Any, after: Any) -> list[str]:
    """before → after, one line per field for rows (dicts); whole values otherwise."""
    if before is None and after is None:
        return ["No before or after was recorded (nothing was changed)."]
    if isinstance(before, dict | None) and isinstance(after, dict | None):
        old, new = before or {}, after or {}
        lines = []
        for key in dict.fromkeys([*old, *new]):
            was, now = old.get(key, _MISSING), new.get(key, _MISSING)
            shown = _value(was) if was == now else _value(was) + ARROW + _value(now)
            lines.append(f"{key}: {shown}")
        return lines
    return [f"before: {_value(before)}", f"after:  {_value(after)}"]


def detail_line(entry: Entry) -> Text:
    parts = [entry.time, f"{who(entry)} ({entry.role})", entry.action]
    if entry.target is not None:
        parts.append(entry.target)
    parts.append(entry.result)
    if entry.message:
        parts.append(entry.message)
    return Text(" · ".join(printable(part) for part in parts))


class EntryModal(ModalScreen[None]):
    """One entry in full: who, what, the outcome, and its before → after, as literal text."""

    DEFAULT_CSS = """
    EntryModal {
        align: center middle;
    }
    EntryModal #entry-changes {
        height: auto;
        max-height: 14;
        margin-bottom: 1;
    }
    """
    AUTO_FOCUS = "#entry-changes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="audit.close"),
    ]
    HELP = "The selected audit entry: who did what, the outcome, and what it changed."

    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        entry = self.entry
        with Vertical(id="dialog", classes="dialog"):
            yield Static(
                safe(f"Audit entry {entry.id}: {entry.action}", style="bold"),
                classes="dialog-title",
            )
            yield Static(detail_line(entry), classes="dialog-line", id="entry-summary")
            with VerticalScroll(id="entry-changes"):
                yield Static(
                    Text("\n".join(printable(line) for line in self.lines())), id="entry-text"
                )
            yield Static(safe("Esc or Enter: close", style="dim"), classes="dialog-hint")

    def lines(self) -> list[str]:
        return change_lines(self.entry.before, self.entry.after)

    def action_close(self) -> None:
        self.dismiss(None)


class AuditScreen(ModuleScreen):
    MODULE_ID = "audit"
    TITLE = "Audit"
    HELP = (
        "Every change made through the console and every refused attempt, newest first: when, "
        "who (and with which role), what on which target, and the outcome (ok, refused, "
        "failed). The line under the list shows the selected entry in full; Enter (or o) shows "
        "what it changed, before → after. Passwords are never recorded, only whether a login "
        "works. The trail is append-only; nothing here changes anything."
    )
    DEFAULT_CSS = """
    AuditScreen #audit-detail {
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $boost;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # Enter on a row does the same (the table owns Enter, so the footer shows this key).
        Binding("o", "show_entry", "Before → after", id="audit.show"),
        Binding("r", "refresh", "Refresh", id="audit.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown = False

    def resumed(self) -> None:
        super().resumed()
        # Changes made in other modules since the list was last shown belong on top of it (the
        # first time, the list loads by itself as it mounts).
        if self._shown:
            self.table.reload()
        self._shown = True

    def first_list(self) -> tuple[str, Fetch]:
        return "audit-table", self._fetch_page

    def compose_body(self) -> ComposeResult:
        fixed = [Column("Time", 11), Column("Login", 13), Column("Action", 21), Column("Result", 7)]
        # The target gets the rest of the width (2 cells of padding per column, a scrollbar).
        used = sum((c.width or 0) + 2 for c in fixed) + 6
        yield PagedTable(
            [*fixed, Column("Target", max(12, self.app.size.width - used))],
            fetch=self._fetch_page,
            row_key=lambda entry: entry.id,
            cells=self._cells,
            empty_text=self._empty_text,
            id="audit-table",
        )
        yield Static(id="audit-detail")

    @property
    def table(self) -> PagedTable:
        return self.query_one("#audit-table", PagedTable)

    def _fetch_page(self, search: str | None, after: int | None, limit: int) -> Page[Entry]:
        return audit.list_entries(
            self.db, self.session, search=search, before_id=after, limit=limit
        )

    def _cells(self, entry: Entry) -> tuple[Text, ...]:
        theme = self.app.current_theme
        styles = {"refused": theme.warning or "yellow", "failed": f"bold {theme.error or 'red'}"}
        return (
            safe(short_time(entry)),
            safe(who(entry), style="dim" if entry.login is None else ""),
            safe(entry.action),
            safe(entry.result, style=styles.get(entry.result, "")),
            safe(entry.target),
        )

    def _empty_text(self, search: str | None) -> str:
        if search:
            return f"No audit entry contains '{search}'. Press Esc to clear the filter."
        return "The audit trail is empty: nothing was changed or refused through the console yet."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        self.table.set_note(f"refreshed {self.console.clock():%H:%M:%S}")
        self._show_detail()

    @on(DataTable.RowHighlighted, "#audit-table #table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        entry: Entry | None = self.table.selected
        detail = self.query_one("#audit-detail", Static)
        detail.display = entry is not None
        if entry is not None:
            detail.update(detail_line(entry))
        self.refresh_bindings()

    # --- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_entry":
            return None if self.table.selected is None else True
        return super().check_action(action, parameters)

    @on(DataTable.RowSelected, "#audit-table #table")
    def _row_entered(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_entry()

    def action_show_entry(self) -> None:
        entry: Entry | None = self.table.selected
        if entry is not None:
            self.app.push_screen(EntryModal(entry))

    def action_refresh(self) -> None:
        self.table.reload()
        self.refresh_scope()
