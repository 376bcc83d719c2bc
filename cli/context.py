"""What every verb receives: the opened database, the acting session, flags and the streams."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from cli.output import emit_json, printable
from core.access import Session
from core.db import Database
from core.errors import Invalid
from core.records import Change, Page


def _prompt(text: str) -> str:
    """Read a secret without echo; from a pipe, read one line (as cmail-admin does)."""
    if sys.stdin.isatty():
        return getpass.getpass(text, stream=sys.stderr)
    sys.stderr.write(text)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")


@dataclass
class Context:
    open_db: Callable[[], Database]
    session: Session = field(default_factory=Session.system)
    json: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    prompt: Callable[[str], str] = _prompt
    _db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = self.open_db()
        return self._db

    def warn(self, text: str) -> None:
        self.err.write(f"warning: {printable(text)}\n")

    def report(self, change: Change) -> int:
        """Print a write's outcome: its sentence on stdout, warnings on stderr."""
        if self.json:
            emit_json(
                self.out,
                {
                    "ok": True,
                    "message": change.message,
                    "warnings": list(change.warnings),
                    **change.data,
                },
            )
        else:
            self.out.write(printable(change.message) + "\n")
            for warning in change.warnings:
                self.warn(warning)
        return 0

    def emit(self, value: Any) -> None:
        emit_json(self.out, value)


def all_rows(fetch: Callable[..., Page[Any]], **kwargs: Any) -> Iterator[Any]:
    """Walk every page of a paged service call."""
    cursor = None
    while True:
        page = fetch(after=cursor, limit=1000, **kwargs)
        yield from page.rows
        if not page.has_more:
            return
        cursor = page.cursor


def split_options(
    args: list[str], valued: dict[str, str], flags: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str], set[str]]:
    """A verb's own options, anywhere after the verb as cmail-admin's are: the other words,
    the values given, the flags given. `valued` maps each option that takes a value to what
    that value is, for the refusal when it is missing."""
    rest: list[str] = []
    values: dict[str, str] = {}
    given: set[str] = set()
    tokens = iter(args)
    for token in tokens:
        if token in valued:
            value = next(tokens, None)
            if value is None:
                raise Invalid("arguments", f"The option {token} needs {valued[token]}.")
            values[token] = value
        elif token in flags:
            given.add(token)
        else:
            rest.append(token)
    return rest, values, given


def arity(args: list[str], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise Invalid("arguments", f"Wrong number of arguments; usage: {usage}")
