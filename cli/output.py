"""Printing for the command line: cmail-admin's fixed-width tables, or JSON with --json."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def printable(value: object) -> str:
    """Database text shown literally, but never able to drive the terminal: control
    characters (ESC, CR, C1 codes) are written as escapes."""
    if value is None:
        return ""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def table(
    out: TextIO, columns: Sequence[tuple[str, int]], rows: Iterable[Sequence[object]]
) -> None:
    """cmail-admin's layout: right-aligned `%Ns | %Ns` cells under a dashed separator."""
    header = " | ".join(f"{title:>{width}}" for title, width in columns)
    out.write(header + "\n")
    out.write("-" * len(header) + "\n")
    # One format call per row; only a row holding None or an unprintable character takes the
    # cell-by-cell way (the layout is printable, so the line is iff every cell is).
    line = " | ".join(f"{{!s:>{width}}}" for _, width in columns).format
    count = len(columns)
    for row in rows:
        if len(row) != count:
            raise ValueError(f"A row of {len(row)} cells in a table of {count} columns.")
        text = line(*row) if None not in row else None
        if text is None or not text.isprintable():
            text = line(*map(printable, row))
        out.write(text + "\n")


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def emit_json(out: TextIO, value: Any) -> None:
    # ensure_ascii keeps every control and C1 character escaped in the output.
    out.write(json.dumps(plain(value), indent=2, ensure_ascii=True) + "\n")
