"""`?` / F1: every key that works on the current screen, generated from its active bindings
(so it cannot drift from what the keys really do), plus the screen's HELP text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from tui.text import safe

# How the places that own bindings are called in the help table.
_PLACES = {
    "DataTable": "table",
    "RowTable": "table",
    "PagedTable": "list",
    "FilterBar": "filter",
    "Input": "field",
}
_ORDER = {"this screen": 0, "table": 2, "everywhere": 3}


@dataclass(frozen=True)
class KeyHelp:
    keys: str  # e.g. "F1 ?"
    description: str
    where: str  # "table", "this screen", "everywhere"
    enabled: bool  # False: shown, but not usable right now (e.g. no row selected)


def _where(node: DOMNode, screen: Screen, app: App) -> str:
    if node is app:
        return "everywhere"
    if node is screen:
        return "this screen"
    return _PLACES.get(type(node).__name__, type(node).__name__.lower())


def describe_keys(screen: Screen) -> list[KeyHelp]:
    """The keys of `screen` as they work now: focused widget first, then screen, then app.
    Keys bound to one action on one node are merged into one line."""
    app = screen.app
    merged: dict[tuple[int, str], tuple[list[str], Binding, str, bool]] = {}
    ours: set[tuple[int, str]] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system:
            continue
        slot = (id(active.node), binding.action)
        if slot not in merged:
            where = _where(active.node, screen, app)
            merged[slot] = ([], binding, where, active.enabled)
        merged[slot][0].append(app.get_key_display(binding))
        if binding.id is not None:  # declared by this console (Textual's own have no ids)
            ours.add(slot)
    found = [
        (
            (_ORDER.get(where, 1), slot not in ours),
            KeyHelp(
                " ".join(dict.fromkeys(keys)),
                binding.description or binding.tooltip or binding.action,
                where,
                on,
            ),
        )
        for slot, (keys, binding, where, on) in merged.items()
    ]
    # The screen's own keys first, navigation after, keys that work everywhere last.
    return [item for _, item in sorted(found, key=lambda pair: pair[0])]


class HelpScreen(ModalScreen[None]):
    AUTO_FOCUS = "#help-keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "close", "Close help", id="help.close"),
    ]

    def __init__(self, title: str, help_text: str, keys: list[KeyHelp]) -> None:
        super().__init__()
        self._title = title
        self._help_text = help_text
        self._keys = keys

    @classmethod
    def for_screen(cls, screen: Screen) -> HelpScreen:
        title = getattr(screen, "TITLE", None) or type(screen).__name__
        return cls(f"Help: {title}", screen.HELP or "", describe_keys(screen))

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static(safe(self._title, style="bold"), classes="dialog-title")
            if self._help_text:
                yield Static(safe(self._help_text), id="help-text")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(safe("Esc, q, F1 or ? closes this help.", style="dim"))

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_column("Key", width=14)
        table.add_column("Does", width=30)
        table.add_column("Where")
        for item in self._keys:
            style = "" if item.enabled else "dim"
            does = item.description if item.enabled else f"{item.description} (not now)"
            table.add_row(Text(item.keys, style=style), Text(does, style=style), Text(item.where))

    def action_close(self) -> None:
        self.dismiss(None)
