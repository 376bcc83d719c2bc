"""The `/` filter of a list: type text, Enter applies it, Esc clears it.

Letter bindings never reach a focused Input and Esc does not blur one by default (practice §6 #9),
so the bar handles Enter and Esc itself and tells its list through `FilterBar.Applied`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """An Input that posts `Applied(text)` on Enter and `Applied("")` on Esc."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear"),
    ]

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

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(self, self.value.strip()))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Applied(self, ""))
