"""Yes/no before anything changes: `ConfirmModal(title, lines) -> bool`.

The safe answer has the focus first (k9s focuses Cancel; practice §2.2 #8), so a reflexive Enter
never destroys anything. The lines say exactly what will happen; callers pass core's own
sentences (e.g. `core.services.popd.UNLOCK_WARNING`) rather than paraphrasing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.text import safe


class ConfirmModal(ModalScreen[bool]):
    """`y` or the Yes button → True; `n`, `esc` or No → False. Focus starts on No."""

    AUTO_FOCUS = "#no"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
        Binding("left,right", "app.focus_previous", "Other button", show=False),
    ]
    HELP = "Confirm or cancel the action described. Nothing changes unless you answer yes."

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        yes: str = "Yes",
        destructive: bool = True,
    ) -> None:
        super().__init__()
        self._title = title
        self._lines = tuple(lines)
        self._yes = yes
        self._destructive = destructive

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(safe(self._title, style="bold"), classes="dialog-title")
            for line in self._lines:
                yield Static(safe(line), classes="dialog-line")
            hint = f"y: {self._yes.lower()} · n or Esc: cancel"
            yield Static(safe(hint, style="dim"), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="no")
                yield Button(
                    self._yes, id="yes", variant="error" if self._destructive else "primary"
                )

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")
