"""The add/edit form of an address rule: expression, router, a route field fitting the router,
and (when adding) the order.

The form saves through core itself (`add_rule` / `update_rule` in a thread worker), so a refusal
stays in the form, under the field core names, and the person corrects it without retyping.
It returns core's `Change` (the screen reports its message and warnings), or None if cancelled.

The store router's route names a user: the field offers matching users as you type, from
`users.list_users(search=…)` one small page at a time, never the whole table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from core.errors import CmailError, SessionEnded
from core.records import Change, Page
from core.services import addresses, users
from core.services.addresses import AddressRule
from core.services.users import UserSummary
from core.validation import INBOUND_ROUTERS, PLACEHOLDERS
from tui.text import printable, safe
from tui.widgets.confirm import ConfirmModal
from tui.workers import ServiceCalls, deliver

if TYPE_CHECKING:
    from core.access import Session
    from core.db import Database

log = logging.getLogger("cmail.tui")

SUGGESTIONS = 5  # users offered at once for a store route
SUGGEST_DELAY = 0.15  # seconds after the last key press before users are searched
AUTOMATIC_ORDER = "Automatic: next order, above every rule (top priority)."


@dataclass(frozen=True)
class RouteField:
    """How the route input looks for one router (None label: the router takes no route)."""

    label: str | None
    placeholder: str
    hint: str


ROUTE_FIELDS: dict[str, RouteField] = {
    "store": RouteField(
        "Mailbox",
        "user name (exact case)",
        "Stored for this user. Type to search; ↓ picks a match.",
    ),
    "redirect": RouteField(
        "Target",
        "new recipient, e.g. (to-local)@example.org",
        f"Expands {' '.join(PLACEHOLDERS)}",
    ),
    "handoff": RouteField(
        "Remote",
        "[user:pass@]host[:port[/tls|/starttls]]",
        "The smarthost that gets the mail, e.g. mx.example.org:25/starttls",
    ),
    "reject": RouteField(
        "Message",
        "reason (optional)",
        "Senders get 551 and this text (blank: User does not accept mail).",
    ),
    "drop": RouteField(None, "", "Drop accepts the mail and discards it: there is no route."),
}

# Core's field names (Invalid.field) → the error line under that field.
_ERROR_LINES = {
    "expression": "#expression-error",
    "router": "#router-error",
    "route": "#route-error",
    "order": "#order-error",
    "new order": "#order-error",
}
_FOCUS = {
    "expression": "#expression",
    "router": "#router",
    "route": "#route",
    "order": "#order",
    "new order": "#order",
}


def user_option(user: UserSummary) -> Text:
    """A suggested mailbox, with what core would warn about (alias, no login) spelled out."""
    text = safe(user.name)
    if user.alias is not None:
        text.append(f"  alias of {printable(user.alias)}: unreadable by POP", style="dim")
    elif not user.can_login:
        text.append("  no login", style="dim")
    return text


def _suggestion_page(db: Database, session: Session, text: str | None) -> Page[UserSummary]:
    """A full page of suggestions: the names that start with the text come back alone first
    (see users.list_users), so ask on for the ones that contain it until the page is full."""
    page = users.list_users(db, session, search=text, limit=SUGGESTIONS)
    rows = list(page.rows)
    while page.has_more and len(rows) < SUGGESTIONS:
        page = users.list_users(
            db, session, search=text, after=page.cursor, limit=SUGGESTIONS - len(rows)
        )
        rows += page.rows
    return Page(rows, page.cursor, page.has_more)


class RouteInput(Input):
    """The route field: ↓ moves into the user suggestions (store router)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "suggestions", "Matching users", show=False, id="rule.suggestions"),
    ]

    def action_suggestions(self) -> None:
        suggestions = self.screen.query_one("#users", Suggestions)
        if suggestions.display and suggestions.option_count:
            suggestions.focus()
            suggestions.highlighted = 0


