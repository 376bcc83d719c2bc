"""A live trace of inbound mail: type a recipient (and a sender), see where the mail goes.

The panel asks core (`core.services.routing.trace_inbound`, given as a callable) after every
change, ~150 ms after the last key press, in an exclusive thread worker: a newer question cancels
the older one, and a generation number throws away any answer to an old question. Core decides
what may be traced; a refusal is shown in the panel (not as a toast on every key press).

Use it from a screen:

    yield TracePanel(lambda recipient, sender: routing.trace_inbound(db, session, recipient,
                     sender))

It posts `TracePanel.Traced(trace)` when an answer is on screen (e.g. to move a list's cursor to
the winning rule) and `TracePanel.Leave()` when Esc is pressed in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from core.errors import CmailError, SessionEnded
from core.services.routing import Hop, InboundTrace, Rule
from tui.text import printable
from tui.workers import ServiceCalls, deliver

log = logging.getLogger("cmail.tui")

# (recipient, sender or None) -> InboundTrace: runs in a worker thread.
Trace = Callable[[str, str | None], InboundTrace]

DEBOUNCE = 0.15  # seconds after the last key press before core is asked
MAX_SHADOWED = 8  # shadowed rules listed per hop; the rest are counted
LABEL = 8  # width of the left column ("matched", "shadowed", …)
HINT = (
    "Type a recipient address: each hop shows the rule that wins, the rules it shadows, and "
    "what the router does. A sender is optional (it fills (from-local) and (from-domain))."
)


def _rule_text(rule: Rule) -> Text:
    route = "" if rule.route is None else f" {printable(rule.route)}"
    expression, router = printable(rule.expression), printable(rule.router)
    return Text(f"rule {rule.order}  {expression} → {router}{route}")


Row = tuple[str, Text]  # (left column label, literal text)


def _hop_rows(number: int, hop: Hop, error: str) -> list[Row]:
    rows: list[Row] = [(f"hop {number}", Text(printable(hop.address), style="bold"))]
    if hop.hidden or hop.rule is None:
        rows.append(("matched", Text("a rule you cannot see")))
    else:
        rows.append(("matched", _rule_text(hop.rule)))
    rows += [("shadowed", _rule_text(rule)) for rule in hop.shadowed[:MAX_SHADOWED]]
    if len(hop.shadowed) > MAX_SHADOWED:
        more = len(hop.shadowed) - MAX_SHADOWED
        rows.append(("shadowed", Text(f"… and {more} more rules", style="dim")))
    if not hop.hidden:
        action = Text(printable(hop.action))
        if hop.target is not None:
            action.append(f" → {printable(hop.target)}")
        if hop.reply:
            action.append(f" · {printable(hop.reply)}")
        if hop.failed:
            action.append(" · FAILS", style=f"bold {error}")
        rows.append(("action", action))
    rows += [("note", Text(printable(note))) for note in hop.notes]
    return rows


def trace_rows(trace: InboundTrace, error: str = "red") -> list[Row]:
    """The trace, row by row: each hop (matched rule, shadowed rules, action, notes), then the
    outcome, its reason and what the sending server sees."""
    rows: list[Row] = []
    for number, hop in enumerate(trace.hops, 1):
        rows += _hop_rows(number, hop, error)
    outcome = Text(printable(trace.outcome).upper(), style="bold")
    if trace.target is not None:
        outcome.append(f" → {printable(trace.target)}")
    if trace.failed:
        outcome.append(" · FAILS", style=f"bold {error}")
    rows.append(("outcome", outcome))
    rows.append(("reason", Text(printable(trace.reason))))
    if trace.reply:
        rows.append(("reply", Text(printable(trace.reply))))
    return rows


def render_rows(rows: list[Row]) -> Table:
    """Two columns, so a wrapped note stays indented under its text."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=LABEL, style="dim", no_wrap=True)
    grid.add_column(ratio=1)
    for label, text in rows:
        grid.add_row(label, text)
    return grid


def plain_rows(rows: list[Row]) -> str:
    return "\n".join(f"{label:<{LABEL}} {text.plain}" for label, text in rows)


