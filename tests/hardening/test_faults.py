"""Faults: a console killed mid-change, and files that go missing, cannot be read or written,
are not a cmail v9 database, vanish or are replaced while open, or run out of space.

Each fault gives one CmailError sentence (one stderr line from the CLI, no traceback) and never
a partial write; the console keeps working once the file is back.

Root may read and write any file whatever its mode. Run as root (as on the development machine),
the permission cases are simulated — in-process with monkeypatch, for the CLI with the
"read-only" fault of tests/hardening/helpers.py — and the real chmod cases are skipped; as any
other user (CI) the real chmod cases run.
"""

from __future__ import annotations

import builtins
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import audit, dbfile
from core import db as dbmod
from core.access import Session
from core.db import Database, create_master
from core.errors import CmailError, ReadOnly, SchemaError, StorageError
from core.services import popd, users
from core.session import login
from tests.hardening.helpers import (
    IS_ROOT,
    child_env,
    copy_sample,
    execute,
    fault_env,
    health,
    query,
    run_and_kill,
    run_console,
)
from tui.app import make_app

SYSTEM = Session.system()
DISK_FULL = "The disk holding the database is full; nothing was changed."
real_permissions = pytest.mark.skipif(IS_ROOT, reason="root reads and writes any file")


def one_line_failure(result: Any, code: int) -> str:
    """The CLI failed with `code`, one stderr line and nothing on stdout; that line's text."""
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cmail-console: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0].removeprefix("cmail-console: ")


@pytest.fixture
def master(tmp_path: Path) -> Path:
    path = copy_sample(tmp_path)
    execute(path, "UPDATE popd SET pop_lock = 1 WHERE pop_user = 'user'")
    return path


# --- 3. SIGKILL in the middle of a multi-row change --------------------------------------------

BIG = 5000  # store routes and mails of the user renamed or deleted: a change of 10,000+ rows
RUNS = {"rename": 8, "delete": 6, "swap": 6}  # killed runs per change (20 in all)


def signature(path: Path, name: str) -> dict[str, int]:
    """Everything that hangs off user `name`, counted."""
    counts = {}
    for label, sql in {
        "user": "SELECT count(*) FROM users WHERE user_name = ?",
        "routes": "SELECT count(*) FROM addresses WHERE address_router = 'store' "
        "AND address_route = ?",
        "mails": "SELECT count(*) FROM mailbox WHERE mail_user = ?",
        "pop": "SELECT count(*) FROM popd WHERE pop_user = ?",
        "smtpd": "SELECT count(*) FROM smtpd WHERE smtpd_user = ?",
        "rights": "SELECT count(*) FROM api_access WHERE api_user = ?",
        "managed": "SELECT count(*) FROM api_user_delegates WHERE api_delegate = ?",
        "expressions": "SELECT count(*) FROM api_address_delegates WHERE api_user = ?",
        "aliased_by": "SELECT count(*) FROM users WHERE user_alias = ?",
    }.items():
        counts[label] = query(path, sql, name)[0][0]
    return counts


