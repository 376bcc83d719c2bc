"""core.userdb: every reason a file cannot be a cmail user database, each on a real file, and
the databases cmail itself makes (core.db.create_userdb, the shared fixtures) accepted."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from core import userdb
from core.db import create_userdb
from core.services.lint.checks import userdb_findings

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
# cmail's own mailbox columns, with the defaults install_user.sql gives them.
COLUMNS = (
    "mail_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
    "mail_user TEXT NOT NULL",
    "mail_read BOOLEAN NOT NULL DEFAULT 0",
    "mail_ident TEXT",
    "mail_envelopeto TEXT NOT NULL",
    "mail_envelopefrom TEXT NOT NULL",
    "mail_submission TEXT NOT NULL DEFAULT (strftime('%s', 'now'))",
    "mail_submitter TEXT",
    "mail_proto TEXT NOT NULL DEFAULT 'smtp'",
    "mail_data BLOB",
)
FULL = ", ".join(COLUMNS)


def sqlite_file(path: Path, *statements: str) -> Path:
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()
    return path


def without(column: str) -> str:
    """cmail's mailbox columns without one of them."""
    return ", ".join(c for c in COLUMNS if not c.startswith(column + " "))


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["sample-userdb.db3", "empty-userdb-v9.db3"])
def test_cmails_own_user_databases_are_accepted(tmp_path: Path, fixture: str) -> None:
    copy = tmp_path / fixture
    shutil.copyfile(FIXTURES / fixture, copy)
    master = tmp_path / "master.db3"
    shutil.copyfile(FIXTURES / "sample-master.db3", master)
    assert userdb.problem(str(copy), str(master)) is None


def test_a_fresh_database_from_create_userdb_is_accepted(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db3"
    create_userdb(str(fresh))
    assert userdb.file_problem(str(fresh)) is None
    assert userdb.problem(str(fresh)) is None


def test_table_names_are_case_insensitive_as_in_smtpds_insert(tmp_path: Path) -> None:
    upper = sqlite_file(tmp_path / "upper.db3", f"CREATE TABLE MailBox ({FULL.upper()})")
    assert userdb.problem(str(upper)) is None


def test_a_relative_path_is_left_to_the_callers_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_userdb(str(tmp_path / "here.db3"))
    monkeypatch.chdir(tmp_path)
    assert userdb.problem("here.db3") is None


# --- the file ----------------------------------------------------------------------------------

Make = Callable[[Path], Path]


def _text(path: Path) -> Path:
    path.write_text("From: someone\r\n\r\nnot a database\r\n")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _short(path: Path) -> Path:
    path.write_bytes(b"SQLite")  # a prefix of the magic is not the magic
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _pipe(path: Path) -> Path:
    os.mkfifo(path)  # opening it to read its head would wait for a writer for ever
    return path


def _under_a_file(path: Path) -> Path:
    path.write_text("x")
    return path / "userdb.db3"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p, "does not exist"),
        (_under_a_file, "does not exist"),
        (_directory, "is a directory"),
        (_pipe, "is not a regular file"),
        (_empty, "is empty, so it has no mailbox table"),
        (_text, "is not an SQLite database"),
        (_short, "is not an SQLite database"),
    ],
)
def test_file_reasons_that_stop_smtpd(tmp_path: Path, make: Make, reason: str) -> None:
    path = str(make(tmp_path / "userdb.db3"))
    found = userdb.file_problem(path)
    assert found is not None and (found.reason, found.stops_smtpd) == (reason, True)
    assert str(userdb.problem(path)) == reason  # the full check stops at the file


def test_a_path_with_a_nul_byte_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    assert str(userdb.problem(f"{tmp_path}/user\0db.db3")) == "is not a valid file path"


@pytest.mark.parametrize("how", ["same path", "hard link", "symlink", "relative"])
def test_the_master_file_itself_is_refused_by_any_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    master = tmp_path / "master.db3"
    shutil.copyfile(FIXTURES / "sample-master.db3", master)
    other = tmp_path / "other.db3"
    if how == "hard link":
        os.link(master, other)
    elif how == "symlink":
        other.symlink_to(master)
    monkeypatch.chdir(tmp_path)
    path = {"same path": str(master), "relative": "master.db3"}.get(how, str(other))
    found = userdb.problem(path, str(master))
    assert found is not None and found.stops_smtpd is False
    assert found.reason.startswith("is the master database itself")
    assert userdb.problem(path) is None  # by its mailbox table alone, a master would pass