class TracePanel(ServiceCalls, Vertical):
    """Recipient + sender inputs over a scrollable trace that follows the typing."""

    DEFAULT_CSS = """
    TracePanel {
        height: 50%;
        min-height: 10;
        border-top: solid $primary;
        border-title-align: left;
        padding: 0 1;
    }
    TracePanel > #trace-inputs {
        height: 1;
    }
    TracePanel > #trace-inputs > Label {
        width: auto;
        padding: 0 1 0 0;
        color: $text-muted;
    }
    TracePanel > #trace-inputs > #trace-recipient {
        width: 2fr;
        margin-right: 2;
    }
    TracePanel > #trace-inputs > #trace-sender {
        width: 1fr;
    }
    TracePanel > #trace-scroll {
        height: 1fr;
        margin-top: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back to the list", id="trace.leave"),
    ]

    class Traced(Message):
        """A trace is on screen."""

        def __init__(self, panel: TracePanel, trace: InboundTrace) -> None:
            super().__init__()
            self.panel = panel
            self.trace = trace

        @property
        def control(self) -> TracePanel:
            return self.panel

    class Leave(Message):
        """Esc in the panel: the screen should focus its list again."""

    def __init__(self, trace: Trace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._trace = trace
        self._timer: Timer | None = None
        self._generation = 0
        self.trace: InboundTrace | None = None  # the answer on screen, if any
        self.refusal: str | None = None  # core's sentence when it refused the last question
        self._plain = HINT

    def compose(self) -> ComposeResult:
        with Horizontal(id="trace-inputs"):
            yield Label("To")
            yield Input(placeholder="recipient address", id="trace-recipient", compact=True)
            yield Label("From")
            yield Input(placeholder="sender (optional)", id="trace-sender", compact=True)
        with VerticalScroll(id="trace-scroll"):
            yield Static(Text(HINT, style="dim"), id="trace-result")

    def on_mount(self) -> None:
        self.border_title = "Trace inbound mail"

    # --- what screens use ----------------------------------------------------------------------
    @property
    def recipient(self) -> str:
        return self.query_one("#trace-recipient", Input).value.strip()

    @property
    def sender(self) -> str | None:
        return self.query_one("#trace-sender", Input).value.strip() or None

    @property
    def result_text(self) -> str:
        """What the panel shows now, as plain text (for tests and screen readers)."""
        return self._plain

    def focus_input(self) -> None:
        self.query_one("#trace-recipient", Input).focus()

    def retrace(self) -> None:
        """Ask again now (e.g. after the rules changed)."""
        if self.recipient:
            self._ask()

    # --- asking core ---------------------------------------------------------------------------
    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self._ask)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter asks at once instead of waiting for the debounce
        if self._timer is not None:
            self._timer.stop()
        self._ask()

    def _ask(self) -> None:
        self._generation += 1
        recipient = self.recipient
        if not recipient:
            self.trace = None
            self.refusal = None
            self._show(Text(HINT, style="dim"), HINT)
            return
        self._run(self._generation, recipient, self.sender)

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def _run(self, generation: int, recipient: str, sender: str | None) -> None:
        try:
            trace = self._trace(recipient, sender)
        except SessionEnded as error:
            deliver(self, self.console.report_error, error)
        except CmailError as error:
            deliver(self, self._refused, generation, str(error))
        except Exception as error:  # a bug: one line on screen, details in the log
            log.exception("unexpected error while tracing")
            deliver(self, self.console.report_bug, error)
        else:
            deliver(self, self._answered, generation, trace)

    def _answered(self, generation: int, trace: InboundTrace) -> None:
        if generation != self._generation:
            return  # typing went on since this question
        self.trace = trace
        self.refusal = None
        error = self.app.current_theme.error or "red"
        rows = trace_rows(trace, error)
        self._show(render_rows(rows), plain_rows(rows))
        self.post_message(self.Traced(self, trace))

    def _refused(self, generation: int, sentence: str) -> None:
        if generation != self._generation:
            return
        self.trace = None
        self.refusal = sentence
        self._show(Text(printable(sentence)), printable(sentence))

    def _show(self, shown: Text | Table, plain: str) -> None:
        self._plain = plain
        self.query_one("#trace-result", Static).update(shown)
        self.query_one("#trace-scroll", VerticalScroll).scroll_home(animate=False)

    def action_leave(self) -> None:
        self.post_message(self.Leave())
