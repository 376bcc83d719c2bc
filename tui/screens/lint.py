"""Lint: every problem in the whole configuration that cmail's daemons would trip over.

Core's `lint.scan()` streams the findings in batches as it checks chunk after chunk of each
table; this screen shows them as they come. The first batch with findings puts rows on screen
(within a few ms, whatever the size of the database); then the screen looks for more every
REFRESH_EVERY and merges them in, errors first, and the cursor stays on the finding it is on
(row keys are the findings themselves, not list positions). The header says how far the check
has got, then the counts. The screen keeps the first 100 findings of each kind and counts the
rest in one row per kind: the worker picks those (Sieve), so only they reach the UI thread and
the memory stays small at a million users; `cmail-console lint` lists them all. The `/` filter
works on the findings kept, so filtering never re-runs the lint. Leaving the screen stops the
check; showing it again (or r) starts it afresh.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, replace
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
KEPT_PER_KIND = 100  # findings of one kind the screen keeps; the rest are only counted
REFRESH_EVERY = 0.3  # seconds between two redraws of the list while findings stream in
FIRST_ROWS_WAIT = 0.5  # seconds the check waits at most for its first findings to be drawn


@dataclass(frozen=True, slots=True)
class FindingRow:
    key: str  # the row key: the finding itself, so it survives re-sorting and re-runs
    rank: tuple  # its place in the list: errors first, then as core sorts findings
    finding: Finding
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
    return FindingRow(key, (sort[0], sort[1], 0, sort[2:]), finding)


def more_row(kind: str, severity: str, count: int) -> FindingRow:
    """The row after the kept findings of a kind, counting those not kept."""
    message = (
        f"… and {count:,} more {kind} finding{'' if count == 1 else 's'}: "
        "`cmail-console lint` lists them all."
    )
    finding = Finding(kind, severity, message)
    rank = (SEVERITIES.index(severity), kind, 1)
    return FindingRow(f"more\x1f{kind}", rank, finding, more=True)


@dataclass(frozen=True)
class Tally:
    """How many findings of each severity and kind a check has found so far, and how many of
    each kind the screen keeps. Handed from the worker whole, never mutated."""

    counts: dict[str, int]  # severity → findings, kept or not
    kinds: dict[str, int]  # kind → findings, kept or not
    kept: dict[str, int]  # kind → findings kept
    severity: dict[str, str]  # kind → its severity


NO_TALLY = Tally({}, {}, {}, {})


class Sieve:
    """In the check's worker: picks the findings the screen keeps (the first KEPT_PER_KIND of
    each kind; alike to the letter, the first stands for both) and counts them all. Only the
    kept ones cross to the UI thread: a million users' check finds some 60,000, and each batch
    waiting in the screen's queue would hold all of its own."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._kinds: Counter[str] = Counter()
        self._kept: Counter[str] = Counter()
        self._severity: dict[str, str] = {}
        self._keys: set[str] = set()
        self.tally = NO_TALLY

    def sift(self, findings: tuple[Finding, ...]) -> list[FindingRow]:
        """The rows of these findings that the screen keeps; `tally` counts them all."""
        fresh: list[FindingRow] = []
        for finding in findings:
            self._counts[finding.severity] += 1
            self._kinds[finding.kind] += 1
            self._severity.setdefault(finding.kind, finding.severity)
            if self._kept[finding.kind] >= KEPT_PER_KIND:
                continue
            row = finding_row(finding)
            if row.key in self._keys:
                continue
            self._keys.add(row.key)
            self._kept[finding.kind] += 1
            fresh.append(row)
        if findings:
            self.tally = Tally(
                dict(self._counts), dict(self._kinds), dict(self._kept), dict(self._severity)
            )
        return fresh


