"""Address mapping: the inbound routing table, in the order cmail-smtpd reads it (reference §3).

cmail routes a recipient by the matching rule with the highest order, so the list shows the
highest order first and every reorder asks core what it changes (`reorder_preview`) before it
asks for a yes. The trace panel (`t`) answers "where does mail to this address go?" as you type.

Rights: core decides everything. The screen only hides what a role can never do (plain users
write nothing) and dims the write keys on rows outside a delegate's expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from core.access import Role, current_scope
from core.records import Change, Page
from core.services import addresses, routing
from core.services.addresses import AddressRule, ReorderPreview, destination
from core.services.routing import InboundTrace
from tui.screens.address_forms import ReorderConfirm, RuleForm
from tui.screens.base import ModuleScreen
from tui.text import safe
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import Column, Fetch, PagedTable
from tui.widgets.prompt import PromptModal
from tui.widgets.trace_panel import TracePanel

VIEW_ONLY = "view only"
CAN_EDIT = "can edit"
CHANGES_DESTINATION = "These addresses change destination:"
NO_CHANGE = "No address changes destination."


@dataclass(frozen=True)
class RuleRow:
    """A rule as listed, with whether the lister could change it (for the delegate column)."""

    rule: AddressRule
    writable: bool


def reorder_lines(preview: ReorderPreview) -> tuple[str, list[str]]:
    """The confirm dialog of a reorder: what is done, then what it changes (core's words)."""
    rule, partner = preview.rule, preview.partner
    if partner is None:
        title = f"Move rule {rule.order} ({rule.expression}) to order {preview.new_order}?"
        higher = "before" if preview.new_order > rule.order else "after"
        what = (
            f"Rule {rule.order} gets the free order {preview.new_order}: it is checked {higher} "
            "the rules in between."
        )
    else:
        title = (
            f"Swap rule {rule.order} ({rule.expression}) with rule {partner.order} "
            f"({partner.expression})?"
        )
        first, second = (rule, partner) if preview.new_order > rule.order else (partner, rule)
        what = (
            f"In one transaction rule {rule.order} gets order {partner.order} and rule "
            f"{partner.order} gets order {rule.order}: {first.expression} is then checked "
            f"before {second.expression}."
        )
    # Core's sentences come in the order of its shifts (the first MAX_SHIFT_WARNINGS of them,
    # the only ones routed through the table), then its summaries.
    paired = min(len(preview.shifts), addresses.MAX_SHIFT_WARNINGS)
    pairs = list(zip(preview.shifts[:paired], preview.sentences[:paired], strict=False))
    changing = [text for shift, text in pairs if shift.changes_destination]
    lines = [what]
    if changing:
        lines += [CHANGES_DESTINATION, *changing]
    elif preview.shifts:
        lines.append(NO_CHANGE)
    lines += [text for shift, text in pairs if not shift.changes_destination]
    lines += preview.sentences[paired:]
    return title, lines


class AddressesScreen(ModuleScreen):
    MODULE_ID = "addresses"
    TITLE = "Addresses"
    HELP = (
        "Inbound routing: cmail delivers mail for a recipient by the matching rule with the "
        "highest order, so the list shows the highest order first, and a rule above another "
        "wins wherever both match (% is any text, _ any one character). a adds (a blank order "
        "puts the rule on top), e or Enter edits, d deletes. K (shift+k) raises the selected "
        "rule one line by swapping orders with the rule listed above it, J (shift+j) lowers it, "
        "m moves it to a free order, w swaps it with the rule of another order; each shows "
        "which addresses change destination before you confirm. t opens the trace: type a "
        "recipient and see each hop, the rule that wins, the rules it shadows, and the "
        "outcome (Esc returns to the list). Delegates change only rules inside "
        "their delegated expressions; plain users see their own store rules."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"add", "edit", "delete", "step", "move", "swap"}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", id="addresses.add", tooltip="Add a rule"),
        Binding(
            "e", "edit", "Edit", id="addresses.edit", tooltip="Change router, route or expression"
        ),
        Binding("d", "delete", "Delete", id="addresses.delete", tooltip="Delete the rule"),
        Binding("K", "step('up')", "Up", id="addresses.up", tooltip="Swap with the rule above"),
        Binding(
            "J", "step('down')", "Down", id="addresses.down", tooltip="Swap with the rule below"
        ),
        Binding("m", "move", "Move", id="addresses.move", tooltip="Give the rule a free order"),
        Binding("w", "swap", "Swap", id="addresses.swap", tooltip="Swap orders with a rule"),
        Binding("t", "trace", "Trace", id="addresses.trace", tooltip="Where does mail go?"),
        Binding("r", "refresh", "Refresh", show=False, id="addresses.refresh"),
    ]

    def first_list(self) -> tuple[str, Fetch]:
        return "addresses-table", self._fetch_page

    def compose_body(self) -> ComposeResult:
        columns = [Column("Order", 6), Column("Expression", 24), Column("Router", 8)]
        delegate = self.session.role is Role.DELEGATE
        access = [Column("Access", 9)] if delegate else []
        # The route gets the rest of the terminal's width (DataTable pads each column by 2 and
        # keeps a column for the scrollbar); its full text is in the edit form and the trace.
        used = sum((c.width or 0) + 2 for c in (*columns, *access)) + 4
        columns += [Column("Route", max(16, self.app.size.width - used)), *access]
        yield PagedTable(
            columns,
            fetch=self._fetch_page,
            row_key=lambda row: row.rule.order,
            cells=self._cells,
            empty_text=self._empty_text,
            id="addresses-table",
        )
        panel = TracePanel(self._trace, id="trace-panel")
        panel.display = False
        yield panel

    # --- the list ------------------------------------------------------------------------------
    @property
    def table(self) -> PagedTable:
        return self.query_one("#addresses-table", PagedTable)

    @property
    def trace_panel(self) -> TracePanel:
        return self.query_one("#trace-panel", TracePanel)

    @property
    def selected(self) -> AddressRule | None:
        row: RuleRow | None = self.table.selected
        return None if row is None else row.rule

    def _fetch_page(self, search: str | None, after: int | None, limit: int) -> Page[RuleRow]:
        # quick: a filter is first answered from the side index, then confirmed by a scan.
        return self._with_access(
            partial(
                addresses.list_rules, self.db, self.session,
                search=search, after=after, limit=limit, quick=True,
            )
        )  # fmt: skip

    def _with_access(self, read: Callable[[], Page[AddressRule]]) -> Page[RuleRow]:
        # The rights are read with the page, so the Access column matches the rows it marks.
        scope = current_scope(self.db, self.session)
        page = read()
        rows = [RuleRow(r, scope.may_write_address(r.expression)) for r in page.rows]
        confirm = None if page.confirm is None else partial(self._with_access, page.confirm)
        return Page(rows, page.cursor, page.has_more, confirm=confirm)

    def _cells(self, row: RuleRow) -> tuple[Text, ...]:
        rule = row.rule
        cells: tuple[Text, ...] = (
            Text(str(rule.order), justify="right"),
            safe(rule.expression),
            safe(rule.router),
            safe(rule.route),
        )
        if self.session.role is Role.DELEGATE:
            cells += (Text(CAN_EDIT) if row.writable else Text(VIEW_ONLY, style="dim"),)
        return cells

    def _empty_text(self, search: str | None) -> str:
        if search:
            return (
                f"No rule's expression or route contains '{search}'. Press Esc to clear the filter."
            )
        role = self.session.role
        if role is Role.USER:
            return "No rule stores mail for you; ask an administrator for an address."
        if role is Role.DELEGATE:
            return (
                "No rule lies inside your delegated expressions or stores mail for your users. "
                "Press a to add one."
            )
        return "There are no rules: mail to any address gets 551 Unknown user. Press a to add one."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _row_entered(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.check_action("edit", ()):
            self.action_edit()

    # --- keys ------------------------------------------------------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        assert scope is not None
        if scope.role is Role.USER:
            return False  # a plain user writes no rule: its own rows are shown read-only
        if action == "add":
            return scope.is_admin or bool(scope.expressions)
        rule = self.selected
        if rule is None or not scope.may_write_address(rule.expression):
            return None  # nothing selected, or a rule outside the delegated expressions
        if action == "step" and parameters == ("up",) and not self.table.search:
            first = self.table.records[:1]
            if first and first[0].rule.order == rule.order:
                # Nothing above it that this role may swap with: every writable rule is listed.
                return None
        return True

    def action_refresh(self) -> None:
        self.table.reload()
        self.refresh_scope()
        self.trace_panel.retrace()

    # --- add, edit, delete ----------------------------------------------------------------------
    def action_add(self) -> None:
        scope = self.scope
        hint = ""
        if scope is not None and scope.role is Role.DELEGATE and scope.expressions:
            hint = f"inside {', '.join(scope.expressions)}"
        self.app.push_screen(RuleForm(expression_hint=hint), self._saved)

    def action_edit(self) -> None:
        rule = self.selected
        if rule is not None:
            self.app.push_screen(RuleForm(rule), self._saved)

    def _saved(self, change: Change | None) -> None:
        if change is not None:
            order = change.data.get("rule", {}).get("order")
            self._written(order, change)

    def action_delete(self) -> None:
        rule = self.selected
        if rule is None:
            return
        self.app.push_screen(
            ConfirmModal(
                f"Delete rule {rule.order} ({rule.expression})?",
                [
                    f"Rule {rule.order} is deleted: {rule.expression} → {destination(rule)}.",
                    "Mail it matched goes to the next matching rule below it, or, if none "
                    "matches, gets 551 Unknown user. The rules that get mail back are listed "
                    "after the delete.",
                ],
                yes="Delete",
            ),
            partial(self._delete_answered, rule.order),
        )

    def _delete_answered(self, order: int, answer: bool | None) -> None:
        if answer:
            self._write(partial(addresses.delete_rule, self.db, self.session, order), None)

    # --- reorder ---------------------------------------------------------------------------------
    def action_step(self, direction: str) -> None:
        """Swap with the row above (below) as listed, so the rule moves one line on screen; a
        rule at the edge of the loaded rows swaps with its neighbour in the whole table."""
        rule = self.selected
        if rule is None:
            return
        orders = [row.rule.order for row in self.table.records]
        index = orders.index(rule.order) + (-1 if direction == "up" else 1)
        target = str(orders[index]) if 0 <= index < len(orders) else direction
        self._preview(rule.order, target)

    def action_move(self) -> None:
        rule = self.selected
        if rule is None:
            return
        self.app.push_screen(
            PromptModal(
                f"Move rule {rule.order} ({rule.expression})",
                "New order (higher orders are checked first; an order already taken means a "
                "swap with that rule):",
                placeholder="order",
            ),
            partial(self._target_given, rule.order),
        )

    def action_swap(self) -> None:
        rule = self.selected
        if rule is None:
            return
        self.app.push_screen(
            PromptModal(
                f"Swap rule {rule.order} ({rule.expression})",
                "Swap orders with the rule of order:",
                placeholder="order",
            ),
            partial(self._target_given, rule.order),
        )

    def _target_given(self, order: int, target: str | None) -> None:
        if target:
            self._preview(order, target)

    @work(thread=True, exclusive=True, group="addresses-preview", exit_on_error=False)
    def _preview(self, order: int, target: str) -> None:
        self.attempt(
            partial(addresses.reorder_preview, self.db, self.session, order, target),
            self._confirm_reorder,
        )

    def _confirm_reorder(self, preview: ReorderPreview) -> None:
        title, lines = reorder_lines(preview)
        yes = "Move" if preview.partner is None else "Swap"
        self.app.push_screen(
            ReorderConfirm(title, lines, yes=yes),
            partial(self._reorder_answered, preview),
        )

    def _reorder_answered(self, preview: ReorderPreview, answer: bool | None) -> None:
        if not answer:
            return
        order, partner = preview.rule.order, preview.partner
        # Exactly what was previewed: a swap names its partner, so a rule inserted in between
        # since the preview cannot become the partner (core refuses if the rows changed).
        if partner is None:
            call = partial(addresses.move_rule, self.db, self.session, order, preview.new_order)
        else:
            call = partial(addresses.swap_rules, self.db, self.session, order, partner.order)
        self._write(call, preview.new_order)

    # --- writes ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="addresses-write", exit_on_error=False)
    def _write(self, call: Callable[[], Change], select: int | None) -> None:
        self.attempt(call, partial(self._written, select))

    def _written(self, select: int | None, change: Change) -> None:
        self.report_change(change)
        self.table.reload(select=select)  # the cursor follows the rule to its new order
        self.refresh_scope()
        self.trace_panel.retrace()

    # --- trace -----------------------------------------------------------------------------------
    def _trace(self, recipient: str, sender: str | None) -> InboundTrace:
        return routing.trace_inbound(self.db, self.session, recipient, sender)

    def action_trace(self) -> None:
        panel = self.trace_panel
        panel.display = not panel.display
        if panel.display:
            panel.focus_input()
        else:
            self.table.focus_table()

    @on(TracePanel.Leave)
    def _trace_left(self) -> None:
        self.table.focus_table()

    @on(TracePanel.Traced)
    def _traced(self, event: TracePanel.Traced) -> None:
        """The list's cursor follows the rule that wins the first hop, when it is loaded."""
        hops = event.trace.hops
        rule = hops[0].rule if hops else None
        focused = self.app.focused
        if rule is None or focused is None or self.trace_panel not in focused.ancestors:
            return  # only while typing a trace: a retrace after a write keeps the cursor
        table = self.table.table
        key = str(rule.order)
        if any(str(row.rule.order) == key for row in self.table.records):
            table.move_cursor(row=table.get_row_index(key), animate=False)
