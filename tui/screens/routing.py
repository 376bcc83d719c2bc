"""Routing table: who may send mail, and through which outbound router (reference §4).

One `smtpd` row per user: cmail-smtpd reads the row of the authenticated identity (an alias's
target) once per SMTP session. Without a row a user can authenticate but every MAIL FROM gets
551. The form shows what each router does in core's own words, runs the write itself and keeps
the dialog open on a refusal, with core's sentence next to the fields, so a typo in a handoff
remote is fixed in place instead of being typed again.
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
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from core.access import Role, current_scope
from core.errors import CmailError, Invalid
from core.records import Change, Page
from core.services import smtpd
from core.services.smtpd import EFFECT, SmtpdEntry
from core.validation import OUTBOUND_ROUTERS
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import Column, Fetch, PagedTable
from tui.workers import ServiceCalls, deliver

ROUTED = ("handoff", "reject")  # the routers whose route means something
ROUTE_PLACEHOLDER = {
    "handoff": "[user:password@]host[:port[/tls|/starttls]]",
    "reject": "reason the client is given (optional)",
}
VIEW_ONLY = "view only"

# (user, router, route) -> Change: smtpd.enable or smtpd.update with db and session bound.
RouteWrite = Callable[[str, str, str | None], Change]


@dataclass(frozen=True)
class RouteRow:
    """A row of the table: the entry, and whether the actor may change it (for dimming)."""

    entry: SmtpdEntry
    manageable: bool

    @property
    def user(self) -> str:
        return self.entry.user


def note_text(row: RouteRow) -> str:
    """What the daemons actually do with the row, where it differs from what it says."""
    entry = row.entry
    notes = []
    if entry.alias is not None:  # the whole row is ignored: nothing else about it matters
        notes.append(f"alias of {printable(entry.alias)}: ignored")
    elif entry.router not in OUTBOUND_ROUTERS:
        notes.append("unknown router")
    elif entry.router == "handoff" and entry.route is None:
        notes.append("no route: acts as drop")
    elif entry.router in ("any", "defined", "drop") and entry.route is not None:
        notes.append("route unused")
    if not row.manageable:
        notes.append(VIEW_ONLY)
    return "; ".join(notes)


def effect_text(entry: SmtpdEntry) -> str:
    user = printable(entry.user)
    if entry.alias is not None:
        return f"logins as {user} use {printable(entry.alias)}'s entry"
    router = "drop" if entry.router == "handoff" and entry.route is None else entry.router
    text = f"{user} {EFFECT.get(router, 'has a router cmail does not know')}"
    if router in ROUTED and entry.route is not None:
        text += f" ({printable(entry.route)})"  # in full: the column may cut it
    return text


@dataclass(frozen=True)
class Saved:
    """What the form hands back after core accepted the write."""

    user: str
    change: Change


class RouteForm(ServiceCalls, ModalScreen[Saved | None]):
    """User, router and route of one smtpd row. Save runs `save` in a worker: on success the
    dialog closes with the outcome, on a refusal it stays open with core's sentence."""

    AUTO_FOCUS = "#route-user"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="route-form.cancel"),
        Binding("ctrl+s", "save", "Save", id="route-form.save"),
    ]
    HELP = (
        "Tab moves between the fields; Enter in the router list opens it. Enter in a text "
        "field or ctrl+s saves, Esc cancels without changing anything."
    )
    DEFAULT_CSS = """
    RouteForm {
        align: center middle;
    }
    RouteForm .route-field {
        height: 1;
        margin-bottom: 1;
    }
    RouteForm .route-label {
        width: 8;
    }
    RouteForm .route-field > Input, RouteForm .route-field > Select {
        width: 1fr;
    }
    RouteForm #route-user-fixed {
        width: 1fr;
        text-style: bold;
    }
    RouteForm #route-effect {
        margin: 0 0 1 8;
        color: $text-muted;
    }
    RouteForm #route-error {
        height: auto;
        color: $error;
        text-style: bold;
        margin-bottom: 1;
    }
    RouteForm #route-error.-empty {
        display: none;
    }
    """

    def __init__(
        self,
        title: str,
        save: RouteWrite,
        *,
        user: str | None = None,
        router: str = "defined",
        route: str | None = None,
        fixed_user: bool = False,
    ) -> None:
        super().__init__()
        self._title = title
        self._save_call = save
        self._user = user or ""
        self._router = router if router in OUTBOUND_ROUTERS else "defined"
        self._route = route or ""
        self._fixed_user = fixed_user
        self._saving = False
        if fixed_user:
            self.AUTO_FOCUS = "#route-router"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(safe(self._title, style="bold"), classes="dialog-title")
            with Horizontal(classes="route-field"):
                yield Label("User", classes="route-label")
                if self._fixed_user:
                    yield Static(safe(self._user), id="route-user-fixed")
                else:
                    yield Input(self._user, placeholder="user name", id="route-user", compact=True)
            with Horizontal(classes="route-field"):
                yield Label("Router", classes="route-label")
                yield Select(
                    [(name, name) for name in OUTBOUND_ROUTERS],
                    value=self._router,
                    allow_blank=False,
                    id="route-router",
                    compact=True,
                )
            yield Static(id="route-effect")
            with Horizontal(classes="route-field"):
                yield Label("Route", classes="route-label")
                yield Input(self._route, id="route-route", compact=True)
            yield Static(id="route-error", classes="-empty")
            hint = "Tab: next field · Enter or ctrl+s: save · Esc: cancel"
            yield Static(safe(hint, style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self._router_changed(self._router)

    # --- fields ----------------------------------------------------------------------------------
    @property
    def router(self) -> str:
        value = self.query_one("#route-router", Select).value
        return value if isinstance(value, str) else self._router

    @on(Select.Changed, "#route-router")
    def _on_router(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            # A smarthost is no reject reason, nor the reverse: a route belongs to its router.
            route = self.query_one("#route-route", Input)
            route.value = self._route if event.value == self._router else ""
            self._router_changed(event.value)

    def _router_changed(self, router: str) -> None:
        # The route only means something for handoff (the smarthost) and reject (the reason).
        route = self.query_one("#route-route", Input)
        route.disabled = router not in ROUTED
        route.placeholder = ROUTE_PLACEHOLDER.get(router, f"not used by {router}")
        who = printable(self._user) if self._fixed_user and self._user else "The user"
        effect = f"{who} {EFFECT[router]}."
        if router == "handoff":
            effect += " The route names the smarthost; without one it acts as drop."
        self.query_one("#route-effect", Static).update(Text(effect))

    def show_error(self, error: CmailError) -> None:
        """Core's sentence under the fields, and the cursor into the field it names."""
        box = self.query_one("#route-error", Static)
        box.update(Text(printable(error)))
        box.remove_class("-empty")
        field = error.field if isinstance(error, Invalid) else ""
        target = {"route": "#route-route", "router": "#route-router"}.get(field)
        if target is None and not self._fixed_user and "user" in field:
            target = "#route-user"
        if target is not None:
            widget = self.query_one(target)
            if widget.focusable:
                widget.focus()

    # --- saving ----------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if self._saving:
            return  # one write at a time: Enter pressed twice must not enable twice
        user = self._user if self._fixed_user else self.query_one("#route-user", Input).value
        router = self.router
        route_input = self.query_one("#route-route", Input)
        route = route_input.value.strip() or None if router in ROUTED else None
        self._saving = True
        self._save(user.strip(), router, route)

    @work(thread=True, exclusive=True, group="route-save", exit_on_error=False)
    def _save(self, user: str, router: str, route: str | None) -> None:
        def call() -> Change:
            try:
                return self._save_call(user, router, route)
            except CmailError as error:
                deliver(self, self._refused, error)  # at the field; attempt() toasts it too
                raise

        self.attempt(call, partial(self._saved, user))

    def _refused(self, error: CmailError) -> None:
        self._saving = False
        self.show_error(error)

    def _saved(self, user: str, change: Change) -> None:
        self.dismiss(Saved(user, change))


class RoutingScreen(ModuleScreen):
    MODULE_ID = "routing"
    TITLE = "Routing"
    HELP = (
        "Who may send mail, and how (the smtpd table). any: with any sender address; defined: "
        "only from addresses whose store rules route to the user; handoff: everything goes "
        "through the smarthost named by the route; reject: refused at MAIL FROM (the route is "
        "the reason given); drop: accepted and silently discarded. Without an entry a user can "
        "log in but may not send; their incoming mail is not affected. An alias sends with its "
        "target's entry, so its own is ignored. Changes reach new SMTP sessions only."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"add", "edit", "disable"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", id="routing.add", tooltip="Let a user send mail"),
        Binding("e", "edit", "Edit", id="routing.edit", tooltip="Change router and route"),
        Binding("d", "disable", "Delete", id="routing.disable", tooltip="Stop a user sending"),
        Binding("r", "refresh", "Refresh", id="routing.refresh"),
    ]

    def first_list(self) -> tuple[str, Fetch]:
        return "routing-table", self._fetch_page

    def compose_body(self) -> ComposeResult:
        yield PagedTable(
            [Column("User", 14), Column("Router", 7), Column("Route", 28), Column("Note")],
            fetch=self._fetch_page,
            row_key=lambda row: row.user,
            cells=self._cells,
            empty_text=self._empty_text,
            id="routing-table",
        )

    @property
    def table(self) -> PagedTable:
        return self.query_one("#routing-table", PagedTable)

    def _fetch_page(self, search: str | None, after: str | None, limit: int) -> Page[RouteRow]:
        # In the worker: the page, and which of its rows the actor may change (to dim the rest).
        scope = current_scope(self.db, self.session)
        page = smtpd.list_entries(self.db, self.session, search=search, after=after, limit=limit)
        rows = [RouteRow(entry, scope.may_manage_user(entry.user)) for entry in page.rows]
        return Page(rows, page.cursor, page.has_more)

    def _cells(self, row: RouteRow) -> tuple[Text, ...]:
        style = "" if row.manageable else "dim"
        entry = row.entry
        return (
            safe(entry.user, style=style),
            safe(entry.router, style=style),
            safe(entry.route, style=style),
            Text(note_text(row), style=style),
        )

    def _empty_text(self, search: str | None) -> str:
        if search:
            return f"No user or route contains '{search}'. Press Esc to clear the filter."
        if self.session.role is Role.USER:
            return (
                "You have no smtpd entry, so you may not send mail (you still receive it). "
                "An admin or your delegate can add one."
            )
        if self.console.read_only:
            return "No user you can see has an smtpd entry (the database is read-only)."
        return "No user you can see has an smtpd entry. Press a to let a user send mail."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        self._describe_selected()
        self.refresh_bindings()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe_selected()

    def _describe_selected(self) -> None:
        """The summary line says what the row under the cursor does, in core's words."""
        row: RouteRow | None = self.table.selected
        self.table.set_note(effect_text(row.entry) if row is not None else "")

    # --- keys ------------------------------------------------------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        assert scope is not None
        if scope.role is Role.USER:
            return False  # plain users may look at their own row, never change it
        if action == "add":
            return True
        row: RouteRow | None = self.table.selected
        if row is None or not scope.may_manage_user(row.user):
            return None  # a row this role may see but not change
        return True

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        if self.check_action("edit", ()):  # Enter edits, where `e` would
            self.action_edit()

    def action_refresh(self) -> None:
        self.table.reload()
        self.refresh_scope()

    def action_add(self) -> None:
        self.app.push_screen(RouteForm("Let a user send mail", self._enable), self._form_closed)

    def _enable(self, user: str, router: str, route: str | None) -> Change:
        return smtpd.enable(self.db, self.session, user, router, route)

    def _update(self, user: str, router: str, route: str | None) -> Change:
        return smtpd.update(self.db, self.session, user, router, route)

    def action_edit(self) -> None:
        row: RouteRow | None = self.table.selected
        if row is None:
            return
        entry = row.entry
        self.app.push_screen(
            RouteForm(
                f"How {entry.user} sends mail",
                self._update,
                user=entry.user,
                router=entry.router,
                route=entry.route,
                fixed_user=True,
            ),
            self._form_closed,
        )

    def _form_closed(self, saved: Saved | None) -> None:
        if saved is not None:
            self.report_change(saved.change)
            self.table.reload(select=saved.user)
            self.refresh_scope()

    def action_disable(self) -> None:
        row: RouteRow | None = self.table.selected
        if row is None:
            return
        user = row.user
        lines = [
            f"The smtpd entry of {user} is deleted: the user will no longer be able to send "
            "mail but still receives it.",
            f"Logins of {user} still authenticate; every MAIL FROM is refused with 551.",
        ]
        if row.entry.alias is not None:
            lines.append(
                f"{user} is an alias of {row.entry.alias}, which sends with its own entry: "
                "this one is ignored anyway."
            )
        lines.append(smtpd.SESSION_NOTE)
        self.app.push_screen(
            ConfirmModal(f"Stop {user} sending mail?", lines, yes="Delete"),
            partial(self._disable_answered, user),
        )

    def _disable_answered(self, user: str, answer: bool | None) -> None:
        if answer:
            self._disable(user)

    @work(thread=True, exclusive=True, group="routing-write", exit_on_error=False)
    def _disable(self, user: str) -> None:
        self.attempt(partial(smtpd.disable, self.db, self.session, user), self._disabled)

    def _disabled(self, change: Change) -> None:
        self.report_change(change)
        self.table.reload()
        self.refresh_scope()
