"""The console application: database problem → (first admin) → login → module screens.

The first screen (problem screen or login screen) is Textual's default screen; after a logout the
screens before login live in the "gate" mode. A login adds one mode per module the role may see
(tui/modules.py) and switches to the landing module; logout removes those modes again, so nothing
of one user's session survives into the next.

`make_app()` is the one factory used by the CLI (`run_console`), the tests and the screenshot
script.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.events import DescendantFocus
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input

from core.access import Role, Session
from core.db import Database
from core.errors import CmailError, SessionEnded
from tui.commands import ModuleCommands
from tui.modules import MODULES, Module, landing_module, module_by_id, visible_modules
from tui.screens.lock import ALLOWED_WHILE_LOCKED, IdleClock, IdleLock
from tui.screens.login import LoginScreen
from tui.screens.problem import ProblemScreen
from tui.text import sentence

DEFAULT_THEME = "textual-dark"
GATE = "gate"  # the mode of the screens before login, after a logout
Clock = Callable[[], datetime]

# Environment switches for run_console (cli/main.py passes only the path and --login).
THEME_ENV = "CMAIL_CONSOLE_THEME"
NO_MOUSE_ENV = "CMAIL_CONSOLE_NO_MOUSE"
NO_BLINK_ENV = "CMAIL_CONSOLE_NO_BLINK"
RESTRICTED_ENV = "CMAIL_CONSOLE_RESTRICTED"


def _module_bindings(modules: Iterable[Module]) -> list[BindingType]:
    return [
        Binding(m.key, f"open_module('{m.id}')", m.title, show=False, id=f"module.{m.id}")
        for m in modules
    ]


class CmailConsole(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "cmail console"
    COMMANDS = App.COMMANDS | {ModuleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+l", "logout", "Log out", id="app.logout"),
        Binding("ctrl+z", "suspend_process", "Suspend", show=False, id="app.suspend"),
        *_module_bindings(MODULES),
    ]

    def __init__(
        self,
        path: str,
        *,
        db: Database | None,
        problem: CmailError | None = None,
        session: Session | None = None,
        theme: str = DEFAULT_THEME,
        clock: Clock | None = None,
        restricted: bool = False,
        cursor_blink: bool = True,
        login_as: str | None = None,
        idle_minutes: float | None = None,
        idle_clock: IdleClock | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.db = db
        self.problem = problem
        self.session: Session | None = None
        self.clock: Clock = clock or datetime.now
        self.restricted = restricted
        self.cursor_blink = cursor_blink
        self._initial_session = session
        self._login_as = login_as
        self._module_modes: list[str] = []
        self._history: list[str] = []
        # An unknown name (e.g. a typo in $CMAIL_CONSOLE_THEME) falls back instead of crashing.
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        self.animation_level = "none"  # nothing slides over ssh
        self._gate_mode = False  # added at the first logout
        # None: $CMAIL_CONSOLE_IDLE_MINUTES (default 10); 0 never locks (tui/screens/lock.py).
        self.idle_lock = IdleLock(self, idle_minutes, idle_clock)

    # --- what screens read -----------------------------------------------------------------------
    @property
    def db_name(self) -> str:
        return os.path.basename(self.path) or self.path

    @property
    def read_only(self) -> bool:
        return self.db is not None and self.db.read_only

    @property
    def locked_down(self) -> bool:
        """No screenshots to the server's disk and no suspend to a shell: for restricted (e.g.
        ssh ForceCommand) consoles, and for every non-admin session."""
        return self.restricted or (self.session is not None and self.session.role is not Role.ADMIN)

    def visible_modules(self) -> list[Module]:
        return [] if self.session is None else visible_modules(self.session.role)

    # --- start -----------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        """The first screen. Not a mode's: Textual mounts a mode's first screen inside its
        start-up batch and shows it a frame later (~20 ms of start time)."""
        return self._gate_screen()

    def _gate_screen(self) -> Screen:
        if self.db is None:
            assert self.problem is not None
            return self._current_css(ProblemScreen(self.path, self.problem))
        return self._current_css(LoginScreen(user=self._login_as))

    def on_mount(self) -> None:
        self.idle_lock.start()
        if self._initial_session is not None and self.db is not None:
            self.enter_console(self._initial_session)

    def enter_console(self, session: Session) -> None:
        """After a login: one mode per module this role may see, then the landing module."""
        self.session = session
        self._history.clear()
        modules = visible_modules(session.role)
        for module in modules:
            self.add_mode(module.id, partial(self.module_screen, module))
            self._module_modes.append(module.id)
        landing = landing_module(session.role)
        if landing not in self._module_modes and modules:
            landing = modules[0].id
        self.switch_mode(landing)
        self.refresh_bindings()

    def module_screen(self, module: Module) -> Screen:
        """A module's screen, made when its mode is first switched to (its code loads then).

        Textual re-parses every stylesheet from scratch and restyles the app when a mode's new
        screen has "missed" a CSS update (~60 ms on each module's first visit, more than the
        page of rows costs). A screen made now has missed nothing: the stylesheet is current
        (a theme change bumps the count and refreshes the current screen itself)."""
        return self._current_css(module.screen())

    def _current_css(self, screen: Screen) -> Screen:
        screen._css_update_count = self._css_update_count
        return screen

    def delay_update(self, delay: float = 0.05) -> None:
        """Textual holds back every frame for 50 ms after a switch of mode (its only caller), to
        mask the change. A module screen composes in a few ms, so the hold would only delay its
        first rows: draw at once."""

    # --- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.idle_lock.locked and action not in ALLOWED_WHILE_LOCKED:
            return False  # no module key or palette leads around the lock screen
        if action == "open_module":
            module = module_by_id(str(parameters[0])) if parameters else None
            return (
                self.session is not None
                and module is not None
                and module.visible_to(self.session.role)
            )
        if action == "logout":
            return self.session is not None
        if action == "back":
            return self.session is not None and bool(self._history)
        if action in ("suspend_process", "screenshot"):  # App.action_screenshot writes a file
            return not self.locked_down
        return True

    def action_open_module(self, module_id: str) -> None:
        if module_id != self.current_mode:
            self._history.append(self.current_mode)
            self.switch_mode(module_id)

    def action_back(self) -> None:
        if self._history:
            self.switch_mode(self._history.pop())

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen  # loads on the first F1

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen.for_screen(self.screen))

    async def action_logout(self, message: str = "Logged out.") -> None:
        if self.session is None:
            return
        self.session = None
        self._history.clear()
        if not self._gate_mode:
            self.add_mode(GATE, self._gate_screen)
            self._gate_mode = True
        await self.switch_mode(GATE)
        for mode in self._module_modes:
            await self.remove_mode(mode)
        self._module_modes.clear()
        while len(self.screen_stack) > 1:  # e.g. the first-admin screen
            self.pop_screen()
        login = self.screen_stack[0]
        if isinstance(login, LoginScreen):
            login.reset(message=message)
        self.refresh_bindings()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot" and self.locked_down:
                continue  # it writes an SVG file into the server's working directory
            if command.title == "Keys":
                continue  # our help (F1 / ?) lists the keys of the screen instead
            yield command
        yield SystemCommand("Help", "Every key of this screen (F1 or ?)", self.action_help)
        if self.session is not None:
            yield SystemCommand("Log out", "Back to the login screen (ctrl+l)", self.action_logout)

    # --- feedback --------------------------------------------------------------------------------
    def say(self, message: str, *, severity: SeverityLevel = "information") -> None:
        """A toast whose text is shown literally (messages quote user names: no markup)."""
        timeout = self.NOTIFICATION_TIMEOUT * (2 if severity != "information" else 1)
        self.notify(sentence(message), severity=severity, timeout=timeout, markup=False)

    def report_error(self, error: CmailError) -> None:
        """A service refused: its one sentence. If the login itself ended, back to login."""
        if isinstance(error, SessionEnded) and self.session is not None:
            # Several workers may fail at once; the first logout wins, the others find no session.
            self.call_later(self.action_logout, str(error))
            return
        self.say(str(error), severity="error")

    def report_bug(self, error: Exception) -> None:
        self.say(f"Unexpected error ({type(error).__name__}): {error}", severity="error")

    async def on_event(self, event: events.Event) -> None:
        self.idle_lock.noticed(event)  # every key, mouse event and paste resets the idle time
        await super().on_event(event)

    # --- terminal options ------------------------------------------------------------------------
    def on_descendant_focus(self, event: DescendantFocus) -> None:
        # The no-blink option: a blinking cursor is noise over ssh and in screen readers.
        if not self.cursor_blink and isinstance(event.widget, Input):
            event.widget.cursor_blink = False


def make_app(
    db_path: str,
    *,
    session: Session | None = None,
    theme: str = DEFAULT_THEME,
    clock: Clock | None = None,
    restricted: bool = False,
    cursor_blink: bool = True,
    login_as: str | None = None,
    idle_minutes: float | None = None,
    idle_clock: IdleClock | None = None,
) -> CmailConsole:
    """The console for `db_path`. A file that cannot be opened gives the problem screen; a
    `session` skips the login (tests, screenshots)."""
    db: Database | None = None
    problem: CmailError | None = None
    try:
        db = Database(db_path)
    except CmailError as error:
        problem = error
    return CmailConsole(
        db_path,
        db=db,
        problem=problem,
        session=session,
        theme=theme,
        clock=clock,
        restricted=restricted,
        cursor_blink=cursor_blink,
        login_as=login_as,
        idle_minutes=idle_minutes,
        idle_clock=idle_clock,
    )


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "no", "false")


def run_console(
    path: str,
    login_as: str | None = None,
    *,
    mouse: bool | None = None,
    restricted: bool | None = None,
    theme: str | None = None,
) -> int:
    """Run the console in this terminal; the exit status (11 if the database was unusable)."""
    app = make_app(
        path,
        theme=theme or os.environ.get(THEME_ENV) or DEFAULT_THEME,
        # $CMAIL_CONSOLE_RESTRICTED (set in sshd's ForceCommand) cannot be undone by arguments.
        restricted=bool(restricted) or _flag(RESTRICTED_ENV),
        cursor_blink=not _flag(NO_BLINK_ENV),
        login_as=login_as,
    )
    app.run(mouse=not _flag(NO_MOUSE_ENV) if mouse is None else mouse)
    return app.return_code or 0
