"""The console application: database problem → (first admin) → login → module screens.

The first screen (problem screen or login screen) is Textual's default screen; after a logout the
screens before login live in the "gate" mode. A login adds one mode per module the role may see
(tui/modules.py) and switches to the landing module; logout removes those modes again, so nothing
of one user's session survives into the next.

Only the module on view keeps its screen (memory stays that of one screen, however many modules
were opened): switching module releases the screen left behind, keeping only its `ScreenState`
(tui/screens/base.py), and coming back builds it anew from the database with that state. A screen
with a drill-down or a dialog open on it is kept as it is.

The login screen's first frame comes before peewee, core's services and the database: make_app
checks the file with sqlite3 alone (a file it cannot work on gets the problem screen at once),
and the login screen opens the database right after that frame (`open_database`).

`make_app()` is the one factory used by the CLI (`run_console`), the tests and the screenshot
script.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import rich.cells
import rich.style
from textual import events
from textual._styles_cache import StylesCache
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.events import DescendantFocus
from textual.filter import ANSIToTruecolor
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input

from core.dbfile import validate
from core.errors import CmailError, SessionEnded
from tui import keys
from tui.commands import ModuleCommands
from tui.modules import MODULES, Module, landing_module, module_by_id, visible_modules
from tui.screens.lock import ALLOWED_WHILE_LOCKED, IdleClock, IdleLock
from tui.screens.login import LoginScreen
from tui.text import sentence

if TYPE_CHECKING:
    # Not at start: peewee, the services and the DataTable load after the first frame.
    from core.access import Session
    from core.db import Database
    from tui.screens.base import ScreenState

keys.install()  # before any screen asks Textual about a key

DEFAULT_THEME = "textual-dark"
GATE = "gate"  # the mode of the screens before login, after a logout
PARK = "park"  # a blank screen, current while a module's screen is released
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
        self._kept: dict[str, ScreenState] = {}  # module → what its released screen showed
        self._built: dict[str, Screen] = {}  # module → its screen, built before its mode starts
        self._executor = FreshContextExecutor()
        self._history: list[str] = []
        # An unknown name (e.g. a typo in $CMAIL_CONSOLE_THEME) falls back instead of crashing.
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        self.animation_level = "none"  # nothing slides over ssh
        self._gate_mode = False  # added at the first logout
        self.add_mode(PARK, Screen)
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
        return self.restricted or (self.session is not None and self.session.role != "admin")

    def visible_modules(self) -> list[Module]:
        return [] if self.session is None else visible_modules(self.session.role)

    # --- start -----------------------------------------------------------------------------------
    def on_load(self) -> None:
        # Before any worker: Textual runs thread workers in the loop's default executor.
        asyncio.get_running_loop().set_default_executor(self._executor)

    def get_default_screen(self) -> Screen:
        """The first screen. Not a mode's: Textual mounts a mode's first screen inside its
        start-up batch and shows it a frame later (~20 ms of start time)."""
        return self._gate_screen()

    def _gate_screen(self) -> Screen:
        if self.problem is not None:
            return self._problem_screen()
        return self._current_css(LoginScreen(user=self._login_as))

    def _problem_screen(self) -> Screen:
        from tui.screens.problem import ProblemScreen  # only for a file it cannot work on

        assert self.problem is not None
        return self._current_css(ProblemScreen(self.path, self.problem))

    def on_mount(self) -> None:
        self.idle_lock.start()
        if self._initial_session is not None and self.open_database() is not None:
            self.enter_console(self._initial_session)

    def open_database(self) -> Database | None:
        """The database, opened on first use (None: it cannot be; `problem` says why).

        The console starts without it: make_app checks the file with sqlite3 alone, and the
        login screen opens it after its first frame, when peewee and core load."""
        if self.db is None and self.problem is None:
            from core.db import Database

            try:
                self.db = Database(self.path, cache_kib=PAGE_CACHE_KIB)
            except CmailError as error:
                self.problem = error
        return self.db

    def show_problem(self) -> None:
        """The file passed make_app's check but could not be opened after all (e.g. it was
        replaced meanwhile): the problem screen over the login screen (q quits)."""
        self.push_screen(self._problem_screen())

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
        collect_garbage()  # before the first module's screen: what lives on until logout
        self.switch_mode(landing)
        self.refresh_bindings()

    def module_screen(self, module: Module) -> Screen:
        """A module's screen, made when its mode is first switched to (its code loads then).

        Textual re-parses every stylesheet from scratch and restyles the app when a mode's new
        screen has "missed" a CSS update (~60 ms on each module's first visit, more than the
        page of rows costs). A screen made now has missed nothing: the stylesheet is current
        (a theme change bumps the count and refreshes the current screen itself).

        A module left earlier gets back what its released screen showed."""
        built = self._built.pop(module.id, None)
        if built is not None:
            return built
        screen = module.screen()
        state = self._kept.pop(module.id, None)
        if state is not None:
            screen.resume_from(state)
        return self._current_css(screen)

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
        self.call_later(self._open_module, module_id)  # see _switch_module

    def action_back(self) -> None:
        self.call_later(self._go_back)

    async def _open_module(self, module_id: str) -> None:
        if module_id != self.current_mode and self.check_action("open_module", (module_id,)):
            self._history.append(self.current_mode)
            await self._switch_module(module_id)

    async def _go_back(self) -> None:
        if self._history and self.check_action("back", ()):
            await self._switch_module(self._history.pop())

    async def _switch_module(self, mode: str) -> None:
        """To another module: the screen left is released first, so the new one is built in
        the memory the old one held (Textual keeps a screen until its mode is removed).

        Called from the app's own queue, not from the key's handler: the key's widget is on
        the screen left, and the handler's frames would keep that screen alive."""
        left = self.current_mode
        with self.batch_update():  # the blank screen shown meanwhile is never drawn
            if self._releasable(left):
                await self.switch_mode(PARK)
                collect_garbage(await self._release(left))
            await self._build_first(mode)  # after the collection, which would freeze it
            self.switch_mode(mode)

    async def _build_first(self, mode: str) -> None:
        """Build the screen of a module whose mode has none yet and start reading its list's
        first page, then wait a moment for it (a page takes about a millisecond): with the UI
        thread idle the read is not held up by the composing that follows (a worker started
        by the list itself waits for the UI thread at every row), and the list shows its rows
        in the screen's first frame."""
        module = module_by_id(mode)
        if module is None or mode not in self._module_modes or self._has_screen(mode):
            return
        screen = self._built[mode] = self.module_screen(module)
        prefetch = getattr(screen, "prefetch", None)  # a ModuleScreen (not imported at start)
        first = prefetch(self._executor) if prefetch is not None else None
        if first is not None:
            await asyncio.wait([asyncio.wrap_future(first.page)], timeout=FIRST_PAGE_WAIT)

    def _has_screen(self, mode: str) -> bool:
        try:
            self.get_screen_stack(mode)
        except KeyError:
            return False
        return True

    def _releasable(self, mode: str) -> bool:
        """A module's screen with nothing open on it (a drill-down or a dialog is kept, with
        its screen, as it is)."""
        if mode not in self._module_modes or module_by_id(mode) is None:
            return False
        if not self._has_screen(mode):
            return False  # never opened
        stack = self.get_screen_stack(mode)
        return len(stack) == 1 and hasattr(stack[0], "remember")

    async def _release(self, mode: str) -> weakref.ref[Screen]:
        """Free the screen of a module that is no longer on view; its mode stays, with a
        factory that builds the screen again (with the state kept here) when it is opened."""
        module = module_by_id(mode)
        assert module is not None
        screen = self.get_screen_stack(mode)[0]
        self._kept[mode] = screen.remember()  # type: ignore[attr-defined]
        released = weakref.ref(screen)
        del screen
        await self.remove_mode(mode)
        self.add_mode(mode, partial(self.module_screen, module))
        return released

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen  # loads on the first F1

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen.for_screen(self.screen))

    async def action_logout(self, message: str = "Logged out.") -> None:
        if self.session is None:
            return
        self.session = None
        self._kept.clear()
        gc.unfreeze()  # the module screens go now: their objects must be collectable again
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


