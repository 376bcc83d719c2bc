"""Ask for one value: `PromptModal(title, label, value=…) -> str | None` (None = cancelled)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.text import safe


class PromptModal(ModalScreen[str | None]):
    """Enter returns the stripped text (or None if empty); Esc returns None."""

    AUTO_FOCUS = "#prompt-input"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]
    HELP = "Type the value and press Enter; Esc cancels without changing anything."

    def __init__(self, title: str, label: str, *, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self._title = title
        self._label = label
        self._value = value
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(safe(self._title, style="bold"), classes="dialog-title")
            yield Static(safe(self._label), classes="dialog-line")
            yield Input(self._value, placeholder=self._placeholder, id="prompt-input")
            yield Static(safe("Enter: OK · Esc: cancel", style="dim"), classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
