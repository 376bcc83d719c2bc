"""The database could not be opened: say what is wrong and how to fix it, then `q` quits.

Core's sentence says what is wrong (missing file, not SQLite, not cmail, wrong schema version,
unreadable); the lines below it say what to do next, in the words of the command line.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from core.dbfile import PATH_ENV
from core.errors import CmailError
from tui.text import safe
from tui.widgets.footer import KeyFooter
from tui.widgets.status_bar import StatusBar


def fixes(error: CmailError, path: str) -> list[str]:
    """What to try, most likely first. (Presentation only: core decided what is wrong.)"""
    text = str(error).lower()
    hints: list[str] = []
    if "does not exist" in text:
        hints.append(f"Create an empty cmail database there: cmail-console init {path}")
    elif "permission denied" in text or "cannot be read" in text:
        hints.append("Run the console as a user who may read the file (e.g. cmail's own user).")
    elif "schema version" in text:
        hints.append(
            "This console works with cmail schema version 9 only: update the database with "
            "cmail's SQL update scripts first, or open another file."
        )
    else:
        hints.append("Check the path: it must be cmail's master database, not a user database.")
    hints.append(f"Open another database: cmail-console -d PATH, or set {PATH_ENV}=PATH.")
    return hints


class ProblemScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="problem.quit"),
        Binding("escape", "quit", "Quit", show=False, id="problem.escape"),
    ]
    HELP = "The console cannot work on this file. Fix the problem described, then start again."

    def __init__(self, path: str, error: CmailError) -> None:
        super().__init__()
        self._path = path
        self._error = error

    def compose(self) -> ComposeResult:
        yield StatusBar(("Cannot open the database",))
        with Vertical(id="problem-box", classes="box"):
            yield Static(Text("The database cannot be opened", style="bold"), id="problem-title")
            yield Static(safe(str(self._error)), id="problem-error")
            yield Static(Text("How to fix it:", style="bold"))
            for hint in fixes(self._error, self._path):
                yield Static(safe(f"• {hint}"), classes="problem-hint")
        yield KeyFooter()

    def action_quit(self) -> None:
        # The same exit status as the command line gives for this error (schema: 11).
        self.app.exit(return_code=self._error.exit_code)
