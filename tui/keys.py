"""Key names for Textual without the Unicode name database.

Textual turns key names into characters and footer labels with `unicodedata.lookup()`
(textual.keys: `key_to_character` for each key bound above the focused widget, `format_key` for
each key the footer shows). The first few lookups read ~0.7 MB of the name tables into memory,
2% of the console's, to learn what is known in advance: which of the names of the console's
keys are also names of characters. `KnownNames` answers those itself, exactly as unicodedata
does (tests/tui/test_keys.py checks each answer and that every key the console binds is here),
and passes any other name on.
"""

from __future__ import annotations

import unicodedata

import textual.keys

# unicodedata.lookup(name) for the names textual.keys asks about the console's keys; None: not a
# character name (lookup raises KeyError).
KNOWN_NAMES: dict[str, str | None] = {
    "BACKSPACE": "\x08",
    "DELETE": "\x7f",
    "DOWN": None,
    "end": None,
    "END": None,
    "ENTER": None,
    "ESCAPE": "\x1b",
    "F1": None,
    "f1": None,
    "home": None,
    "HOME": None,
    "LEFT": None,
    "PAGEDOWN": None,
    "PAGEUP": None,
    "QUESTION MARK": "?",
    "RIGHT": None,
    "SLASH": None,
    "solidus": "/",
    "SPACE": " ",
    "tab": "\t",
    "TAB": "\t",
    "UP": None,
}


class KnownNames:
    """Stands for the unicodedata module in textual.keys."""

    def lookup(self, name: str) -> str:
        # No character, alias or named sequence has a one-letter name (a single-key binding).
        answer = None if len(name) == 1 else KNOWN_NAMES.get(name, "")
        if answer == "":
            return unicodedata.lookup(name)
        if answer is None:
            raise KeyError(f"undefined character name '{name}'")
        return answer

    def __getattr__(self, attribute: str) -> object:
        return getattr(unicodedata, attribute)


def install() -> None:
    """Make Textual's key-name lookups use `KnownNames` (once, before the first screen)."""
    if not isinstance(textual.keys.unicodedata, KnownNames):
        textual.keys.unicodedata = KnownNames()  # type: ignore[assignment]
