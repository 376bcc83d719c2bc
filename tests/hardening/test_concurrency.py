"""Console writes next to cmail's daemons: another process holding the write lock, a POP daemon
toggling maildrop locks, a second console — and the TUI while it waits.

Every other party is a real process (tests/hardening/helpers.py), so these are SQLite's file
locks at work, not threads sharing one connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from core.access import Session
from core.db import TIMEOUT_ENV, Database
from core.errors import Busy, CmailError
from core.records import Change
from core.services import addresses, popd
from core.session import login
from tests.hardening.helpers import (
    LockHolder,
    child_env,
    copy_sample,
    execute,
    health,
    query,
    report,
    run_console,
    start_rule_adder,
    start_toggler,
)
from tui.app import make_app
from tui.screens.pop_locks import PopLocksScreen
from tui.widgets.confirm import ConfirmModal
from tui.widgets.status_bar import LOCK_WAIT_TEXT

SYSTEM = Session.system()
BUSY_SENTENCE = "The database is busy (a cmail daemon holds its lock); nothing was changed."


@pytest.fixture
def master(tmp_path: Path) -> Path:
    path = copy_sample(tmp_path)
    execute(path, "UPDATE popd SET pop_lock = 1 WHERE pop_user = 'user'")
    return path


def pop_lock(path: Path, user: str) -> int | None:
    rows = query(path, "SELECT pop_lock FROM popd WHERE pop_user = ?", user)
    return rows[0][0] if rows else None


def audit_rows(path: Path, result: str) -> list[tuple[str, str | None]]:
    return query(
        path.with_name(path.name + ".console-audit"),
        "SELECT action, message FROM audit WHERE result = ? ORDER BY id",
        result,
    )


# --- 1. another process holds the write lock ---------------------------------------------------


@pytest.mark.parametrize("source", ["argument", "environment"])
def test_write_under_a_held_lock_fails_busy_and_changes_nothing(
    tmp_path: Path, master: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    if source == "environment":
        monkeypatch.setenv(TIMEOUT_ENV, "0.3")
        db = Database(str(master))
    else:
        db = Database(str(master), timeout=0.3)
    before = master.read_bytes()
    with LockHolder(tmp_path, master) as holder:
        start = time.monotonic()
        with pytest.raises(Busy) as caught:
            popd.unlock(db, SYSTEM, "user")
        waited = time.monotonic() - start
        # Reading goes on while a daemon holds the write lock.
        assert popd.get(db, SYSTEM, "user").locked
        holder.release()
    assert str(caught.value) == BUSY_SENTENCE
    assert 0.25 <= waited < 3  # it waited for the timeout (not the 5 s default), then gave up
    assert master.read_bytes() == before
    assert audit_rows(master, "failed") == [("popd.unlock", BUSY_SENTENCE)]


def test_write_waits_for_a_lock_released_within_the_timeout(tmp_path: Path, master: Path) -> None:
    db = Database(str(master), timeout=5)
    with LockHolder(tmp_path, master, hold=0.6) as holder:  # lets go by itself after 0.6 s
        start = time.monotonic()
        change = popd.unlock(db, SYSTEM, "user")
        waited = time.monotonic() - start
        holder.wait_released()
    assert change.message == "The maildrop of user is unlocked."
    assert waited >= 0.4  # it did wait for the daemon instead of failing at once
    assert pop_lock(master, "user") == 0


def test_cli_under_a_held_lock_exits_6_with_one_line(tmp_path: Path, master: Path) -> None:
    before = master.read_bytes()
    with LockHolder(tmp_path, master) as holder:
        result = run_console(
            "-d",
            str(master),
            "popd",
            "unlock",
            "user",
            env=child_env(CMAIL_CONSOLE_BUSY_TIMEOUT="0.3"),
        )
        holder.release()
    assert result.returncode == 6
    assert result.stdout == ""
    assert result.stderr == f"cmail-console: {BUSY_SENTENCE}\n"
    assert master.read_bytes() == before


# --- 2. a POP daemon toggling locks while the console reads, modifies and writes ---------------

TOGGLED = ["t0", "t1", "t2"]  # maildrops the "daemon" keeps locking and unlocking
LOCKED_OWNED = ["c0", "c1", "c2"]  # the console unlocks, disables and re-enables these
FREE_OWNED = ["c3", "c4", "c5"]  # the console enables, unlocks and disables these
ROUNDS = 3
RULES = 16  # rules each console process adds with an automatic order


class Log:
    """Outcomes of the console's calls, from several threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.errors: list[tuple[str, CmailError | Exception]] = []

    def call(self, label: str, fn: Callable[[], Change]) -> Change | None:
        try:
            change = fn()
        except Exception as error:  # collected, then asserted on: none may happen
            with self.lock:
                self.errors.append((label, error))
            return None
        with self.lock:
            self.ok += 1
        return change


def pop_worker(db: Database, log: Log) -> None:
    for _ in range(ROUNDS):
        for user in LOCKED_OWNED:
            log.call(f"unlock {user}", lambda u=user: popd.unlock(db, SYSTEM, u))
            log.call(f"disable {user}", lambda u=user: popd.disable(db, SYSTEM, u))
            log.call(f"enable {user}", lambda u=user: popd.enable(db, SYSTEM, u))
        for user in FREE_OWNED:
            log.call(f"enable {user}", lambda u=user: popd.enable(db, SYSTEM, u))
            log.call(f"unlock {user}", lambda u=user: popd.unlock(db, SYSTEM, u))
            log.call(f"disable {user}", lambda u=user: popd.disable(db, SYSTEM, u))


