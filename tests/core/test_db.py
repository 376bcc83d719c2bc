"""Opening a master database: every refusal names its reason; read-only and busy files are safe."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from core import db as dbmod
from core.db import Database, busy_timeout, parse_version, resolve_path, translate
from core.errors import Busy, Conflict, ReadOnly, SchemaError, StorageError
from core.models import User

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
IS_ROOT = os.geteuid() == 0


def execute(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            for statement in statements:
                connection.execute(statement)
    finally:
        connection.close()


def refused(path: Path) -> str:
    with pytest.raises(SchemaError) as caught:
        Database(str(path))
    assert caught.value.exit_code == 11
    return str(caught.value)


# --- files that are not a usable master database -----------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    message = refused(tmp_path / "nope.db3")
    assert "does not exist" in message and "cmail-console init" in message
    assert not (tmp_path / "nope.db3").exists()  # never created by opening


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in refused(tmp_path)


@pytest.mark.skipif(IS_ROOT, reason="root reads every file regardless of its mode")
def test_unreadable_file(sample_path: Path) -> None:
    sample_path.chmod(0)
    try:
        assert "permission denied" in refused(sample_path)
    finally:
        sample_path.chmod(0o644)


def test_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "text.db3"
    path.write_text("SQLite format 2, honestly\n")
    assert refused(path).endswith("is not an SQLite database.")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.db3"
    path.write_bytes(b"")
    assert refused(path).endswith("is not an SQLite database.")


def test_empty_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "blank.db3"
    execute(path, "PRAGMA user_version = 1")  # a valid SQLite file with no tables
    assert "no meta table" in refused(path)


def test_no_meta_table(sample_path: Path) -> None:
    execute(sample_path, "DROP TABLE meta")
    assert "no meta table" in refused(sample_path)


@pytest.mark.parametrize(("value", "shown"), [("8", "version 8"), ("abc", "version unreadable")])
def test_wrong_schema_version(sample_path: Path, value: str, shown: str) -> None:
    execute(sample_path, f"UPDATE meta SET value = '{value}' WHERE key = 'schema_version'")
    assert shown in refused(sample_path)


def test_missing_schema_version_key(sample_path: Path) -> None:
    execute(sample_path, "DELETE FROM meta")
    assert "has no schema_version" in refused(sample_path)


@pytest.mark.parametrize("value", ["9abc", " 9", "9.5", "09"])
def test_version_read_like_strtoul(sample_path: Path, value: str) -> None:
    execute(sample_path, f"UPDATE meta SET value = '{value}' WHERE key = 'schema_version'")
    Database(str(sample_path))  # the daemons accept these, so must we


def test_parse_version() -> None:
    assert [parse_version(v) for v in ("9", "9abc", "  12x", "", None, "x9", "٩")] == [
        9,
        9,
        12,
        None,
        None,
        None,
        None,  # strtoul knows only ASCII digits
    ]


def test_missing_v9_table(sample_path: Path) -> None:
    execute(sample_path, "DROP TABLE smtpd")
    assert "no smtpd table" in refused(sample_path)


def test_v8_layout(sample_path: Path) -> None:
    """A v8 `addresses` (no router columns) under a forged version 9 is still refused."""
    execute(
        sample_path,
        "DROP TABLE addresses",
        "CREATE TABLE addresses (address_expression TEXT, address_order INTEGER, address_user)",
    )
    assert "addresses lacks address_route, address_router" in refused(sample_path)


# --- read-only files ---------------------------------------------------------------------------


def test_read_only_reads_but_refuses_writes(
    sample_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may write anything, so the read-only decision is forced; SQLite then gets mode=ro.
    monkeypatch.setattr(dbmod, "is_writable", lambda path: False)
    before = sample_path.read_bytes()
    db = Database(str(sample_path))
    assert db.read_only
    with db.read():
        assert User.select().count() == 14
    with pytest.raises(ReadOnly, match="nothing was changed"), db.write():
        User.delete().execute()
    with pytest.raises(ReadOnly), db.read():  # mode=ro: even a stray write inside a read fails
        db.pw.execute_sql("DELETE FROM users")
    assert sample_path.read_bytes() == before


@pytest.mark.skipif(IS_ROOT, reason="root may write a file whatever its mode")
def test_read_only_file_and_directory(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "master.db3"
    shutil.copy(FIXTURES / "sample-master.db3", path)
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        before = path.read_bytes()
        db = Database(str(path))
        with db.read():
            assert User.select().count() == 14
        with pytest.raises(ReadOnly), db.write():
            User.delete().execute()
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


def test_is_writable_needs_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "x.db3"
    path.write_bytes(b"")
    assert dbmod.is_writable(str(path))
    assert not dbmod.is_writable(str(tmp_path / "missing" / "x.db3"))


# --- busy files and failed units ---------------------------------------------------------------


def test_busy_write_changes_nothing(sample_path: Path) -> None:
    db = Database(str(sample_path), timeout=0.2)
    holder = sqlite3.connect(str(sample_path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Busy, match="nothing was changed"), db.write():
            User.delete().execute()
        with db.read():  # reading still works while a daemon holds the write lock
            assert User.select().count() == 14
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with db.read():
        assert User.select().count() == 14


def test_failed_unit_rolls_back(sample_db: Database) -> None:
    with pytest.raises(RuntimeError), sample_db.write():
        User.delete().where(User.name == "foo").execute()
        raise RuntimeError("boom")
    with sample_db.read():
        assert User.select().where(User.name == "foo").exists()


def test_constraint_error_is_translated(sample_db: Database) -> None:
    with pytest.raises(Conflict, match="nothing was changed"), sample_db.write():
        User.insert(name="cbdev").execute()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("database is locked", Busy),
        ("attempt to write a readonly database", ReadOnly),
        ("database or disk is full", StorageError),
        ("disk I/O error", StorageError),
        ("file is not a database", SchemaError),
        ("no such table: users", SchemaError),
        ("unable to open database file", StorageError),
        ("something else", StorageError),
    ],
)
def test_translate(text: str, kind: type) -> None:
    error = translate(sqlite3.OperationalError(text))
    assert type(error) is kind and str(error).endswith(".")


def test_resolve_path_and_timeout() -> None:
    assert resolve_path("a.db3", {"CMAIL_MASTER_DB": "b.db3"}) == "a.db3"
    assert resolve_path(None, {"CMAIL_MASTER_DB": "b.db3"}) == "b.db3"
    assert resolve_path(None, {}) == "/etc/cmail/databases/master.db3"
    assert busy_timeout({}) == 5.0
    assert busy_timeout({"CMAIL_CONSOLE_BUSY_TIMEOUT": "0.5"}) == 0.5
    assert busy_timeout({"CMAIL_CONSOLE_BUSY_TIMEOUT": "-3"}) == 0.0
    assert busy_timeout({"CMAIL_CONSOLE_BUSY_TIMEOUT": "soon"}) == 5.0


def test_foreign_keys_are_on(sample_db: Database) -> None:
    with sample_db.read():
        assert sample_db.pw.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
