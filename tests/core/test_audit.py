"""The audit trail records every change and refused attempt; a trail that cannot be written
stops the change; failed logins lock a name out, across restarts."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.access import Session
from core.db import Database
from core.errors import Busy, Denied, StorageError
from core.services import popd, users
from core.session import WRONG_CREDENTIALS, login


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_change_is_recorded_with_actor_and_action(sample_db: Database) -> None:
    users.add_user(sample_db, Session.system(), "zoe", "pw")
    session = login(sample_db, "cbdev", "cbdev")
    popd.unlock(sample_db, session, "kitinfo")
    entries = sample_db.audit.entries().rows
    unlock, log_in, add = entries[0], entries[1], entries[2]
    assert (add.action, add.login, add.role, add.result) == ("users.add_user", None, "admin", "ok")
    assert (log_in.action, log_in.login, log_in.result) == ("session.login", "cbdev", "ok")
    assert (unlock.action, unlock.login, unlock.role) == ("popd.unlock", "cbdev", "admin")


def test_a_refused_attempt_is_recorded_and_changes_nothing(sample_db: Database) -> None:
    session = login(sample_db, "a1", "a1")  # a plain user
    with pytest.raises(Denied):
        popd.unlock(sample_db, session, "cbdev")
    entry = sample_db.audit.entries().rows[0]
    assert (entry.action, entry.login, entry.role, entry.result) == (
        "popd.unlock",
        "a1",
        "user",
        "refused",
    )
    assert "may not unlock" in entry.message


def test_an_unwritable_trail_aborts_the_change(sample_path: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "no-such-dir" / "audit.db3"
    db = Database(str(sample_path), audit_path=str(blocked))
    with pytest.raises(StorageError, match="audit trail"):
        users.add_user(db, Session.system(), "zoe", "pw")
    with sqlite3.connect(sample_path) as raw:
        assert raw.execute("SELECT count(*) FROM users WHERE user_name = 'zoe'").fetchone() == (0,)


def test_a_commit_that_fails_after_its_entry_voids_the_entry(sample_path: Path) -> None:
    """In cmail's rollback-journal mode a reader (a daemon) can hold the commit off past the
    busy timeout after the "ok" entry is written: the trail must not claim the change."""
    db = Database(str(sample_path), timeout=0.2)
    reader = sqlite3.connect(sample_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM users").fetchone()  # a shared lock, held
        with pytest.raises(Busy):
            users.set_password(db, Session.system(), "cbdev", "Another-pass-1")
    finally:
        reader.close()
    failed, claimed = db.audit.entries(limit=2).rows
    assert (claimed.result, failed.result) == ("ok", "failed")
    assert failed.message.startswith("Not committed after all (the ok entry just before is void)")
    assert login(db, "cbdev", "cbdev").user == "cbdev"  # the old password still holds


def test_the_trail_is_append_only(sample_db: Database) -> None:
    users.add_user(sample_db, Session.system(), "zoe", "pw")
    with sqlite3.connect(sample_db.audit.path) as raw, pytest.raises(sqlite3.DatabaseError):
        raw.execute("DELETE FROM audit")
    with sqlite3.connect(sample_db.audit.path) as raw, pytest.raises(sqlite3.DatabaseError):
        raw.execute("UPDATE audit SET result = 'ok'")


def test_lockout_after_five_failures_survives_a_restart(sample_path: Path) -> None:
    clock = FakeClock()
    db = Database(str(sample_path), clock=clock)
    for _ in range(5):
        with pytest.raises(Denied, match=WRONG_CREDENTIALS):
            login(db, "cbdev", "wrong")
    restarted = Database(str(sample_path), clock=clock)
    with pytest.raises(Denied, match="Too many failed logins; try again in 30 seconds"):
        login(restarted, "cbdev", "cbdev")  # even the right password waits
    clock.now += timedelta(seconds=31)
    assert login(restarted, "cbdev", "cbdev").user == "cbdev"
    assert restarted.audit.failures("cbdev")[0] == 0


def test_a_copy_beside_the_master_keeps_a_trail_of_its_own(sample_path: Path) -> None:
    """A backup or test copy opened in the master's directory must not write into the live
    trail, nor lock the live master's logins out."""
    copy = sample_path.with_name("master-copy.db3")
    shutil.copyfile(sample_path, copy)
    clock = FakeClock()
    for _ in range(5):
        with pytest.raises(Denied, match=WRONG_CREDENTIALS):
            login(Database(str(copy), clock=clock), "cbdev", "wrong")
    live = Database(str(sample_path), clock=clock)
    assert login(live, "cbdev", "cbdev").user == "cbdev"
    assert [e.result for e in live.audit.entries().rows] == ["ok"]
    assert Path(str(copy) + ".console-audit").exists()


def test_lockout_does_not_tell_whether_a_user_exists(sample_path: Path) -> None:
    clock = FakeClock()
    db = Database(str(sample_path), clock=clock)
    messages = set()
    for name in ("cbdev", "nobody-at-all"):
        for _ in range(6):
            with pytest.raises(Denied) as error:
                login(db, name, "wrong")
        messages.add(str(error.value))
    assert messages == {"Too many failed logins; try again in 30 seconds."}


def test_the_delay_grows_with_each_further_failure(sample_path: Path) -> None:
    clock = FakeClock()
    db = Database(str(sample_path), clock=clock)
    for _ in range(5):
        with pytest.raises(Denied):
            login(db, "cbdev", "wrong")
    clock.now += timedelta(seconds=31)
    with pytest.raises(Denied, match=WRONG_CREDENTIALS):
        login(db, "cbdev", "wrong")  # the sixth failure: now 60 seconds
    with pytest.raises(Denied, match="try again in 60 seconds"):
        login(db, "cbdev", "cbdev")