@pytest.fixture(scope="module")
def big_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plus user `big`: BIG store routes, BIG mails, POP, smtpd, a right, a
    delegation, a delegated pattern and an alias pointing at it."""
    path = copy_sample(tmp_path_factory.mktemp("big"), "template.db3")
    execute(path, "INSERT INTO users (user_name) VALUES ('big')")
    execute(path, "INSERT INTO popd VALUES ('big', 1)")
    execute(path, "INSERT INTO smtpd VALUES ('big', 'drop', NULL)")
    execute(path, "INSERT INTO api_access VALUES ('big', 'delegate')")
    execute(path, "INSERT INTO api_user_delegates VALUES ('cbdev', 'big')")
    execute(path, "INSERT INTO api_address_delegates VALUES ('big', '%@big.example')")
    execute(path, "UPDATE users SET user_alias = 'big' WHERE user_name = 'foo'")
    execute(
        path,
        "INSERT INTO addresses (address_expression, address_router, address_route) "
        "VALUES (?, 'store', 'big')",
        [(f"a{i}@big.example",) for i in range(BIG)],
    )
    execute(
        path,
        "INSERT INTO mailbox (mail_user, mail_envelopeto, mail_envelopefrom, mail_data) "
        "VALUES ('big', 'big@big.example', 'x@example.org', ?)",
        [(b"Subject: hi\r\n\r\nhello\r\n",) for _ in range(BIG)],
    )
    return path


def rules(path: Path) -> dict[int, str]:
    return dict(query(path, "SELECT address_order, address_expression FROM addresses"))


def outcome(change: str, path: Path, before: dict[str, Any]) -> str:
    """Whether the change is "whole" or "absent"; anything in between fails the test."""
    if change == "swap":
        now = rules(path)
        if now == before["rules"]:
            return "absent"
        swapped = dict(before["rules"])
        swapped[200], swapped[201] = before["rules"][201], before["rules"][200]
        assert now == swapped, "a swap left half done"
        return "whole"
    old, new = signature(path, "big"), signature(path, "huge")
    if old == before["big"] and new == before["huge"]:
        return "absent"
    if change == "rename":
        assert old == dict.fromkeys(old, 0) and new == before["big"], "a rename left half done"
    else:
        gone = dict.fromkeys(old, 0) | {"routes": BIG}  # store routes are reported, not deleted
        assert old == gone and new == before["huge"], "a delete left half done"
    return "whole"


# Each change is slowed down once its journal exists (SQLite's progress handler sleeps every N
# virtual-machine steps), so that most of the time between the journal's appearance and the
# process's exit is spent inside the transaction and random kills land there on any machine.
CHANGES: dict[str, tuple[list[str], str]] = {
    "rename": (["user", "rename", "big", "huge"], "slow:2000:0.001:{journal}"),
    "delete": (["user", "delete", "big"], "slow:1000:0.001:{journal}"),
    # Three tiny UPDATEs through a temporary order: kills land between them.
    "swap": (["address", "swap", "200", "201"], "slow:10:0.01:{journal}"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_sigkill_mid_change_leaves_it_whole_or_absent(
    tmp_path: Path, big_template: Path, change: str
) -> None:
    argv, fault = CHANGES[change]
    path = tmp_path / "master.db3"
    env = fault_env(tmp_path, fault.format(journal=f"{path}-journal"))
    shutil.copy(big_template, path)
    before = {"big": signature(path, "big"), "huge": signature(path, "huge"), "rules": rules(path)}
    # One run to the end: how long the change keeps its journal on this machine.
    killed, window = run_and_kill(tmp_path, path, argv, env, None)
    assert not killed and outcome(change, path, before) == "whole"
    chance = random.Random(f"cmail-{change}")  # reproducible delays
    tally = {"whole": 0, "absent": 0}
    for _ in range(RUNS[change]):
        # A kill before the journal's header was written leaves a journal that is not hot
        # (SQLite ignores it); remove it so that every run starts from the same two files.
        Path(f"{path}-journal").unlink(missing_ok=True)
        shutil.copy(big_template, path)
        killed, _ = run_and_kill(tmp_path, path, argv, env, chance.uniform(0, window * 1.1))
        # The next opener (daemon or console) rolls back the journal the killed process left.
        assert health(path) == ("ok", [])
        tally[outcome(change, path, before)] += 1
        Database(str(path))  # and the console opens the file again
    print(f"\nSIGKILL {change}: {tally} (journal to exit: {window:.3f} s)")
    assert sum(tally.values()) == RUNS[change]
    assert tally["absent"] >= 1, "no kill landed inside the change"


# --- 4. files that are not there, not readable, not writable, not a cmail v9 database ----------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.db3"
    sentence = one_line_failure(run_console("-d", str(path), "user", "list"), 11)
    assert sentence.startswith(f"No database at {path}: the file does not exist")
    assert not path.exists()  # opening never creates it


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db3"
    path.write_text("These are my notes, not a database.\n")
    before = path.read_bytes()
    sentence = one_line_failure(run_console("-d", str(path), "popd", "unlock", "user"), 11)
    assert sentence == f"{path} is not an SQLite database."
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE meta SET value = '8' WHERE key = 'schema_version'", "schema version 8"),
        ("DROP TABLE meta", "it has no meta table"),
    ],
)
def test_wrong_schema(master: Path, statement: str, reason: str) -> None:
    execute(master, statement)
    before = master.read_bytes()
    sentence = one_line_failure(run_console("-d", str(master), "popd", "unlock", "user"), 11)
    assert reason in sentence
    assert master.read_bytes() == before


@real_permissions
def test_unreadable_file_and_directory(tmp_path: Path, master: Path) -> None:
    master.chmod(0)
    try:
        sentence = one_line_failure(run_console("-d", str(master), "user", "list"), 11)
        assert sentence == f"{master} cannot be read: permission denied."
    finally:
        master.chmod(0o644)
    tmp_path.chmod(0)
    try:
        sentence = one_line_failure(run_console("-d", str(master), "user", "list"), 11)
    finally:
        tmp_path.chmod(0o755)
    assert sentence == f"{master} cannot be read: permission denied on a directory above it."


def test_unreadable_simulated(master: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the chmod 000 cases give, for root too: open() and stat() refused."""
    real_open, real_stat = builtins.open, os.stat

    def refuse(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(target: Any, *args: Any, **kwargs: Any) -> Any:
            if os.fspath(target) == str(master):
                raise PermissionError(13, "Permission denied", str(target))
            return real(target, *args, **kwargs)

        return call

    monkeypatch.setattr(dbfile, "open", refuse(real_open), raising=False)
    with pytest.raises(SchemaError, match=r"cannot be read: permission denied\.$"):
        Database(str(master))
    monkeypatch.setattr(dbfile.os, "stat", refuse(real_stat))
    with pytest.raises(SchemaError, match="permission denied on a directory above it"):
        Database(str(master))


@pytest.mark.parametrize("where", ["file", "directory"])
def test_read_only_reads_work_writes_refused(tmp_path: Path, master: Path, where: str) -> None:
    env = child_env()
    if IS_ROOT:
        env = fault_env(tmp_path, "read-only")
    elif where == "file":
        master.chmod(0o444)
    else:
        tmp_path.chmod(0o555)
    before = master.read_bytes()
    try:
        listed = run_console("-d", str(master), "popd", "list", env=env)
        refused = run_console("-d", str(master), "popd", "unlock", "user", env=env)
    finally:
        tmp_path.chmod(0o755)
        master.chmod(0o644)
    assert listed.returncode == 0 and "user" in listed.stdout and listed.stderr == ""
    assert one_line_failure(refused, 7) == f"{master} is read-only for you; nothing was changed."
    assert master.read_bytes() == before


# --- the file deleted or replaced while the console has it open --------------------------------


def test_deleted_while_open(tmp_path: Path, master: Path) -> None:
    db = Database(str(master))
    kept = tmp_path / "kept.db3"
    master.rename(kept)  # as `rm` does for the console: the path is gone
    gone = f"{master} no longer exists: it was deleted or moved away while the console had it open"
    for call in (
        lambda: popd.list_entries(db, SYSTEM),
        lambda: popd.unlock(db, SYSTEM, "user"),
    ):
        with pytest.raises(StorageError) as caught:
            call()
        assert str(caught.value) == gone + "; nothing was changed."
        assert not master.exists()  # mode=rw: SQLite never creates an empty file in its place
    trail = master.name + audit.SUFFIX  # written for the refusal: it is not the master
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith("master") and p.name != trail]
    assert left == []
    kept.rename(master)  # put back: the same console carries on
    assert popd.unlock(db, SYSTEM, "user").message == "The maildrop of user is unlocked."


