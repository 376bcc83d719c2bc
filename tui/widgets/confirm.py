"""Yes/no before anything changes: `ConfirmModal(title, lines) -> bool`, or one of a few
named answers besides yes (`more`), each with its key and button.

The safe answer has the focus first (k9s focuses Cancel; practice §2.2 #8), so a reflexive Enter
never destroys anything. The lines say exactly what will happen; callers pass core's own
sentences (e.g. `core.services.popd.UNLOCK_WARNING`) rather than paraphrasing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.text import safe


class ConfirmModal(ModalScreen[bool | str]):
    """`y` or the Yes button → True; `n`, `esc` or No → False; the key of one of `more`'s
    answers (or its button) → that key. Focus starts on No."""

    AUTO_FOCUS = "#no"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
        Binding("left", "app.focus_previous", "Previous button", show=False),
        Binding("right", "app.focus_next", "Next button", show=False),
    ]
    HELP = "Confirm or cancel the action described. Nothing changes unless you answer yes."

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        yes: str = "Yes",
        destructive: bool = True,
        more: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`more`: further answers as (key, button label), e.g. ("r", "Delete with its rules")."""
        super().__init__()
        self._title = title
        self._lines = tuple(lines)
        self._yes = yes
        self._destructive = destructive
        self._more = dict(more)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(safe(self._title, style="bold"), classes="dialog-title")
            for line in self._lines:
                yield Static(safe(line), classes="dialog-line")
            answers = [f"y: {self._yes.lower()}"]
            answers += [f"{key}: {label.lower()}" for key, label in self._more.items()]
            hint = " · ".join([*answers, "n or Esc: cancel"])
            yield Static(safe(hint, style="dim"), classes="dialog-hint")
            variant = "error" if self._destructive else "primary"
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="no")
                yield Button(self._yes, id="yes", variant=variant)
            if self._more:  # a row of their own: four buttons do not fit an 80-column dialog
                with Horizontal(classes="dialog-buttons"):
                    for key, label in self._more.items():
                        yield Button(label, id=f"more-{key}", variant=variant)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_key(self, event: events.Key) -> None:
        if event.key in self._more:
            event.stop()
            self.dismiss(event.key)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        self.dismiss(
            button.removeprefix("more-") if button.startswith("more-") else button == "yes"
        )