class Handoff:
    """Where the check's worker leaves what it found for the screen: the latest batch (how far
    the check has got), the kept findings since the screen last looked, and the tally. The
    screen looks every REFRESH_EVERY (and at once for the first findings): nothing queues up
    however fast the check goes, and the worker never waits for the screen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch: LintBatch | None = None
        self._rows: list[FindingRow] = []
        self._tally = NO_TALLY

    def put(self, batch: LintBatch, rows: list[FindingRow], tally: Tally) -> None:
        with self._lock:
            self._batch = batch
            self._rows += rows
            self._tally = tally

    def take(self) -> tuple[LintBatch, list[FindingRow], Tally] | None:
        """What arrived since the last look (None: nothing)."""
        with self._lock:
            if self._batch is None:
                return None
            taken = (self._batch, self._rows, self._tally)
            self._batch, self._rows = None, []
            return taken


class KeptFindings:
    """The findings the screen shows: those a Sieve kept, sorted, plus one row per kind
    counting the rest. `rows` is replaced whole by `snapshot()`, never mutated, so the list's
    fetch thread may read it while batches arrive."""

    def __init__(self) -> None:
        self.rows: list[FindingRow] = []
        self.tally = NO_TALLY
        self._found: list[FindingRow] = []  # the kept findings, sorted
        self._stale = False  # findings arrived since the last snapshot

    @property
    def counts(self) -> dict[str, int]:
        return self.tally.counts

    @property
    def kinds(self) -> dict[str, int]:
        return self.tally.kinds

    @property
    def total(self) -> int:
        return sum(self.tally.counts.values())

    @property
    def capped(self) -> bool:
        return any(self.tally.kinds[kind] > kept for kind, kept in self.tally.kept.items())

    def add(self, fresh: list[FindingRow], tally: Tally) -> None:
        if tally is not self.tally:
            self.tally = tally
            self._stale = True
        if fresh:
            # Two sorted runs: Timsort merges them in one pass.
            self._found = sorted([*self._found, *sorted(fresh, key=_rank)], key=_rank)

    def snapshot(self) -> list[FindingRow]:
        """The rows as of now (the same list object if nothing arrived since)."""
        if self._stale:
            self._stale = False
            tally = self.tally
            more = [
                more_row(kind, tally.severity[kind], tally.kinds[kind] - kept)
                for kind, kept in tally.kept.items()
                if tally.kinds[kind] > kept
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
        self._generation = 0  # the check now running; results of an older one are dropped
        self._handoff = Handoff()  # what the running check found since the last look
        self._poll: Timer | None = None  # looks into the handoff while the check runs
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
        self._say(LINTING)
        self._on_view = threading.Event()
        self._handoff = Handoff()
        self._poll = self.set_interval(REFRESH_EVERY, self._look)
        self._run_lint(self._generation, self._on_view, self._handoff)

    def _stop(self) -> None:
        """Cancel the running check: its worker stops before its next chunk."""
        self._generation += 1
        self.workers.cancel_group(self, "lint")
        self._on_view.set()  # a worker waiting for the screen goes on, to notice it is cancelled
        self._stop_looking()

    def _stop_looking(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    @work(thread=True, exclusive=True, group="lint", exit_on_error=False)
    def _run_lint(self, generation: int, on_view: threading.Event, handoff: Handoff) -> None:
        ok = self.attempt(
            partial(self._stream, generation, on_view, handoff),
            partial(self._finished, generation),
        )
        if not ok:
            deliver(self, self._failed, generation)

    def _stream(
        self, generation: int, on_view: threading.Event, handoff: Handoff
    ) -> LintBatch | None:
        """In the worker: leave each batch in the handoff, with the findings the screen keeps
        instead of all of them; the last one (None: cancelled)."""
        worker = get_current_worker()
        scan = lint.scan(self.db, self.session)
        sieve = Sieve()
        last = None
        try:
            for batch in scan:
                if worker.is_cancelled:
                    return None
                fresh = sieve.sift(batch.findings)
                last = replace(batch, findings=())
                handoff.put(last, fresh, sieve.tally)
                if fresh and not on_view.is_set():
                    # The first findings go on screen at once, drawn with the CPU to itself
                    # (the check would slow it down); then the check goes on.
                    deliver(self, self._first_findings, generation)
                    on_view.wait(FIRST_ROWS_WAIT)
        finally:
            scan.close()
        return last

    def _first_findings(self, generation: int) -> None:
        if generation == self._generation:
            self._look()

    def _look(self) -> None:
        """Show what the running check found since the last look."""
        taken = self._handoff.take()
        if taken is None:
            return
        self._progress, rows, tally = taken
        self.findings.add(rows, tally)
        self._redraw()

    def _redraw(self) -> None:
        """Show the progress and the rows that arrived since the last redraw."""
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
        self._stop_looking()
        taken = self._handoff.take()  # what arrived since the last look
        if taken is not None:
            self.findings.add(taken[1], taken[2])
        kept = self.findings
        counts = {severity: kept.counts.get(severity, 0) for severity in SEVERITIES}
        kinds = dict(sorted(kept.kinds.items()))
        findings = tuple(row.finding for row in kept.snapshot() if not row.more)
        self.report = LintReport(findings, counts, kinds, last.rules, last.users)
        self._say(summary_line(self.report))
        self._show_rows()

    def _failed(self, generation: int) -> None:
        if generation == self._generation:
            self._stop_looking()
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
        page: scrolling a filtered list only slices it. (Each row's text is put together here,
        not kept: a few ms for the rows kept, against some 200 KB.)"""
        cached = self._filtered
        if cached is not None and cached[0] == search and cached[1] is rows:
            return cached[2]
        needle = search.casefold()
        found = [row for row in rows if needle in haystack(row.finding)]
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