def rule_worker(db: Database, log: Log, orders: list[int]) -> None:
    """Add rules (automatic order: read the sequence, then insert), park each on a private
    order (check it is free, then move), and swap them pairwise: all read-modify-write."""
    for index in range(RULES):
        change = log.call(
            "add", lambda i=index: addresses.add_rule(db, SYSTEM, f"th{i}@load.example", "drop")
        )
        if change is not None:
            order = change.data["rule"]["order"]
            parked = 500_000 - index  # below every automatic order to come
            if log.call("move", lambda o=order, p=parked: addresses.move_rule(db, SYSTEM, o, p)):
                orders.append(parked)
    for first, second in zip(orders[::2], orders[1::2], strict=False):
        log.call("swap", lambda a=first, b=second: addresses.swap_rules(db, SYSTEM, a, b))


def test_no_lost_update_while_a_daemon_toggles_pop_locks(tmp_path: Path) -> None:
    master = copy_sample(tmp_path)
    people = TOGGLED + LOCKED_OWNED + FREE_OWNED
    execute(master, "INSERT INTO users (user_name) VALUES (?)", [(n,) for n in people])
    execute(master, "INSERT INTO popd (pop_user, pop_lock) VALUES (?, 0)", [(n,) for n in TOGGLED])
    execute(
        master, "INSERT INTO popd (pop_user, pop_lock) VALUES (?, 1)", [(n,) for n in LOCKED_OWNED]
    )
    rules_before = query(master, "SELECT count(*) FROM addresses")[0][0]
    # Generous timeout: every write must wait its turn and succeed, none may fail busy.
    db = Database(str(master), timeout=10)
    log = Log()
    parked: list[int] = []
    with (
        start_toggler(tmp_path, master, TOGGLED) as toggler,
        start_rule_adder(tmp_path, master, "px", RULES) as adder,
    ):
        threads = [
            threading.Thread(target=pop_worker, args=(db, log)),
            threading.Thread(target=rule_worker, args=(db, log, parked)),
        ]
        adder.tell("go")
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        adder_outcomes = report(adder.finish())
        toggled = report(toggler.finish())

    # No error at all: not even Busy, since every write waited for the lock instead.
    assert log.errors == []
    assert [o[0] for o in adder_outcomes] == ["ok"] * RULES
    # The daemon's updates were not lost: each row is locked iff it was toggled an odd number
    # of times, although the console rewrote the popd table around it all along.
    counts = toggled["counts"]
    assert all(counts[user] > 1 for user in TOGGLED)  # it kept toggling during the run
    assert {u: pop_lock(master, u) for u in TOGGLED} == {u: counts[u] % 2 for u in TOGGLED}
    assert {u: pop_lock(master, u) for u in LOCKED_OWNED} == dict.fromkeys(LOCKED_OWNED, 0)
    assert {u: pop_lock(master, u) for u in FREE_OWNED} == dict.fromkeys(FREE_OWNED, None)
    # Both processes took automatic orders by read-modify-write: none collided or went missing.
    loaded = query(master, "SELECT address_expression, address_order FROM addresses")
    px = sorted(order for expression, order in loaded if expression.startswith("px"))
    assert sorted(order for _, order in adder_outcomes) == px and len(set(px)) == RULES
    th = {expression: order for expression, order in loaded if expression.startswith("th")}
    assert sorted(th.values()) == sorted(parked) and len(parked) == RULES
    swapped = dict(zip(parked[::2], parked[1::2], strict=True))
    for index in range(RULES):
        order = 500_000 - index
        partner = swapped.get(order) or next(a for a, b in swapped.items() if b == order)
        assert th[f"th{index}@load.example"] == partner
    assert len(loaded) == rules_before + 2 * RULES
    assert health(master) == ("ok", [])
    # Every change of both consoles is in the audit trail, once.
    assert len(audit_rows(master, "ok")) == log.ok + RULES
    ops = ROUNDS * 3 * (len(LOCKED_OWNED) + len(FREE_OWNED)) + RULES * 2 + RULES // 2
    assert log.ok == ops


# --- 5. the TUI while a daemon holds the lock ---------------------------------------------------


async def settle(pilot: Pilot) -> None:
    app = pilot.app
    for _ in range(20):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            return


def waiting_badge_shown(screen: PopLocksScreen) -> bool:
    return bool(screen.query_one("#lock-wait").display)


async def test_tui_stays_responsive_shows_the_wait_then_one_busy_message(
    tmp_path: Path, master: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "3")
    session = login(Database(str(master)), "cbdev", "cbdev")
    app = make_app(str(master), session=session, theme="textual-dark", cursor_blink=False)
    before = master.read_bytes()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PopLocksScreen)
        table = screen.table.table
        table.move_cursor(row=table.get_row_index("user"))
        await pilot.pause()
        assert not waiting_badge_shown(screen)
        with LockHolder(tmp_path, master) as holder:
            await pilot.press("u")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")
            await pilot.pause(0.6)
            writes = [w for w in app.workers if w.group == "pop-write"]
            assert [w.is_running for w in writes] == [True]  # still waiting for the lock
            assert waiting_badge_shown(screen)
            assert str(screen.query_one("#lock-wait").content) == LOCK_WAIT_TEXT
            # The UI answers keys meanwhile: the cursor moves, help opens and closes.
            row = table.cursor_row
            await pilot.press("up")
            await pilot.pause()
            assert table.cursor_row == row - 1
            assert writes[0].is_running  # …while the write still waits
            await pilot.press("f1")
            await pilot.pause()
            assert app.screen is not screen
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen
            await settle(pilot)  # the busy timeout runs out
            holder.release()
        await pilot.pause(0.3)
        assert not waiting_badge_shown(screen)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors == [BUSY_SENTENCE]
    assert master.read_bytes() == before