class Suggestions(OptionList):
    """Matching users; Enter takes one, Esc goes back to the field."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the field", show=False, id="rule.suggestions-back"),
    ]

    def action_back(self) -> None:
        self.screen.query_one("#route", Input).focus()


class RuleForm(ServiceCalls, ModalScreen[Change | None]):
    """Add a rule (`rule` None) or edit one; dismisses with core's Change, or None."""

    AUTO_FOCUS = "#expression"
    DEFAULT_CSS = """
    RuleForm {
        align: center middle;
    }
    RuleForm #dialog {
        width: 76;
    }
    RuleForm .form-row {
        height: 1;
    }
    RuleForm .form-row > .form-label {
        width: 12;
        color: $text-muted;
    }
    RuleForm .form-row > .form-field {
        width: 1fr;
    }
    RuleForm .form-hint {
        padding-left: 12;
        color: $text-muted;
    }
    RuleForm .form-error {
        padding-left: 12;
        color: $error;
        text-style: bold;
        display: none;
    }
    RuleForm .form-error.-shown {
        display: block;
    }
    RuleForm #users {
        margin-left: 12;
        height: auto;
        max-height: 5;
        border: none;
        padding: 0;
    }
    RuleForm #form-error {
        padding-left: 0;
        margin-top: 1;
    }
    RuleForm #form-keys {
        margin-top: 1;
    }
    RuleForm .dialog-buttons Button {
        min-width: 10;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="rule.cancel"),
    ]
    HELP = (
        "Tab moves between the fields, Enter saves, Esc cancels. The router decides what the "
        "route is: a user for store, a new recipient for redirect (with placeholders), a "
        "smarthost for handoff, an optional message for reject, nothing for drop. Core checks "
        "everything when you save and names the field it refuses."
    )

    def __init__(self, rule: AddressRule | None = None, *, expression_hint: str = "") -> None:
        super().__init__()
        self.rule = rule
        self._expression_hint = expression_hint
        # An unknown router stored by another tool (e.g. "Store") stays what it is until the
        # person picks one; saving it unchanged lets core name the problem.
        self._router = rule.router if rule is not None else "store"
        # What was typed per router, so trying another router and back loses nothing.
        self._routes: dict[str, str] = {}
        if rule is not None and rule.route is not None:
            self._routes[self._router] = rule.route
        self._suggested: list[UserSummary] = []
        self._suggest_timer: Timer | None = None
        self._saving = False

    # --- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        rule = self.rule
        if rule is None:
            title = Text("Add an address rule", style="bold")
        else:
            title = Text.assemble(
                (f"Edit rule {rule.order}: ", "bold"), (printable(rule.expression), "bold")
            )
        with Vertical(id="dialog", classes="dialog"):
            yield Static(title, classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("Expression", classes="form-label")
                yield Input(
                    rule.expression if rule else "",
                    placeholder=printable(self._expression_hint)
                    or "address or LIKE pattern, e.g. %@x.org",
                    id="expression",
                    classes="form-field",
                    compact=True,
                )
            yield Static(id="expression-error", classes="form-error")
            with Horizontal(classes="form-row"):
                yield Label("Router", classes="form-label")
                known = self._router in ROUTE_FIELDS
                yield Select(
                    [(name, name) for name in INBOUND_ROUTERS],
                    value=self._router if known else Select.NULL,
                    prompt="unknown router: pick one",  # no database text: Select reads markup
                    allow_blank=not known,
                    id="router",
                    classes="form-field",
                    compact=True,
                )
            yield Static(id="router-error", classes="form-error")
            with Horizontal(classes="form-row", id="route-row"):
                yield Label("Route", id="route-label", classes="form-label")
                yield RouteInput(
                    self._routes.get(self._router, ""),
                    id="route",
                    classes="form-field",
                    compact=True,
                )
            yield Static(id="route-hint", classes="form-hint")
            yield Suggestions(id="users")
            yield Static(id="route-error", classes="form-error")
            with Horizontal(classes="form-row"):
                yield Label("Order", classes="form-label")
                if rule is None:
                    yield Input(
                        placeholder="blank = automatic",
                        id="order",
                        classes="form-field",
                        compact=True,
                    )
                else:
                    yield Static(
                        Text(f"{rule.order} (move it with K, J, m or w in the list)"),
                        id="order",
                        classes="form-field",
                    )
            if rule is None:
                yield Static(Text(AUTOMATIC_ORDER), id="order-hint", classes="form-hint")
            yield Static(id="order-error", classes="form-error")
            yield Static(id="form-error", classes="form-error")
            yield Static(
                Text("Tab: next field · Enter: save · Esc: cancel", style="dim"), id="form-keys"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._show_router(self._router)

    @property
    def route_input(self) -> Input:
        return self.query_one("#route", Input)

    def _show_router(self, router: str) -> None:
        """Label, placeholder and hint of the route for this router; drop hides the field."""
        field = ROUTE_FIELDS.get(router) or RouteField(
            "Route",
            "",
            f"Unknown router {printable(router)}: cmail accepts and discards such mail.",
        )
        self.query_one("#route-row").display = field.label is not None
        self.query_one("#route-label", Label).update(field.label or "")
        route = self.route_input
        route.placeholder = field.placeholder
        self.query_one("#route-hint", Static).update(Text(field.hint))
        suggestions = self.query_one("#users", Suggestions)
        suggestions.display = False
        if router == "store":
            self._suggest_soon()

    @on(Select.Changed, "#router")
    def _router_changed(self, event: Select.Changed) -> None:
        new = event.value
        if not isinstance(new, str) or new == self._router or new not in ROUTE_FIELDS:
            return
        self._routes[self._router] = self.route_input.value
        self._router = new
        with self.route_input.prevent(Input.Changed):
            self.route_input.value = self._routes.get(new, "")
        self._clear_errors()
        self._show_router(new)

    # --- user suggestions for store ------------------------------------------------------------
    @on(Input.Changed, "#route")
    def _route_typed(self, event: Input.Changed) -> None:
        if self._router == "store":
            self._suggest_soon()

    def _suggest_soon(self) -> None:
        if self._suggest_timer is not None:
            self._suggest_timer.stop()
        self._suggest_timer = self.set_timer(SUGGEST_DELAY, self._suggest)

    def _suggest(self) -> None:
        if self._router == "store":
            self._search_users(self.route_input.value.strip() or None)

    @work(thread=True, exclusive=True, group="rule-users", exit_on_error=False)
    def _search_users(self, text: str | None) -> None:
        # One small page, whatever the size of the users table (never load them all).
        db, session = self.console.db, self.console.session
        assert db is not None and session is not None
        self.attempt(partial(_suggestion_page, db, session, text), partial(self._show_users, text))

    def _show_users(self, text: str | None, page: Page[UserSummary]) -> None:
        suggestions = self.query_one("#users", Suggestions)
        if self._router != "store" or (self.route_input.value.strip() or None) != text:
            return  # the field changed since: a newer search is on its way
        rows = list(page.rows)
        exact = len(rows) == 1 and rows[0].name == text
        self._suggested = rows
        suggestions.set_options([Option(user_option(u)) for u in rows])
        if page.has_more:
            more = Text("… more match: type more to narrow", style="dim")
            suggestions.add_option(Option(more, disabled=True))
        suggestions.display = bool(rows) and not exact

    @on(OptionList.OptionSelected, "#users")
    def _user_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self._suggested):
            name = self._suggested[event.option_index].name
            self.route_input.value = name
            self.route_input.cursor_position = len(name)
        self.route_input.focus()

    # --- saving --------------------------------------------------------------------------------
    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def save(self) -> None:
        if self._saving:
            return
        self._saving = True
        self._clear_errors()
        expression = self.query_one("#expression", Input).value
        route: str | None = None if self._router == "drop" else self.route_input.value
        db, session = self.console.db, self.console.session
        assert db is not None and session is not None
        rule = self.rule
        if rule is None:
            order = self.query_one("#order", Input).value.strip() or None
            call = partial(addresses.add_rule, db, session, expression, self._router, route, order)
        else:
            changed = None if expression == rule.expression else expression
            call = partial(
                addresses.update_rule,
                db,
                session,
                rule.order,
                self._router,
                route,
                expression=changed,
            )
        self._save(call)

    @work(thread=True, exclusive=True, group="rule-save", exit_on_error=False)
    def _save(self, call: partial[Change]) -> None:
        try:
            change = call()
        except SessionEnded as error:
            deliver(self, self._failed, None)
            deliver(self, self.console.report_error, error)
        except CmailError as error:
            deliver(self, self._failed, error)
        except Exception as error:  # a bug, not a refusal: one line, details in the log
            log.exception("unexpected error while saving an address rule")
            deliver(self, self._failed, None)
            deliver(self, self.console.report_bug, error)
        else:
            deliver(self, self.dismiss, change)

    def _failed(self, error: CmailError | None) -> None:
        self._saving = False
        if error is None:
            return
        field = getattr(error, "field", None)
        line = self.query_one(_ERROR_LINES.get(field or "", "#form-error"), Static)
        line.update(Text(printable(str(error))))
        line.add_class("-shown")
        target = _FOCUS.get(field or "")
        if target is not None:
            self.query_one(target).focus()

    def _clear_errors(self) -> None:
        for line in self.query(".form-error"):
            line.remove_class("-shown")


class ReorderConfirm(ConfirmModal):
    """The shell's yes/no dialog, with its lines in a scrolling box: a reorder can change the
    destination of many addresses, and all of core's sentences must stay readable at 80x24
    (↑/↓ and PgUp/PgDn scroll them; focus stays on No)."""

    DEFAULT_CSS = """
    ReorderConfirm #reorder-lines {
        height: auto;
        max-height: 60vh;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_lines(-1)", "Scroll up", show=False),
        Binding("down", "scroll_lines(1)", "Scroll down", show=False),
        Binding("pageup", "scroll_lines(-10)", "Page up", show=False),
        Binding("pagedown", "scroll_lines(10)", "Page down", show=False),
    ]

    def __init__(self, title: str, lines: list[str], *, yes: str) -> None:
        super().__init__(title, lines, yes=yes, destructive=False)
        self.heading = title
        self.lines = tuple(lines)
        self.yes_label = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(safe(self.heading, style="bold"), classes="dialog-title")
            with VerticalScroll(id="reorder-lines", can_focus=False):
                for line in self.lines:
                    yield Static(safe(line), classes="dialog-line")
            hint = f"y: {self.yes_label.lower()} · n or Esc: cancel · ↑↓: scroll"
            yield Static(safe(hint, style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="no")
                yield Button(self.yes_label, id="yes", variant="primary")

    def action_scroll_lines(self, amount: int) -> None:
        self.query_one("#reorder-lines", VerticalScroll).scroll_relative(y=amount, animate=False)
