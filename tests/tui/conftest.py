"""Fixtures for the console's pilot and snapshot tests: the determinism kit (practice §3 T5).

* theme fixed in the factory, NO_COLOR/TEXTUAL_THEME removed (tests/conftest.py does that),
* no cursor blink, no animation, a fixed clock for "refreshed hh:mm:ss",
* the database is a private copy of cmail's sample, plus a delegate, a plain user, a locked
  maildrop, an alias with a POP row and a user whose name is markup with an ESC in it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tuikit import MARKUP_USER, PASSWORDS, fixed_clock

from core.access import Session
from core.db import Database
from core.passwords import hash_password
from core.session import login
from tui.app import CmailConsole, make_app


def add_user(connection: sqlite3.Connection, name: str, password: str | None) -> None:
    authdata = hash_password(password) if password is not None else None
    connection.execute(
        "INSERT INTO users (user_name, user_authdata) VALUES (?, ?)", (name, authdata)
    )


@pytest.fixture
def console_path(sample_path: Path) -> Path:
    """The sample database with the people and rows the console tests need."""
    connection = sqlite3.connect(sample_path)
    with connection:
        add_user(connection, "deleg", PASSWORDS["deleg"])
        add_user(connection, "plain", PASSWORDS["plain"])
        add_user(connection, MARKUP_USER, "irrelevant")
        connection.execute("INSERT INTO api_access VALUES ('deleg', 'delegate')")
        for managed in ("plain", "kitinfo"):  # kitinfo holds admin: visible, not actionable
            connection.execute("INSERT INTO api_user_delegates VALUES ('deleg', ?)", (managed,))
        connection.executemany(
            "INSERT INTO popd (pop_user, pop_lock) VALUES (?, ?)",
            [("plain", 1), ("deleg", 0), ("a2", 0), (MARKUP_USER, 0)],
        )
        connection.execute("UPDATE popd SET pop_lock = 1 WHERE pop_user = 'user'")
    connection.close()
    return sample_path


@pytest.fixture
def session_for(console_path: Path) -> Callable[[str], Session]:
    def make(name: str) -> Session:
        return login(Database(str(console_path)), name, PASSWORDS[name])

    return make


@pytest.fixture
def console(console_path: Path) -> Callable[..., CmailConsole]:
    """`console(session=…, restricted=…)`: the app on the test database, deterministic."""

    def make(path: str | Path | None = None, **options: object) -> CmailConsole:
        return make_app(
            str(path or console_path),
            theme="textual-dark",
            clock=fixed_clock,
            cursor_blink=False,
            **options,  # type: ignore[arg-type]
        )

    return make