def test_a_vanished_master_is_not_this_file(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db3"
    create_userdb(str(fresh))
    assert userdb.problem(str(fresh), str(tmp_path / "gone.db3")) is None


def test_a_file_the_console_may_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tmp_path / "fresh.db3"
    create_userdb(str(fresh))

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    # As root (CI containers) chmod cannot take read rights away: refuse the open instead.
    monkeypatch.setattr(userdb, "open", denied, raising=False)
    found = userdb.problem(str(fresh))
    assert found is not None and found.reason == "cannot be read (permission denied)"
    assert found.stops_smtpd is False  # the daemons' user may well read it


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and enters everything")
def test_unreadable_file_and_unreachable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    inner = locked / "userdb.db3"
    create_userdb(str(inner))
    inner.chmod(0)
    try:
        assert str(userdb.problem(str(inner))) == "cannot be read (permission denied)"
        locked.chmod(0)
        assert str(userdb.problem(str(inner))).startswith("cannot be reached (permission denied")
    finally:
        locked.chmod(0o755)
        inner.chmod(0o644)


# --- the mailbox table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "reason", "stops"),
    [
        (["CREATE TABLE other (x)"], "has no mailbox table", True),
        (
            ["CREATE TABLE mail (x)", "CREATE VIEW mailbox AS SELECT x FROM mail"],
            "has a view named mailbox instead of a mailbox table",
            True,
        ),
        (
            ["CREATE TABLE mailbox (mail_id, mail_user)"],
            "has a mailbox table without mail_ident, mail_envelopeto, mail_envelopefrom, "
            "mail_submission, mail_submitter, mail_proto, mail_data, which cmail-smtpd and "
            "cmail-popd use",
            True,
        ),
        (
            [f"CREATE TABLE mailbox ({without('mail_submission')})"],
            "has a mailbox table without mail_submission, which cmail-popd reads (POP logins "
            "of its users fail)",
            False,
        ),
        (
            [f"CREATE TABLE mailbox ({FULL}, mail_flag TEXT NOT NULL)"],
            "has a mailbox table that requires mail_flag, which cmail-smtpd never fills (every "
            "delivery there fails and falls back to the master mailbox)",
            False,
        ),
        (
            # smtpd's INSERT leaves mail_submission to its default: without one it fails.
            [f"CREATE TABLE mailbox ({without('mail_submission')}, mail_submission NOT NULL)"],
            "has a mailbox table that requires mail_submission, which cmail-smtpd never fills "
            "(every delivery there fails and falls back to the master mailbox)",
            False,
        ),
        (
            # Only an INTEGER PRIMARY KEY is the rowid that SQLite fills by itself.
            [f"CREATE TABLE mailbox ({without('mail_id')}, mail_id TEXT PRIMARY KEY NOT NULL)"],
            "has a mailbox table that requires mail_id, which cmail-smtpd never fills (every "
            "delivery there fails and falls back to the master mailbox)",
            False,
        ),
    ],
)
def test_mailbox_table_reasons(
    tmp_path: Path, statements: list[str], reason: str, stops: bool
) -> None:
    path = str(sqlite_file(tmp_path / "userdb.db3", *statements))
    assert userdb.file_problem(path) is None  # a sound SQLite file: only its table is wrong
    found = userdb.problem(path)
    assert found is not None and (found.reason, found.stops_smtpd) == (reason, stops)


def test_damage_after_the_magic_is_sqlites_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db3"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    found = userdb.problem(str(broken))
    assert found is not None and found.reason.startswith("cannot be read by SQLite (")


def test_missing_mailbox_alone_ignores_the_columns(tmp_path: Path) -> None:
    """mailbox.py's policy: the table must be there; reading copes with odd columns."""
    narrow = sqlite_file(tmp_path / "narrow.db3", "CREATE TABLE mailbox (mail_id, mail_user)")
    connection = sqlite3.connect(narrow)
    try:
        assert userdb.missing_mailbox(connection.execute) is None
        assert userdb.mailbox_problem(connection.execute) is not None
    finally:
        connection.close()


# --- the lint's sentences ----------------------------------------------------------------------


def test_lint_says_smtpd_stops_only_when_it_does(tmp_path: Path) -> None:
    master = tmp_path / "master.db3"
    shutil.copyfile(FIXTURES / "sample-master.db3", master)
    (gone,) = userdb_findings(str(tmp_path / "gone.db3"), ["ann"], str(master))
    assert gone.severity == "error" and gone.message.endswith(
        "does not exist: cmail-smtpd will not start, and POP logins of its users leave stale locks."
    )
    (itself,) = userdb_findings(str(master), ["ann", "bob"], str(master))
    assert itself.kind == "userdb-invalid" and itself.severity == "error"
    assert itself.message == (
        f"The user database {str(master)!r} of ann, bob is the master database itself "
        "(a user database must be a separate file)."
    )
