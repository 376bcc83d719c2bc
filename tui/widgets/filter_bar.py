"""The `/` filter of a list: the list follows as you type; Enter returns to the list, Esc clears.

Letter bindings never reach a focused Input and Esc does not blur one by default (practice §6 #9),
so the bar handles Enter and Esc itself and tells its list through `FilterBar.Applied`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input


class FilterBar(Input):
    """An Input that posts `Applied(text)` on Enter and `Applied("")` on Esc."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear"),
    ]

    TYPING_PAUSE = 0.12  # seconds: one query per pause in typing, not one per key
    _pending: Timer | None = None

    class Typed(Message):
        """The text so far, while the person is still typing (the list follows it)."""

        def __init__(self, bar: FilterBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> FilterBar:
            return self.bar

    class Applied(Message):
        """The filter text the list should show now ("" = no filter)."""

        def __init__(self, bar: FilterBar, text: str) -> None:
            super().__init__()
            self.bar = bar
            self.text = text

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, *, placeholder: str = "filter (literal text)", id: str | None = None):
        super().__init__(placeholder=placeholder, id=id, compact=True)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._pending is not None:
            self._pending.stop()
        self._pending = self.set_timer(self.TYPING_PAUSE, self._typed)

    def _typed(self) -> None:
        self._pending = None
        if self.has_focus:  # Enter or Esc already decided
            self.post_message(self.Typed(self, self.value.strip()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(self, self.value.strip()))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Applied(self, ""))
