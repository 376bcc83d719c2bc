"""Showing database strings safely.

Everything stored in the master database may have been typed by someone else: a user named
`[b]x[/b]` must not become bold (markup injection is the TUI's XSS), and an ESC or a bidi override
in a name must not drive the terminal or reorder the screen. So every database string reaches the
screen through `safe()` (a `rich.text.Text`, which is never parsed as markup) after `printable()`
has replaced control characters with visible escapes.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Unicode categories that are invisible or move text around: controls (C0, DEL, C1), format
# characters (bidi overrides, zero-width joiners) and line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`value` as text with every invisible or terminal-controlling character escaped."""
    text = str(value)
    if text.isprintable():  # fast path: the common case has nothing to escape
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _HIDDEN_CATEGORIES else c for c in text)


def safe(value: object, *, style: str = "", none: str = "—") -> Text:
    """A display cell for a database value: literal text, escaped, never markup.
    `None` (SQL NULL) shows as a dim dash so it is not mistaken for an empty string."""
    if value is None:
        return Text(none, style="dim")
    return Text(printable(value), style=style)


def sentence(message: object) -> str:
    """A message (often quoting user names) made safe for `notify(..., markup=False)`."""
    return printable(message)