class FreshContextExecutor(ThreadPoolExecutor):
    """A thread pool that runs each job in a context of its own.

    A Textual thread worker sets `active_worker` in the context of the pool thread it runs on,
    and that context outlives the job: each thread would keep the last worker it ran alive, and
    through it the worker's screen, long after the screen was released. Here the context goes
    with the job."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(contextvars.Context().run, fn, *args, **kwargs)


def collect_garbage(released: weakref.ref[Screen] | None = None) -> None:
    """Free a released screen now, and take what lives on out of the collector's passes.

    A released screen is a web of cycles (widgets, their parents, styles, message queues): only
    a full collection frees it. Caches that Rich and Textual keep for the whole process hold
    what the screen showed: its rendered lines (`StylesCache.get_inner_outer`, an lru_cache on
    a method, keeps the last 1024 widgets' style caches alive), the width of each text it
    measured and each style it combined. The next screen shows other text, so they are emptied
    (RENDER_CACHES); filling them again costs that screen a few hundred cheap calls.

    `gc.freeze()` then moves everything alive now (code, caches; no module screen is) to the
    permanent generation, which no pass walks: this collection and the automatic full passes
    (otherwise 100-300 ms with every module's widgets, styles and cached lines, several times a
    minute while lists load) walk the objects of one screen. Logout unfreezes. But while
    something still holds the `released` screen (e.g. a callback yet to run), nothing is frozen:
    frozen, the screen would outlive that hold until logout; unfrozen, a later pass frees it."""
    for owner, name in RENDER_CACHES:
        clear = getattr(getattr(owner, name, None), "cache_clear", None)
        if clear is not None:  # a Textual or Rich release may rename or drop one
            clear()
    gc.collect()
    if released is None or released() is None:
        gc.freeze()


# (owner, lru_cache attribute) of what a screen's text and styles leave in process-wide caches;
# at a million users, a session that visits every module fills them with several MB otherwise.
RENDER_CACHES: tuple[tuple[object, str], ...] = (
    (StylesCache, "get_inner_outer"),
    (rich.cells, "cached_cell_len"),
    (rich.cells, "get_character_cell_size"),
    (rich.style.Style, "_add"),
    (ANSIToTruecolor, "truecolor_style"),
)


FIRST_PAGE_WAIT = 0.05  # seconds a module switch waits for its list's first page at most
PAGE_CACHE_KIB = 256  # per connection; SQLite's 2 MiB default would be the console's peak


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
    `session` skips the login (tests, screenshots).

    Only sqlite3 looks at the file here: the database is opened (peewee and core are loaded)
    after the login screen's first frame, or by `open_database()`; at once with a `session`."""
    problem: CmailError | None = None
    try:
        validate(db_path)
    except CmailError as error:
        problem = error
    app = CmailConsole(
        db_path,
        db=None,
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
    if session is not None:
        app.open_database()  # a session's caller has loaded core already
    return app


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
