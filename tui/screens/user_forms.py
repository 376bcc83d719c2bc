"""The dialogs of the Users and My account screens: forms that write through core, and the
read-only detail of one user.

A form stays open until core accepts what was typed: the write runs in a thread worker, and a
refusal (a CmailError's sentence) appears inside the form, next to what the user typed, instead
of closing it and losing the input. Only two checks live here, and neither is a cmail rule: the
two password fields must agree (they exist to catch a typo in a hidden field), and a password
form does not send an empty password (core would read that as "revoke the login", which has
its own key and its own confirm dialog).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from core.access import PERMISSIONS
from core.errors import CmailError, SessionEnded
from core.records import Change
from core.services.smtpd import EFFECT
from core.services.users import UserDetail
from tui.text import printable, safe
from tui.workers import ServiceCalls, deliver

log = logging.getLogger("cmail.tui")

# The values a form collects: field id → text typed; checkbox id → ticked.
Values = dict[str, str | bool]
# Runs in a worker thread: the core call for these values.
Save = Callable[[Values], Change]


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    value: str = ""
    password: bool = False
    placeholder: str = ""


@dataclass(frozen=True)
class Tick:
    """A checkbox (e.g. a right to grant)."""

    id: str
    label: str


@dataclass(frozen=True)
class Ticks:
    """A row of checkboxes among the fields."""

    label: str
    ticks: tuple[Tick, ...]


Item = Field | Ticks


class TickBox(Checkbox):
    """A checkbox whose state shows without colour: X when ticked, blank when not."""

    BUTTON_INNER = " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "X" if self.value else " "
        super().watch_value()


class FormModal(ServiceCalls, ModalScreen[Change | None]):
    """Labelled inputs (and checkboxes), a message line, Cancel / OK buttons.

    Enter in a field moves to the next one and, in the last field, submits; Tab moves too;
    Esc cancels. Dismisses with core's `Change` once the write succeeded, None if cancelled.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]
    HELP = (
        "Fill in the fields; Enter moves to the next field and, in the last one, saves. "
        "Tab and shift+Tab move between fields, space ticks a box. Esc cancels without "
        "changing anything. If core refuses, its reason appears above the buttons."
    )
    DEFAULT_CSS = """
    FormModal {
        align: center middle;
    }
    FormModal .form-row {
        height: 1;
        margin-bottom: 1;
    }
    FormModal .form-label {
        width: 20;
    }
    FormModal .form-row Input {
        width: 1fr;
        background: $boost;
    }
    FormModal .form-row Checkbox {
        margin-right: 2;
    }
    FormModal #form-message {
        height: auto;
        margin-top: 1;
    }
    FormModal #form-message.-error {
        color: $error;
        text-style: bold;
    }
    """

    def __init__(
        self,
        title: str,
        items: Sequence[Item],
        save: Save,
        *,
        intro: str = "",
        ok: str = "Save",
        repeat: tuple[str, str] | None = None,
        required: tuple[str, str] | None = None,
    ) -> None:
        """`repeat=(a, b)`: fields that must hold the same text (a password typed twice);
        `required=(field, sentence)`: a field that may not be sent empty, and why."""
        super().__init__()
        self._title = title
        self._items = tuple(items)
        self._fields = tuple(i for i in items if isinstance(i, Field))
        self._ticks = tuple(t for i in items if isinstance(i, Ticks) for t in i.ticks)
        self._save = save
        self._intro = intro
        self._ok = ok
        self._repeat = repeat
        self._required = required
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(safe(self._title, style="bold"), classes="dialog-title")
            if self._intro:
                yield Static(safe(self._intro), classes="dialog-line")
            for item in self._items:
                with Horizontal(classes="form-row"):
                    yield Label(safe(item.label), classes="form-label")
                    if isinstance(item, Ticks):
                        for tick in item.ticks:
                            yield TickBox(tick.label, id=tick.id, compact=True)
                    else:
                        yield Input(
                            item.value,
                            placeholder=item.placeholder,
                            password=item.password,
                            id=item.id,
                            compact=True,
                        )
            yield Static(id="form-message")
            hint = (
                "Enter: next field / save · Tab: move · Esc: cancel"
                if len(self._items) > 1
                else "Enter: save · Esc: cancel"
            )
            yield Static(safe(hint, style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self._ok, id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one(f"#{self._fields[0].id}", Input).focus()

    # --- input -----------------------------------------------------------------------------------
    @on(Input.Submitted)
    def _next_or_submit(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == self._fields[-1].id:
            self.submit()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def values(self) -> Values:
        found: Values = {f.id: self.query_one(f"#{f.id}", Input).value for f in self._fields}
        for tick in self._ticks:
            found[tick.id] = self.query_one(f"#{tick.id}", Checkbox).value
        return found

    def submit(self) -> None:
        if self._busy:
            return
        values = self.values()
        if self._required is not None:
            field, why = self._required
            if not values[field]:
                self.show(why, error=True)
                self.query_one(f"#{field}", Input).focus()
                return
        if self._repeat is not None:
            first, second = (self.query_one(f"#{name}", Input) for name in self._repeat)
            if first.value != second.value:
                first.value = second.value = ""
                first.focus()
                self.show("The two passwords differ; type them again.", error=True)
                return
        self._busy = True
        self.show("Saving…")
        self._write(values)

    def show(self, message: str, *, error: bool = False) -> None:
        line = self.query_one("#form-message", Static)
        line.update(Text(printable(message)))
        line.set_class(error, "-error")

    # --- the write -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="form-write", exit_on_error=False)
    def _write(self, values: Values) -> None:
        try:
            change = self._save(values)
        except SessionEnded as error:
            deliver(self, self._ended, error)
        except CmailError as error:
            deliver(self, self._refused, error)
        except Exception as error:  # a bug: one line here, details in the log; the form stays
            log.exception("unexpected error in a form's write")
            deliver(self, self._refused, error)
        else:
            deliver(self, self.dismiss, change)

    def _refused(self, error: Exception) -> None:
        self._busy = False
        text = str(error) if isinstance(error, CmailError) else f"Unexpected error: {error}"
        self.show(text, error=True)
        for field in self._fields:  # never keep a refused password on screen
            if field.password:
                self.query_one(f"#{field.id}", Input).value = ""
        self.query_one(f"#{self._fields[0].id}", Input).focus()  # start over at the top

    def _ended(self, error: SessionEnded) -> None:
        self.dismiss(None)
        self.console.report_error(error)


# --- the forms --------------------------------------------------------------------------------


def add_user_form(save: Save, *, admin: bool) -> FormModal:
    """Name, password twice; for admins also the rights to grant and an alias."""
    items: list[Item] = [Field("name", "User name", placeholder="new user name")]
    if admin:
        items += [
            Ticks("Rights", tuple(Tick(f"right-{p}", p) for p in PERMISSIONS)),
            Field("alias", "Alias of", placeholder="optional: an existing user"),
        ]
    items += [
        Field("password", "Password", password=True, placeholder="empty: no login"),
        Field("password2", "Password again", password=True),
    ]
    intro = "" if admin else "The new user will be one of the users you manage."
    return FormModal(
        "Add a user", items, save, intro=intro, ok="Add", repeat=("password", "password2")
    )


def rights_ticked(values: Values) -> list[str]:
    return [p for p in PERMISSIONS if values.get(f"right-{p}")]


def password_form(name: str, save: Save, *, own: bool) -> FormModal:
    """A new password twice; for one's own account also the current password (core asks)."""
    fields = [Field("current", "Current password", password=True)] if own else []
    fields += [
        Field("password", "New password", password=True),
        Field("password2", "New password again", password=True),
    ]
    intro = (
        "Your other sessions end; this one stays logged in."
        if own
        else f"{name}'s sessions end and must log in with the new password."
    )
    return FormModal(
        f"Set the password of {name}",
        fields,
        save,
        intro=intro,
        ok="Set password",
        repeat=("password", "password2"),
        required=("password", "Type the new password (to disable a login, use Revoke login)."),
    )


def text_form(title: str, intro: str, label: str, value: str | None, save: Save) -> FormModal:
    """One text field, prefilled; empty is a valid answer (it clears, where core allows)."""
    return FormModal(title, [Field("value", label, value or "")], save, intro=intro)


# --- detail -----------------------------------------------------------------------------------


def _names(values: Sequence[str], empty: str = "none") -> Text:
    return Text(", ".join(printable(v) for v in values)) if values else Text(empty, style="dim")


def login_text(login: str, problem: str | None, shared: Sequence[str]) -> Text:
    """The login state in words: enabled, disabled, or MALFORMED with core's reason."""
    if login == "ok":
        text = Text("enabled (a password is set)")
    elif login == "disabled":
        text = Text("disabled (no password)")
    else:
        text = Text(f"MALFORMED: {printable(problem or login)}; nobody can log in", style="bold")
    if shared:
        text.append("; SHARED: same password entry as ")
        text.append(", ".join(printable(s) for s in shared))
    return text


def sending_text(router: str | None, route: str | None) -> Text:
    if router is None:
        return Text("no smtpd entry: may not send mail (MAIL FROM gets 551)")
    text = Text(printable(router))
    if route:
        text.append(f" {printable(route)}")
    effect = EFFECT.get(router)
    if effect:
        text.append(f": {effect}")
    return text


def pop_text(locked: bool | None) -> Text:
    if locked is None:
        return Text("not enabled (no POP entry)")
    return Text("enabled, maildrop LOCKED (possibly stale)" if locked else "enabled, maildrop free")


def rules_text(rules: Sequence[tuple[int, str]], empty: str) -> Text:
    """Address rules as `order  expression` lines, the orders right-aligned."""
    if not rules:
        return Text(empty, style="dim")
    width = max(len(str(order)) for order, _ in rules)
    return Text("\n".join(f"{order:>{width}}  {printable(expr)}" for order, expr in rules))


def detail_rows(user: UserDetail) -> list[tuple[str, Text]]:
    """Label → value lines describing one user, every database string literal."""
    alias = (
        Text(f"alias of {printable(user.alias)}: logins act as {printable(user.alias)}")
        if user.alias
        else Text("none", style="dim")
    )
    database = safe(user.database, none="none (mail goes to the master mailbox)")
    routes = rules_text([(r.order, r.expression) for r in user.store_routes], "none")
    return [
        ("Login", login_text(user.login, user.login_problem, user.shared_with)),
        ("Rights", _names(user.rights)),
        ("Alias", alias),
        ("Aliased by", _names(user.aliased_by)),
        ("User database", database),
        ("Mails", Text(f"{user.mails} in the master mailbox")),
        ("Managed by", _names(user.managers)),
        ("Manages", _names(user.managed)),
        ("Delegated patterns", _names(user.expressions)),
        ("Sending (smtpd)", sending_text(user.smtpd_router, user.smtpd_route)),
        ("POP", pop_text(user.pop_locked)),
        ("Store routes", routes),
    ]


class DetailGrid(Static):
    """Label/value lines as one block of text (a label column, values wrapped beside it)."""

    LABEL_WIDTH = 20

    def __init__(self, rows: Sequence[tuple[str, Text]], *, id: str | None = None) -> None:
        super().__init__(self.render_rows(rows), id=id)

    @classmethod
    def render_rows(cls, rows: Sequence[tuple[str, Text]]) -> Table:
        # A grid wraps a long value under its own column, not under the labels.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=cls.LABEL_WIDTH, style="bold")
        grid.add_column(ratio=1)
        for label, value in rows:
            grid.add_row(label, value)
        return grid

    def show_rows(self, rows: Sequence[tuple[str, Text]]) -> None:
        self.update(self.render_rows(rows))


class UserDetailModal(ModalScreen[None]):
    """Everything get_user says about one user; read-only. Esc or Enter closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="detail.close"),
    ]
    HELP = (
        "Everything the database says about this user. Managed by: the delegates who manage "
        "this user; Manages: the users this one manages as a delegate. Store routes: address "
        "rules that store mail for this user (they dangle if the user is deleted)."
    )
    DEFAULT_CSS = """
    UserDetailModal {
        align: center middle;
    }
    UserDetailModal #detail-body {
        height: auto;
        max-height: 18;
    }
    """

    def __init__(self, user: UserDetail) -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(Text.assemble("User ", (printable(self.user.name), "bold")))
            with VerticalScroll(id="detail-body"):
                yield DetailGrid(detail_rows(self.user), id="detail-grid")
            yield Static(safe("Esc or Enter: close · ↑↓: scroll", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
