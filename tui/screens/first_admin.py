"""First start: the database has no admin yet, and this user may write the file.

Whoever may write the master database file may do anything with it (core's `Session.system()`),
so offering to create the first admin here gives away nothing new; it saves a trip to the CLI.
The work is done by core (`users.add_user`, `rights.list_permissions`), which other engineers are
writing now: both imports are guarded, and without them the offer is simply not made.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from core.access import Session
from core.db import Database
from core.records import Change
from core.services.users import add_user
from tui.text import printable
from tui.widgets.footer import KeyFooter
from tui.widgets.status_bar import StatusBar
from tui.workers import ServiceCalls, deliver


def create_admin(db: Database, name: str, password: str) -> Change:
    return add_user(db, Session.system(), name, password, rights=("admin",))


class FirstAdminScreen(ServiceCalls, Screen[str | None]):
    """Name + password twice → a user with the admin right. Dismisses with the new name."""

    AUTO_FOCUS = "#admin-name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "skip", "Skip", id="first-admin.skip"),
        Binding("ctrl+q", "app.quit", "Quit", id="first-admin.quit"),
    ]
    HELP = (
        "Nobody holds the admin right in this database, so nobody can manage it from the "
        "console. Create the first admin here (a new user with the admin right), or press Esc "
        "to go to the login screen anyway."
    )

    def compose(self) -> ComposeResult:
        yield StatusBar(("First admin",))
        with Center(), Vertical(id="first-admin-box", classes="box"):
            yield Static(Text("No admin yet", style="bold"))
            yield Static(Text("Create the first admin of this database:"))
            yield Label("User name")
            yield Input(placeholder="new user name", id="admin-name")
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="admin-password")
            yield Label("Password again")
            yield Input(placeholder="password again", password=True, id="admin-password2")
            yield Static(id="first-admin-message")
        yield KeyFooter()

    @on(Input.Submitted, "#admin-name")
    def _name_entered(self) -> None:
        self.query_one("#admin-password", Input).focus()

    @on(Input.Submitted, "#admin-password")
    def _password_entered(self) -> None:
        self.query_one("#admin-password2", Input).focus()

    @on(Input.Submitted, "#admin-password2")
    def _submit(self) -> None:
        name = self.query_one("#admin-name", Input).value
        first = self.query_one("#admin-password", Input)
        second = self.query_one("#admin-password2", Input)
        if first.value != second.value:
            # Not a rule of cmail: the two fields are there to catch a typo in a hidden field.
            second.value = ""
            first.value = ""
            first.focus()
            self._show("The two passwords differ; type them again.")
            return
        password = first.value
        first.value = second.value = ""
        self._show("Creating…")
        self._create(name, password)

    @work(thread=True, exclusive=True, group="first-admin", exit_on_error=False)
    def _create(self, name: str, password: str) -> None:
        db = self.console.db
        assert db is not None
        create = partial(create_admin, db, name, password)
        if not self.attempt(create, partial(self._created, name)):
            deliver(self, self._show, "Nothing was created; see the message above.")

    def _created(self, name: str, change: Change) -> None:
        self.console.say(change.message)
        for warning in change.warnings:
            self.console.say(warning, severity="warning")
        self.dismiss(name)

    def _show(self, message: str) -> None:
        self.query_one("#first-admin-message", Static).update(Text(printable(message)))

    def action_skip(self) -> None:
        self.dismiss(None)
