"""Helpers shared by the console tests (a plain module: conftest files are not importable)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from textual.pilot import Pilot

FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5)
MARKUP_USER = "[b]x[/b]\x1b[31m"  # must show as typed, the ESC escaped
PASSWORDS = {"cbdev": "cbdev", "deleg": "deleg-pw", "plain": "plain-pw"}


def fixed_clock() -> datetime:
    return FIXED_NOW


async def settle(pilot: Pilot) -> None:
    """Wait until every worker finished and its reply was handled."""
    app = pilot.app
    for _ in range(20):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            await pilot.pause()
            return


async def log_in(pilot: Pilot, name: str, password: str) -> None:
    """Type into the login form as a person would, and wait for the answer."""
    await settle(pilot)
    await pilot.press(*name, "enter", *password, "enter")
    await settle(pilot)


def pop_lock(path: Path, user: str) -> int | None:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT pop_lock FROM popd WHERE pop_user = ?", (user,)).fetchone()
    finally:
        connection.close()
    return None if row is None else row[0]


def sql(path: Path, statement: str, *args: object) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(statement, args)
    connection.close()
