"""Lint: every problem in the whole configuration that cmail's daemons would trip over.

Core's `lint.scan()` streams the findings in batches as it checks chunk after chunk of each
table; this screen shows them as they come. The first batch with findings puts rows on screen
(within a few ms, whatever the size of the database), later batches are merged in, errors first,
and the cursor stays on the finding it is on (row keys are the findings themselves, not list
positions). The header says how far the check has got, then the counts. The screen keeps the
first 1,000 findings of each kind and counts the rest in one row per kind, so its memory stays
small at a million users; `cmail-console lint` lists them all. The `/` filter works on the
findings kept, so filtering never re-runs the lint. Leaving the screen stops the check; showing
it again (or r) starts it afresh.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from core.records import Page
from core.services import lint
from core.services.lint import ERROR, INFO, SEVERITIES, WARNING, Finding, LintBatch, LintReport
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.paged_table import Column, PagedTable
from tui.workers import deliver

# Severity as a word, so the meaning never rests on colour; "info" reads as a note here.
SEVERITY_WORDS = {ERROR: "error", WARNING: "warning", INFO: "note"}
LINTING = "Checking the whole configuration…"
KEPT_PER_KIND = 250  # findings of one kind the screen keeps; the rest are only counted
REFRESH_EVERY = 0.3  # seconds between two redraws of the list while findings stream in
FIRST_ROWS_WAIT = 0.5  # seconds the check waits at most for its first findings to be drawn


@dataclass(frozen=True)
class FindingRow:
    key: str  # the row key: the finding itself, so it survives re-sorting and re-runs
    rank: tuple  # its place in the list: errors first, then as core sorts findings
    finding: Finding
    haystack: str  # what the filter searches, case-folded once
    more: bool = False  # the row that counts the findings of a kind beyond those kept


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


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


def progress_line(batch: LintBatch, found: int) -> str:
    """'Checking… 120,000 of 2,000,000 rules · 3,021 findings so far'."""
    where = f"{batch.done:,} of {batch.total:,} {batch.step}" if batch.total else batch.step
    return f"Checking… {where} · {found:,} finding{'' if found == 1 else 's'} so far"


def where(finding: Finding) -> str:
    """The rule a finding is about (#order), else the user; both as stored."""
    if finding.order is not None:
        return f"#{finding.order}"
    return printable(finding.user) if finding.user is not None else ""


def haystack(finding: Finding) -> str:
    """Everything a row shows, case-folded: the filter is a literal substring of it."""
    return " ".join(
        [
            SEVERITY_WORDS.get(finding.severity, finding.severity),
            finding.kind,
            where(finding),
            finding.user or "",
            finding.message,
        ]
    ).casefold()


def matches(finding: Finding, needle: str) -> bool:
    """Literal, case-insensitive substring over everything a row shows."""
    return needle.casefold() in haystack(finding)


def finding_row(finding: Finding) -> FindingRow:
    sort = lint.sort_key(finding)
    key = "\x1f".join(
        [finding.kind, str(finding.order), finding.user or "", finding.message]
    )  # \x1f: a separator no check writes
    return FindingRow(key, (sort[0], sort[1], 0, sort[2:]), finding, haystack(finding))


def more_row(kind: str, severity: str, count: int) -> FindingRow:
    """The row after the kept findings of a kind, counting those not kept."""
    message = (
        f"… and {count:,} more {kind} finding{'' if count == 1 else 's'}: "
        "`cmail-console lint` lists them all."
    )
    finding = Finding(kind, severity, message)
    rank = (SEVERITIES.index(severity), kind, 1)
    return FindingRow(f"more\x1f{kind}", rank, finding, haystack(finding), more=True)


class KeptFindings:
    """The findings the screen shows: the first KEPT_PER_KIND of each kind, sorted, plus one
    row per kind counting the rest. `rows` is replaced whole by `snapshot()`, never mutated, so
    the list's fetch thread may read it while batches arrive."""

    def __init__(self) -> None:
        self.rows: list[FindingRow] = []
        self.counts: Counter[str] = Counter()  # severity → findings, kept or not
        self.kinds: Counter[str] = Counter()  # kind → findings, kept or not
        self._keys: set[str] = set()
        self._kept: Counter[str] = Counter()
        self._found: list[FindingRow] = []  # the kept findings, sorted
        self._severity: dict[str, str] = {}
        self._stale = False  # findings arrived since the last snapshot

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def capped(self) -> bool:
        return any(self.kinds[kind] > kept for kind, kept in self._kept.items())

    def add(self, findings: tuple[Finding, ...]) -> None:
        fresh: list[FindingRow] = []
        for finding in findings:
            self._stale = True
            self.counts[finding.severity] += 1
            self.kinds[finding.kind] += 1
            self._severity.setdefault(finding.kind, finding.severity)
            if self._kept[finding.kind] >= KEPT_PER_KIND:
                continue
            row = finding_row(finding)
            if row.key in self._keys:  # alike to the letter: the first stands for both
                continue
            self._keys.add(row.key)
            self._kept[finding.kind] += 1
            fresh.append(row)
        if fresh:
            # Two sorted runs: Timsort merges them in one pass.
            self._found = sorted([*self._found, *sorted(fresh, key=_rank)], key=_rank)

    def snapshot(self) -> list[FindingRow]:
        """The rows as of now (the same list object if nothing arrived since)."""
        if self._stale:
            self._stale = False
            more = [
                more_row(kind, self._severity[kind], self.kinds[kind] - kept)
                for kind, kept in self._kept.items()
                if self.kinds[kind] > kept
            ]
            self.rows = sorted([*self._found, *more], key=_rank)
        return self.rows


def _rank(row: FindingRow) -> tuple:
    return row.rank


class LintScreen(ModuleScreen):
    MODULE_ID = "lint"
    TITLE = "Lint"
    HELP = (
        "Every problem in the configuration that cmail's daemons would trip over: errors break "
        "mail now, warnings are likely mistakes, notes are worth knowing. The list is checked "
        "again each time this screen is shown and on r; findings appear as the check goes, and "
        "the line under the list shows the whole message of the selected finding. The screen "
        f"keeps the first {KEPT_PER_KIND:,} findings of each kind (`cmail-console lint` lists "
        "them all). Enter (or o) on a finding about a rule opens the Addresses module on that "
        "rule. Nothing here changes the database."
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
    KEEP: ClassVar[tuple[str, ...]] = ("resume_cursor",)  # the finding under the cursor
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="lint.refresh", tooltip="Run the lint again"),
        Binding("o", "open_rule", "Open rule", id="lint.open-rule", tooltip="Show in Addresses"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.findings = KeptFindings()
        self.report: LintReport | None = None  # set when a whole check has finished
        self.first_rows_shown = False  # the list shows this check's first findings (or its end)
        self._generation = 0  # the check now running; batches of an older one are dropped
        self._last_redraw = 0.0
        self._redraw_timer: Timer | None = None
        self._progress: LintBatch | None = None  # the latest batch of the running check
        self._drawn: list[FindingRow] | None = None  # the rows the list was last asked to show
        self._filtered: tuple[str, list[FindingRow], list[FindingRow]] | None = None
        self._wanted: str | None = None  # the row key to put the cursor on once it arrives
        self._on_view = threading.Event()  # the running check's first rows are on screen

    def compose_body(self) -> ComposeResult:
        yield Static(Text(LINTING), id="lint-header")
        # Where: room for most user names; one cut short would read as another user's.
        fixed = [Column("Severity", 8), Column("Kind", 21), Column("Where", 14)]
        # The message gets the rest of the width (2 cells of padding per column, a scrollbar).
        used = sum((c.width or 0) + 2 for c in fixed) + 4
        yield PagedTable(
            [*fixed, Column("Message", max(20, self.app.size.width - used))],
            fetch=self._fetch_page,
            row_key=lambda row: row.key,
            cells=self._cells,
            empty_text=self._empty_text,
            id="lint-table",
        )
        yield Static(id="lint-detail")

    @property
    def table(self) -> PagedTable:
        return self.query_one("#lint-table", PagedTable)

    @property
    def resume_cursor(self) -> str | None:
        """The row key under the cursor: a rebuilt screen puts the cursor back on that finding
        when the check reaches it again (tui/screens/base.py, ModuleScreen.KEEP)."""
        with suppress(NoMatches):
            row: FindingRow | None = self.table.selected
            return None if row is None else row.key
        return None

    @resume_cursor.setter
    def resume_cursor(self, key: str | None) -> None:
        self._wanted = key

    @property
    def selected(self) -> Finding | None:
        row: FindingRow | None = self.table.selected
        return None if row is None else row.finding

    # --- running the lint ------------------------------------------------------------------------
    def resumed(self) -> None:
        super().resumed()
        self._start()  # other modules may have changed the configuration meanwhile

    def on_screen_suspend(self) -> None:
        self._stop()  # nobody watches: the check would only keep the database busy

    def action_refresh(self) -> None:
        self._start()

    def _start(self) -> None:
        self._stop()
        self.findings = KeptFindings()
        self.report = None
        self.first_rows_shown = False
        self._progress = self._drawn = None
        self._last_redraw = 0.0
        self._say(LINTING)
        self._on_view = threading.Event()
        self._run_lint(self._generation, self._on_view)

    def _stop(self) -> None:
        """Cancel the running check: its worker stops before its next chunk."""
        self._generation += 1
        self.workers.cancel_group(self, "lint")
        self._on_view.set()  # a worker waiting for the screen goes on, to notice it is cancelled
        if self._redraw_timer is not None:
            self._redraw_timer.stop()
            self._redraw_timer = None

    @work(thread=True, exclusive=True, group="lint", exit_on_error=False)
    def _run_lint(self, generation: int, on_view: threading.Event) -> None:
        ok = self.attempt(
            partial(self._stream, generation, on_view), partial(self._finished, generation)
        )
        if not ok:
            deliver(self, self._failed, generation)

    def _stream(self, generation: int, on_view: threading.Event) -> LintBatch | None:
        """In the worker: hand each batch to the screen; the last one (None: cancelled)."""
        worker = get_current_worker()
        scan = lint.scan(self.db, self.session)
        last = None
        try:
            for last in scan:
                if worker.is_cancelled:
                    return None
                deliver(self, self._arrived, generation, last)
                if last.findings and not on_view.is_set():
                    # The first findings: the screen draws them with the CPU to itself (the
                    # check would slow it down), then the check goes on.
                    on_view.wait(FIRST_ROWS_WAIT)
                time.sleep(0)  # let the screen take the batch in while the next is read
        finally:
            scan.close()
        return last

    def _arrived(self, generation: int, batch: LintBatch) -> None:
        if generation != self._generation:
            return
        self.findings.add(batch.findings)
        self._progress = batch
        if batch.findings and self._drawn is None:
            self._redraw()  # the first findings go on screen at once
        elif self._redraw_timer is None:
            wait = max(0.0, self._last_redraw + REFRESH_EVERY - time.monotonic())
            self._redraw_timer = self.set_timer(wait, self._redraw)

    def _redraw(self) -> None:
        """Show the progress and the rows that arrived since the last redraw."""
        self._redraw_timer = None
        self._last_redraw = time.monotonic()
        if self.report is None and self._progress is not None:
            self._say(progress_line(self._progress, self.findings.total))
        if self.findings.snapshot() is not self._drawn:
            self._show_rows()

    def _show_rows(self) -> None:
        self._drawn = self.findings.snapshot()
        self.table.set_note(
            f"first {KEPT_PER_KIND:,} of each kind shown" if self.findings.capped else ""
        )
        self.table.reload(select=self._wanted or self._keep_at_top())

    def _keep_at_top(self) -> str | None:
        """A cursor on the first row stays on the first row, so the worst findings stay in
        view as they arrive; elsewhere the cursor stays on its finding (the list's default)."""
        table = self.table
        if table.table.cursor_row > 0 or not self.findings.rows:
            return None
        rows = self.findings.rows
        search = table.search
        rows = self._matching(search, rows) if search else rows
        return rows[0].key if rows else None

    def _say(self, line: str) -> None:
        with suppress(NoMatches):  # not composed yet: it starts with LINTING anyway
            self.query_one("#lint-header", Static).update(Text(line))

    def _finished(self, generation: int, last: LintBatch | None) -> None:
        if generation != self._generation or last is None:
            return
        if self._redraw_timer is not None:
            self._redraw_timer.stop()
            self._redraw_timer = None
        kept = self.findings
        counts = {severity: kept.counts.get(severity, 0) for severity in SEVERITIES}
        kinds = dict(sorted(kept.kinds.items()))
        findings = tuple(row.finding for row in kept.snapshot() if not row.more)
        self.report = LintReport(findings, counts, kinds, last.rules, last.users)
        self._say(summary_line(self.report))
        self._show_rows()

    def _failed(self, generation: int) -> None:
        if generation == self._generation:
            self._say("The check stopped before the end (see the message). Press r to try again.")

    # --- the list (pages over the findings kept) -------------------------------------------------
    def _fetch_page(self, search: str | None, after: tuple | None, limit: int) -> Page[FindingRow]:
        rows = self.findings.rows  # replaced whole on the UI thread, never mutated: safe here
        if search:
            rows = self._matching(search, rows)
        start = 0 if after is None else bisect_right(rows, after, key=_rank)
        page = rows[start : start + limit]
        more = start + len(page) < len(rows)
        return Page(page, page[-1].rank if page else after, more)

    def _matching(self, search: str, rows: list[FindingRow]) -> list[FindingRow]:
        """The rows containing `search`, computed once per search and set of rows, not per
        page: scrolling a filtered list only slices it."""
        cached = self._filtered
        if cached is not None and cached[0] == search and cached[1] is rows:
            return cached[2]
        needle = search.casefold()
        found = [row for row in rows if needle in row.haystack]
        self._filtered = (search, rows, found)
        return found

    def _cells(self, row: FindingRow) -> tuple[Text, ...]:
        finding = row.finding
        theme = self.app.current_theme
        styles = {ERROR: f"bold {theme.error or 'red'}", WARNING: theme.warning or "yellow"}
        word = SEVERITY_WORDS.get(finding.severity, finding.severity)
        return (
            safe(word, style=styles.get(finding.severity, "")),
            safe(finding.kind),
            safe("" if row.more else where(finding)),
            safe(finding.message, style="italic" if row.more else ""),
        )

    def _empty_text(self, search: str | None) -> str:
        if search:
            return f"No finding contains '{search}'. Press Esc to clear the filter."
        if self.report is None:
            return LINTING
        return "No findings: cmail's daemons will find nothing wrong here. Press r to check again."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        if self.findings.rows or self.report is not None:
            self.first_rows_shown = True
            self.call_after_refresh(self._on_view.set)  # once the rows are drawn
        if self._wanted is not None and (self.resume_cursor == self._wanted or self.report):
            self._wanted = None  # there (or gone for good): the cursor is the admin's again
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
