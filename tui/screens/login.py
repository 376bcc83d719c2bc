"""Log in: a user name, then a masked password, checked by core exactly as cmail's daemons do.

A refusal is one neutral sentence from core: whether the user does not exist, has no login (NULL
authdata) or typed a wrong password is not told apart. The password never outlives the attempt in
a widget.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from core.errors import CmailError, Denied
from tui.text import printable, safe
from tui.widgets.footer import KeyFooter
from tui.widgets.status_bar import StatusBar
from tui.workers import ServiceCalls, deliver

if TYPE_CHECKING:
    from core.access import Session


class UserNameInput(Input):
    """The user-name field moves on to the password at once when Enter or Tab is pressed, and
    hands over every key that was already queued for it: typeahead (over a slow ssh link, or from
    a password manager) must never put the password, readable, into this field.

    Two Textual details make this necessary. An Input's Enter and Backspace, and the screen's
    Tab, are bindings, run only once the key has bubbled up to the App, after the characters
    queued behind it were already typed in; so this field handles those keys itself, in order.
    And keys are forwarded to the focused widget's queue before it handles any of them, so keys
    typed after Enter or Tab may still arrive here: they are passed on until this field has the
    focus again."""

    _handed_over = False

    def _password(self) -> Input:
        return self.screen.query_one("#password", Input)

    def _passing_on(self) -> bool:
        if self._handed_over and self.screen.focused is not self:
            return True
        self._handed_over = False
        return False

    def _hand_over(self) -> None:
        self._handed_over = True
        self.screen.set_focus(self._password())  # now, not when the binding would run

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "tab" and not self._passing_on():
            event.stop()
            event.prevent_default()
            self._hand_over()
        elif event.key in ("enter", "backspace"):
            event.stop()
            event.prevent_default()  # neither Input's handler nor the (late) binding
            if event.key == "enter":
                await self.action_submit()
            else:
                self.action_delete_left()

    def insert_text_at_cursor(self, text: str) -> None:
        if self._passing_on():
            self._password().insert_text_at_cursor(text)
        else:
            super().insert_text_at_cursor(text)

    def action_delete_left(self) -> None:
        if self._passing_on():
            self._password().action_delete_left()
        else:
            super().action_delete_left()

    async def action_submit(self) -> None:
        if self._passing_on():
            await self._password().action_submit()
            return
        self._hand_over()
        await super().action_submit()


class LoginScreen(ServiceCalls, Screen[None]):
    AUTO_FOCUS = "#user"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Quit", id="login.quit")]
    HELP = (
        "Log in with your cmail user name and password (the ones you use for mail). "
        "Your rights decide which modules and keys you get: admins see everything, delegates "
        "the users delegated to them, everyone else their own account."
    )

    def __init__(self, user: str | None = None) -> None:
        super().__init__()
        self._initial_user = user
        self._busy = False

    def compose(self) -> ComposeResult:
        yield StatusBar(("Log in",))
        with Center(), Vertical(id="login-box", classes="box"):
            yield Static(Text("cmail console", style="bold"), id="login-title")
            yield Static(safe(self.console.db_name, style="dim"), id="login-db")
            yield Label("User")
            yield UserNameInput(placeholder="user name", id="user")
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="password")
            yield Static(id="login-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self._initial_user:
            self.query_one("#user", Input).value = self._initial_user
            self.query_one("#password", Input).focus()
        self.call_after_refresh(self._open_database)  # once the form is on screen

    # --- first start ---------------------------------------------------------------------------
    def _open_database(self) -> None:
        """The console opens the database (and loads what works on it) only now, after the
        form's first frame; a file it cannot work on after all gets the problem screen."""
        db = self.console.open_database()
        if db is None:
            self.console.show_problem()
            return
        self.query_one(StatusBar).update_status()  # e.g. READ-ONLY
        if not db.read_only:
            self._check_first_admin()

    @work(thread=True, exclusive=True, group="first-admin", exit_on_error=False)
    def _check_first_admin(self) -> None:
        # Imported here, in the worker, after the form is on screen: what only a login or the
        # first start needs is not part of the console's start time.
        from core.services.rights import admin_exists

        db = self.console.db
        assert db is not None
        self.attempt(partial(admin_exists, db), self._offer_first_admin)

    def _offer_first_admin(self, exists: bool) -> None:
        if not exists:
            from tui.screens.first_admin import FirstAdminScreen

            self.app.push_screen(FirstAdminScreen(), self._first_admin_done)

    def _first_admin_done(self, name: str | None) -> None:
        if name:
            self.reset(user=name, message=f"{name} is an admin now; log in with its password.")

    # --- logging in ------------------------------------------------------------------------------

    @on(Input.Submitted, "#password")
    def _password_entered(self) -> None:
        name = self.query_one("#user", Input).value
        password_input = self.query_one("#password", Input)
        if self._busy:
            return
        if self.console.open_database() is None:  # typed before the first frame was out
            self.console.show_problem()
            return
        if not name:
            self.query_one("#user", Input).focus()
            self._show_message("Type your user name first.")
            return
        self._busy = True
        self._show_message("Checking…", error=False)
        password, password_input.value = password_input.value, ""
        self._login(name, password)

    @work(thread=True, exclusive=True, group="login", exit_on_error=False)
    def _login(self, name: str, password: str) -> None:
        from core.session import login

        db = self.console.db
        assert db is not None
        try:
            session = login(db, name, password)
        except Denied as error:
            deliver(self, self._refused, str(error))
        except CmailError as error:  # busy, damaged file…: not a refusal of these credentials
            deliver(self, self._refused, str(error))
            deliver(self, self.console.report_error, error)
        else:
            deliver(self, self._logged_in, session)

    def _refused(self, message: str) -> None:
        self._busy = False
        self._show_message(message)
        self.query_one("#password", Input).focus()

    def _logged_in(self, session: Session) -> None:
        self._busy = False
        self._show_message("")
        self.console.enter_console(session)

    # --- helpers ---------------------------------------------------------------------------------
    def _show_message(self, message: str, *, error: bool = True) -> None:
        label = self.query_one("#login-message", Static)
        label.update(Text(printable(message)))
        label.set_class(error and bool(message), "-error")

    def reset(self, *, user: str | None = None, message: str = "") -> None:
        """Back to an empty form (after logout, or after the first admin was created)."""
        self._busy = False
        user_input = self.query_one("#user", Input)
        user_input.value = user or ""
        self.query_one("#password", Input).value = ""
        self._show_message(message, error=False)
        (self.query_one("#password", Input) if user else user_input).focus()
