"""Shared fixtures: every test works on a fresh copy of a real cmail database, never in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.access import Session
from core.db import Database, create_master

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's shell must not leak into results (theme, colour, database path)."""
    for name in ("NO_COLOR", "TEXTUAL_THEME", "CMAIL_MASTER_DB", "CMAIL_CONSOLE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sample_path(tmp_path: Path) -> Path:
    """A private copy of cmail's sample master database, odd data included."""
    target = tmp_path / "master.db3"
    shutil.copyfile(FIXTURES / "sample-master.db3", target)  # not the fixture's 0444 mode
    return target


@pytest.fixture
def sample_db(sample_path: Path) -> Database:
    return Database(str(sample_path))


@pytest.fixture
def empty_path(tmp_path: Path) -> Path:
    target = tmp_path / "empty.db3"
    create_master(str(target))
    return target


@pytest.fixture
def empty_db(empty_path: Path) -> Database:
    return Database(str(empty_path))


@pytest.fixture
def admin() -> Session:
    """The file-system administrator (CLI without --login)."""
    return Session.system()


@pytest.fixture
def userdb_path(tmp_path: Path) -> Path:
    target = tmp_path / "userdb.db3"
    shutil.copyfile(FIXTURES / "sample-userdb.db3", target)
    return target
