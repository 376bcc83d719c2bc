"""Lint: every problem in the whole configuration that cmail's daemons would trip over.

Core's `lint()` does all the checking (one read of the small tables, then pure checks) and
returns a bounded list, already sorted errors first. This screen only shows it: a header with
the counts, one row per finding, and the full message of the selected finding below the table,
because a message rarely fits its column at 80 columns. The `/` filter works on the findings
already loaded, so filtering never re-runs the lint.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Static

from core.records import Page
from core.services import lint
from core.services.lint import ERROR, INFO, WARNING, Finding, LintReport
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.paged_table import Column, PagedTable

# Severity as a word, so the meaning never rests on colour; "info" reads as a note here.
SEVERITY_WORDS = {ERROR: "error", WARNING: "warning", INFO: "note"}
LINTING = "Checking the whole configuration…"


@dataclass(frozen=True)
class FindingRow:
    index: int  # position in the report: the row key (two findings may read alike)
    finding: Finding


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(report: LintReport) -> str:
    """'1 error · 10 warnings · 5 notes · 15 rules and 14 users checked'."""
    counts = report.counts
    return " · ".join(
        [
            plural(counts.get(ERROR, 0), "error"),
            plural(counts.get(WARNING, 0), "warning"),
            plural(counts.get(INFO, 0), "note"),
            f"{plural(report.rules, 'rule')} and {plural(report.users, 'user')} checked",
        ]
    )


def where(finding: Finding) -> str:
    """The rule a finding is about (#order), else the user; both as stored."""
    if finding.order is not None:
        return f"#{finding.order}"
    return printable(finding.user) if finding.user is not None else ""


def matches(finding: Finding, needle: str) -> bool:
    """Literal, case-insensitive substring over everything a row shows."""
    haystack = " ".join(
        [
            SEVERITY_WORDS.get(finding.severity, finding.severity),
            finding.kind,
            where(finding),
            finding.user or "",
            finding.message,
        ]
    )
    return needle.casefold() in haystack.casefold()


class LintScreen(ModuleScreen):
    MODULE_ID = "lint"
    TITLE = "Lint"
    HELP = (
        "Every problem in the configuration that cmail's daemons would trip over: errors break "
        "mail now, warnings are likely mistakes, notes are worth knowing. The list is checked "
        "again each time this screen is shown and on r; the line under the list shows the whole "
        "message of the selected finding. Enter (or o) on a finding about a rule opens the "
        "Addresses module on that rule. Nothing here changes the database."
    )
    DEFAULT_CSS = """
    LintScreen #lint-header {
        height: 1;
        padding: 0 1;
        text-style: bold;
    }
    LintScreen #lint-detail {
        height: auto;
        max-height: 4;
        padding: 0 1;
        background: $boost;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="lint.refresh", tooltip="Run the lint again"),
        Binding("o", "open_rule", "Open rule", id="lint.open-rule", tooltip="Show in Addresses"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: LintReport | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(Text(LINTING), id="lint-header")
        fixed = [Column("Severity", 8), Column("Kind", 21), Column("Where", 10)]
        # The message gets the rest of the width (2 cells of padding per column, a scrollbar).
        used = sum((c.width or 0) + 2 for c in fixed) + 4
        yield PagedTable(
            [*fixed, Column("Message", max(20, self.app.size.width - used))],
            fetch=self._fetch_page,
            row_key=lambda row: row.index,
            cells=self._cells,
            empty_text=self._empty_text,
            id="lint-table",
        )
        yield Static(id="lint-detail")

    @property
    def table(self) -> PagedTable:
        return self.query_one("#lint-table", PagedTable)

    @property
    def selected(self) -> Finding | None:
        row: FindingRow | None = self.table.selected
        return None if row is None else row.finding

    # --- running the lint ------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self._run_lint()  # other modules may have changed the configuration meanwhile

    def action_refresh(self) -> None:
        self._run_lint()

    @work(thread=True, exclusive=True, group="lint", exit_on_error=False)
    def _run_lint(self) -> None:
        self.attempt(partial(lint.lint, self.db, self.session), self._linted)

    def _linted(self, report: LintReport) -> None:
        self.report = report
        self.query_one("#lint-header", Static).update(Text(summary_line(report)))
        self.table.reload()

    # --- the list (pages over the report already in memory) --------------------------------------
    def _fetch_page(self, search: str | None, after: int | None, limit: int) -> Page[FindingRow]:
        report = self.report  # replaced whole on the UI thread, never mutated: safe to read here
        if report is None:
            return Page([])
        rows = [
            FindingRow(index, finding)
            for index, finding in enumerate(report.findings)
            if search is None or matches(finding, search)
        ]
        start = after or 0
        page = rows[start : start + limit]
        end = start + len(page)
        return Page(page, end, end < len(rows))

    def _cells(self, row: FindingRow) -> tuple[Text, ...]:
        finding = row.finding
        theme = self.app.current_theme
        styles = {ERROR: f"bold {theme.error or 'red'}", WARNING: theme.warning or "yellow"}
        word = SEVERITY_WORDS.get(finding.severity, finding.severity)
        return (
            safe(word, style=styles.get(finding.severity, "")),
            safe(finding.kind),
            safe(where(finding)),
            safe(finding.message),
        )

    def _empty_text(self, search: str | None) -> str:
        if self.report is None:
            return LINTING
        if search:
            return f"No finding contains '{search}'. Press Esc to clear the filter."
        return "No findings: cmail's daemons will find nothing wrong here. Press r to check again."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        self._show_detail()

    @on(DataTable.RowHighlighted, "#lint-table #table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        finding = self.selected
        detail = self.query_one("#lint-detail", Static)
        detail.display = finding is not None
        if finding is not None:
            detail.update(safe(finding.message))
        self.refresh_bindings()

    # --- to the rule -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_rule":
            finding = self.selected
            return None if finding is None or finding.order is None else True
        return super().check_action(action, parameters)

    @on(DataTable.RowSelected, "#lint-table #table")
    def _row_entered(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_rule()

    def action_open_rule(self) -> None:
        finding = self.selected
        if finding is None or finding.order is None:
            return
        self.console.action_open_module("addresses")
        self.app.call_after_refresh(self._select_rule, finding.order)

    def _select_rule(self, order: int) -> None:
        """Put the Addresses list's cursor on the rule, if that screen is showing its list (a
        rule beyond the loaded rows is not fetched: the list still opens, at its own place)."""
        screen = self.app.screen
        if getattr(screen, "MODULE_ID", None) != "addresses":
            return
        with suppress(NoMatches):  # not mounted yet: it loads its first page by itself
            screen.query_one(PagedTable).reload(select=order)