def other_sqlite(path: Path) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE users (user_name TEXT, user_authdata TEXT)")
        connection.execute("INSERT INTO users VALUES ('someone', NULL)")
    connection.close()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (other_sqlite, "is not a cmail master database (it has no meta table)."),
        (lambda p: p.write_text("not a database at all\n"), "file is not a database"),
        (
            lambda p: (
                copy_sample(p.parent, p.name),
                execute(p, "UPDATE meta SET value = '8' WHERE key = 'schema_version'"),
            ),
            "is at cmail schema version 8; this console needs version 9.",
        ),
    ],
    ids=["other-sqlite", "not-sqlite", "version-8"],
)
def test_replaced_by_something_else_while_open(
    tmp_path: Path, master: Path, make: Callable[[Path], object], expected: str
) -> None:
    db = Database(str(master))
    original = tmp_path / "original.db3"
    shutil.copy(master, original)
    replacement = tmp_path / "replacement.db3"
    make(replacement)
    os.replace(replacement, master)  # `mv other.db3 master.db3` while the console runs
    before = master.read_bytes()
    for call in (
        lambda: users.list_users(db, SYSTEM),
        lambda: popd.unlock(db, SYSTEM, "user"),
        lambda: users.rename_user(db, SYSTEM, "someone", "else"),
    ):
        with pytest.raises(CmailError) as caught:
            call()
        assert type(caught.value) is SchemaError and expected in str(caught.value)
    assert master.read_bytes() == before  # nothing was written into the stranger's file
    os.replace(original, master)  # the right file is back: the console carries on
    assert popd.unlock(db, SYSTEM, "user").message == "The maildrop of user is unlocked."


