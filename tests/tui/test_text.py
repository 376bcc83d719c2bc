"""Database strings on screen: literal, never markup, nothing that drives the terminal."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tui.text import printable, safe


def test_markup_and_controls_are_shown_as_typed():
    assert printable("[b]x[/b]") == "[b]x[/b]"
    assert printable("a\x1b[31mb") == "a\\e[31mb"
    assert printable("tab\there\nnew") == "tab\\there\\nnew"
    assert printable("rtl\u202eoverride") == "rtl\\u202eoverride"
    assert printable("nul\x00") == "nul\\x00"
    assert printable("Müller ß") == "Müller ß"


def test_safe_is_plain_text_and_null_is_not_empty():
    cell = safe("[b]bold?[/b]")
    assert cell.plain == "[b]bold?[/b]" and cell.spans == []
    assert safe(None).plain == "—"
    assert safe("").plain == ""


@given(st.text())
def test_nothing_invisible_survives(value):
    shown = printable(value)
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in shown)
