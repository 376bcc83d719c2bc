"""The idle lock: after N minutes without a key, click or paste, the console covers the screen
and asks the logged-in user's password again.

* N comes from `$CMAIL_CONSOLE_IDLE_MINUTES` (default 10; 0 switches the lock off) or from
  `make_app(idle_minutes=…)`. A console left open in an unattended ssh session then stops
  showing (and offering) anybody's data after N minutes.
* The lock is a Textual *mode* of its own: the module screens (and any dialog open on them) stay
  in their own modes, untouched and not drawn, so nothing of the data shows behind the lock, and
  the correct password returns exactly where the user was.
* The password is checked by `core.session.login`, so the login lockout and its neutral refusal
  apply here too. Then the rights are read again: a password or rights change made elsewhere
  meanwhile ends the session (core's SessionEnded) instead of unlocking it.
* ctrl+l on the lock logs out; ctrl+q quits. Module keys and the palette do nothing while locked.
* Only logged-in sessions lock. The file-system administrator (`Session.system()`, no login)
  has no password to ask; the console never opens such a session (`run_console` always starts at
  the login screen), only tests and the screenshot script pass one to `make_app`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from core.errors import CmailError
from tui.text import printable
from tui.widgets.footer import KeyFooter
from tui.widgets.status_bar import StatusBar
from tui.workers import ServiceCalls, deliver

if TYPE_CHECKING:
    from core.access import Scope
    from tui.app import CmailConsole

IDLE_ENV = "CMAIL_CONSOLE_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 10.0
LOCK_MODE = "lock"
# App actions that still work while locked; everything else (module keys, palette, back,
# suspend) is refused by the app's check_action.
ALLOWED_WHILE_LOCKED = frozenset({"logout", "quit", "help_quit", "help"})
# What counts as someone being there. Forwarded copies of an event are not counted twice.
INPUT_EVENTS = (events.Key, events.MouseEvent, events.Paste)

IdleClock = Callable[[], float]


def idle_minutes_from_env(environ: Mapping[str, str] | None = None) -> float:
    """Minutes without input before the lock; 0 = never. A value that is not a number falls
    back to the default: a typo must not switch the lock off."""
    environ = os.environ if environ is None else environ
    raw = environ.get(IDLE_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_MINUTES
    try:
        minutes = float(raw)
    except ValueError:
        return DEFAULT_IDLE_MINUTES
    if minutes != minutes or minutes < 0:  # NaN or negative
        return DEFAULT_IDLE_MINUTES
    return minutes


class IdleLock:
    """Counts the time since the last input and locks the console when it exceeds the limit."""

    def __init__(
        self, app: CmailConsole, minutes: float | None = None, clock: IdleClock | None = None
    ) -> None:
        self.app = app
        self.minutes = idle_minutes_from_env() if minutes is None else max(0.0, minutes)
        self.clock: IdleClock = clock or time.monotonic
        self.last_input = self.clock()
        self.return_to: str | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    @property
    def locked(self) -> bool:
        # A property of the app's state, not a flag of ours: a logout (e.g. SessionEnded from a
        # background refresh) leaves the lock mode without telling us.
        return self.app.current_mode == LOCK_MODE

    def start(self) -> None:
        """Check a few times per idle period (at most every 5 s), so the lock comes late by a
        small fraction of it at worst."""
        if self.enabled:
            self.app.set_interval(min(5.0, max(0.05, self.seconds / 10)), self.check)

    def noticed(self, event: events.Event) -> None:
        if isinstance(event, INPUT_EVENTS) and not event.is_forwarded:
            self.last_input = self.clock()

    def check(self) -> bool:
        """Lock if the time is up; whether it locked now."""
        app = self.app
        session = app.session
        if not self.enabled or self.locked or session is None or session.user is None:
            return False
        if self.clock() - self.last_input < self.seconds:
            return False
        # A worker still running may hand back a result that opens or closes a dialog (which
        # acts on the *current* screen stack): wait for it, the next check locks.
        if any(worker.is_running for worker in app.workers):
            return False
        self.lock(session.user)
        return True

    def lock(self, user: str) -> None:
        app = self.app
        self.return_to = app.current_mode
        app.add_mode(LOCK_MODE, partial(LockScreen, user))
        # One of the session's modes: a logout removes it with the module modes, locked or not.
        app._module_modes.append(LOCK_MODE)
        app.switch_mode(LOCK_MODE)
        app.refresh_bindings()

    async def unlock(self) -> None:
        """Back to where the user was (called via call_later, not from the lock screen's own
        handler, which is removed here)."""
        app = self.app
        if not self.locked:
            return  # logged out meanwhile
        target = self.return_to if self.return_to in app._module_modes else None
        if target is None:  # cannot happen while logged in, but never leave the user stuck
            await app.action_logout()
            return
        await app.switch_mode(target)
        app._module_modes.remove(LOCK_MODE)
        await app.remove_mode(LOCK_MODE)
        self.return_to = None
        self.last_input = self.clock()
        app.refresh_bindings()


class LockScreen(ServiceCalls, Screen[None]):
    """The whole screen: whose console it is, a password field, and how to leave instead."""

    AUTO_FOCUS = "#lock-password"
    TITLE = "Locked"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Quit", id="lock.quit")]
    HELP = (
        "The console locked itself after a while without input. Type your password to return "
        "to where you were, or press ctrl+l to log out. Failed attempts count towards the "
        "login lockout."
    )
    DEFAULT_CSS = """
    LockScreen {
        align: center middle;
    }
    LockScreen #lock-title {
        text-align: center;
        margin-bottom: 1;
    }
    LockScreen Label {
        margin-top: 1;
    }
    LockScreen #lock-message {
        height: auto;
        min-height: 1;
        margin-top: 1;
    }
    LockScreen #lock-message.-error {
        color: $error;
        text-style: bold;
    }
    """

    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user
        self._busy = False

    def compose(self) -> ComposeResult:
        yield StatusBar((self.TITLE,))
        with Center(), Vertical(id="lock-box", classes="box"):
            yield Static(Text("cmail console is locked", style="bold"), id="lock-title")
            yield Static(
                Text.assemble(
                    "Locked after ",
                    _minutes(self.console.idle_lock.minutes),
                    " without input. ctrl+l logs out instead.",
                ),
                id="lock-why",
            )
            yield Label(Text.assemble("Password of ", (printable(self.user), "bold")))
            yield Input(placeholder="password", password=True, id="lock-password")
            yield Static(id="lock-message")
        yield KeyFooter()

    @on(Input.Submitted, "#lock-password")
    def _password_entered(self) -> None:
        field = self.query_one("#lock-password", Input)
        if self._busy:
            return
        self._busy = True
        self._show_message("Checking…", error=False)
        password, field.value = field.value, ""  # the password never outlives the attempt
        self._unlock(password)

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def _unlock(self, password: str) -> None:
        # Here, not at the top: the app imports this module before its first frame.
        from core.access import current_scope
        from core.session import login

        db = self.console.db
        session = self.console.session
        if db is None or session is None:
            return
        try:
            login(db, self.user, password)
        except CmailError as error:  # wrong password (neutral), lockout, busy, damaged file
            deliver(self, self._refused, str(error))
            return
        # The right password; is the login it resumes still what it was? If the password or
        # rights changed elsewhere, core raises SessionEnded and the app logs out with its reason.
        if not self.attempt(partial(current_scope, db, session), self._unlocked):
            deliver(self, self._refused, "")

    def _refused(self, message: str) -> None:
        self._busy = False
        self._show_message(message)
        self.query_one("#lock-password", Input).focus()

    def _unlocked(self, _scope: Scope) -> None:
        self._show_message("")
        self.app.call_later(self.console.idle_lock.unlock)

    def _show_message(self, message: str, *, error: bool = True) -> None:
        label = self.query_one("#lock-message", Static)
        label.update(Text(printable(message)))
        label.set_class(error and bool(message), "-error")


def _minutes(minutes: float) -> str:
    if minutes >= 1 and minutes == int(minutes):
        return f"{int(minutes)} minute" + ("" if minutes == 1 else "s")
    return f"{minutes * 60:.3g} seconds"  # tests lock after a fraction of a second