def test_replaced_by_another_cmail_database_is_used(tmp_path: Path, master: Path) -> None:
    db = Database(str(master))
    assert users.list_users(db, SYSTEM).rows
    fresh = tmp_path / "fresh.db3"
    create_master(str(fresh))
    os.replace(fresh, master)
    assert users.list_users(db, SYSTEM).rows == []  # the next unit reads the new file
    users.add_user(db, SYSTEM, "newcomer")
    assert query(master, "SELECT user_name FROM users") == [("newcomer",)]


async def test_tui_keeps_running_when_the_file_vanishes(tmp_path: Path, master: Path) -> None:
    session = login(Database(str(master)), "cbdev", "cbdev")
    app = make_app(str(master), session=session, theme="textual-dark", cursor_blink=False)
    async with app.run_test() as pilot:
        await pilot.press("5")  # POP locks
        await app.workers.wait_for_complete()
        await pilot.pause()
        master.rename(tmp_path / "away.db3")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        # The list and the rights check both fail, with the same sentence (one per worker).
        errors = {n.message for n in app._notifications if n.severity == "error"}
        assert len(errors) == 1 and "no longer exists" in next(iter(errors))
        assert app.is_running
        (tmp_path / "away.db3").rename(master)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.table.table.row_count == 3  # type: ignore[attr-defined]
        assert {n.message for n in app._notifications if n.severity == "error"} == errors


# --- disk full -------------------------------------------------------------------------------


def vacuumed(path: Path) -> None:
    """No free pages left inside the file: the next growth needs a new page."""
    connection = sqlite3.connect(path)
    connection.execute("VACUUM")
    connection.close()


def fill(path: Path) -> int:
    """Add users until a file that may not grow is full; how many went in."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA max_page_count = 1")  # never below the current size
    added = 0
    try:
        for index in range(100_000):
            connection.execute("INSERT INTO users (user_name) VALUES (?)", (f"fill{index:06d}",))
            added += 1
    except sqlite3.OperationalError as error:
        assert "full" in str(error)
    finally:
        connection.close()
    return added


@pytest.fixture
def limited(master: Path) -> Iterator[Database]:
    """The console's connections may not grow the file (as on a full disk)."""
    vacuumed(master)
    db = Database(str(master))
    with db.read():
        db.pw.pragma("max_page_count", 1, permanent=True)  # for every later connection
    yield db


def test_disk_full_changes_nothing_and_the_console_goes_on(master: Path, limited: Database) -> None:
    db = limited
    for index in range(2000):
        before = master.read_bytes()
        try:
            users.add_user(db, SYSTEM, f"newcomer{index:04d}-with-a-longer-name", "a-password-1")
        except StorageError as error:
            assert str(error) == DISK_FULL
            break
    else:
        pytest.fail("the file never filled up")
    assert master.read_bytes() == before
    assert health(master) == ("ok", [])
    assert not query(master, "SELECT 1 FROM users WHERE user_name LIKE ?", f"newcomer{index:04d}%")
    # The console goes on: reads, and writes that need no new page.
    assert popd.get(db, SYSTEM, "user").locked
    assert popd.unlock(db, SYSTEM, "user").message == "The maildrop of user is unlocked."


def test_cli_disk_full_exits_8_with_one_line(tmp_path: Path, master: Path) -> None:
    vacuumed(master)
    assert fill(master) > 0
    before = master.read_bytes()
    result = run_console(
        "-d", str(master), "user", "add", "zz-newcomer", "", env=fault_env(tmp_path, "disk-full")
    )
    assert one_line_failure(result, 8) == DISK_FULL
    assert master.read_bytes() == before


def test_read_only_simulated_in_process(master: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same decision the CLI "read-only" fault forces, through the service layer."""
    monkeypatch.setattr(dbmod, "is_writable", lambda path: False)
    db = Database(str(master))
    before = master.read_bytes()
    assert popd.get(db, SYSTEM, "user").locked
    with pytest.raises(ReadOnly, match="nothing was changed"):
        popd.unlock(db, SYSTEM, "user")
    assert master.read_bytes() == before
