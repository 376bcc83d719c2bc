"""tui/keys.py answers Textual's key-name lookups exactly as unicodedata would, for every key the
console binds, so the Unicode name database is never read."""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import textual.keys
from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import (
    KEY_DISPLAY_ALIASES,
    KEY_TO_UNICODE_NAME,
    REPLACED_KEYS,
    _get_unicode_name_from_key,
)

import tui
from tui import keys

TUI = Path(tui.__file__).parent


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def bound_keys() -> set[str]:
    """Every key bound by a screen or widget of the console, or by the Textual classes they
    use (all of tui/ imported)."""
    for path in TUI.rglob("*.py"):
        module = ".".join(path.relative_to(TUI.parent).with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))
    found = set()
    for cls in {DOMNode, *_subclasses(DOMNode)}:
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            found.add(binding.key)
    return found


def asked_names() -> set[str]:
    """The names textual.keys looks up for those keys: key_to_character() for a key bound
    above the focused widget, format_key() for a key the footer shows."""
    names = set()
    for key in bound_keys():
        modifiers, _, name = key.rpartition("+")
        if not modifiers and len(name) > 1:  # key_to_character
            if name in KEY_TO_UNICODE_NAME:
                names.add(KEY_TO_UNICODE_NAME[name])
            names.add(name.replace("_", " ").upper())
        if name not in KEY_DISPLAY_ALIASES:  # format_key
            names.add(_get_unicode_name_from_key(REPLACED_KEYS.get(name, name)))
    return names


def real_lookup(name: str) -> str | None:
    try:
        return unicodedata.lookup(name)
    except KeyError:
        return None


@pytest.mark.parametrize("name", sorted(keys.KNOWN_NAMES))
def test_each_known_name_is_what_unicodedata_says(name: str) -> None:
    assert keys.KNOWN_NAMES[name] == real_lookup(name)


def test_every_name_textual_asks_about_the_consoles_keys_is_known() -> None:
    missing = {name for name in asked_names() if len(name) > 1} - set(keys.KNOWN_NAMES)
    assert not missing, f"add to tui/keys.py KNOWN_NAMES: {sorted(missing)}"


def test_no_single_character_is_a_name() -> None:
    """The rule that answers one-letter names without a table."""
    for code in range(0x20, 0x7F):
        assert real_lookup(chr(code)) is None


def _answers(keyset: list[str]) -> list[tuple[str | None, str]]:
    textual.keys.key_to_character.cache_clear()
    return [
        (textual.keys.key_to_character(key), textual.keys.format_key(key.rpartition("+")[2]))
        for key in keyset
    ]


def test_textual_gets_the_same_answers_without_the_name_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(textual.keys.unicodedata, keys.KnownNames)  # installed by tui.app
    bound = sorted(bound_keys())
    with monkeypatch.context() as patch:
        patch.setattr(textual.keys, "unicodedata", unicodedata)
        expected = _answers(bound)
    asked: list[str] = []

    def spy(name: str) -> str:
        asked.append(name)
        return unicodedata.lookup(name)

    monkeypatch.setattr(keys, "unicodedata", SimpleNamespace(lookup=spy))
    assert _answers(bound) == expected
    assert asked == []  # every answer came from the table
    textual.keys.key_to_character.cache_clear()
