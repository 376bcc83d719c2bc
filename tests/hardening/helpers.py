"""Other processes for the hardening tests: a daemon holding the write lock, a POP-lock toggler,
a second console, and fault injection into a real `cmail-console` process.

Everything runs as subprocesses on this machine, bounded in time: a child that outlives its test
is killed by the context manager that started it. The child scripts are written to the test's
tmp_path, so nothing here depends on a daemon or a tool that CI lacks.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CONSOLE = Path(sys.executable).parent / "cmail-console"
ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0
# How long any child may live; every wait below is bounded by it.
CHILD_LIMIT = 30.0


def copy_sample(folder: Path, name: str = "master.db3") -> Path:
    """A private, writable copy of cmail's sample master database (the fixture is 0444)."""
    target = folder / name
    shutil.copy(FIXTURES / "sample-master.db3", target)
    target.chmod(0o644)
    return target


def query(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path, timeout=10)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def execute(path: Path, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    connection = sqlite3.connect(path, timeout=10)
    try:
        with connection:
            if rows is None:
                connection.execute(sql)
            else:
                connection.executemany(sql, rows)
    finally:
        connection.close()


def health(path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    """(PRAGMA integrity_check, PRAGMA foreign_key_check) — opening also rolls back a hot
    journal left by a killed writer, as the next daemon or console would."""
    connection = sqlite3.connect(path, timeout=10)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        connection.close()
    return integrity, foreign


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child: the developer's cmail settings removed, `extra` added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def run_console(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed `cmail-console` script, as a user or a cron job runs it."""
    return subprocess.run(
        [str(CONSOLE), *argv],
        stdin=subprocess.DEVNULL,  # a verb that would prompt reads end-of-file, never waits
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        timeout=timeout,
        cwd=ROOT,
    )


def _read_line(process: subprocess.Popen[str], deadline: float) -> str:
    """One line from a child's stdout, or AssertionError when it does not come in time."""
    assert process.stdout is not None
    remaining = deadline - time.monotonic()
    ready, _, _ = select.select([process.stdout], [], [], max(0.0, remaining))
    if not ready:
        raise AssertionError("the child process did not answer in time")
    line = process.stdout.readline()
    if not line:
        error = process.stderr.read() if process.stderr else ""
        raise AssertionError(f"the child process ended early: {error}")
    return line.strip()


class Child:
    """A python child running `script` (written to `folder`); `with` kills it if still alive."""

    def __init__(self, folder: Path, name: str, script: str, *args: str) -> None:
        path = folder / f"{name}.py"
        path.write_text(script)
        self.process = subprocess.Popen(
            [sys.executable, str(path), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_env(PYTHONPATH=str(ROOT)),
        )
        self.deadline = time.monotonic() + CHILD_LIMIT

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe the child no longer reads
                    stream.close()

    def expect(self, word: str) -> str:
        line = _read_line(self.process, self.deadline)
        assert line.startswith(word), f"expected {word!r} from the child, got {line!r}"
        return line

    def tell(self, line: str = "") -> None:
        """Write a line to the child (closing stdin also counts as a line)."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it ended on its own: its output tells
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def finish(self) -> str:
        """Tell the child to stop and return its last stdout line (a JSON report)."""
        self.tell("stop")
        out, err = self.process.communicate(timeout=CHILD_LIMIT)
        assert self.process.returncode == 0, err
        return out.strip().splitlines()[-1]


# --- a daemon holding the write lock -----------------------------------------------------------

HOLDER = r"""
import select, sqlite3, sys
path, hold = sys.argv[1], float(sys.argv[2])
connection = sqlite3.connect(path, isolation_level=None, timeout=10)
connection.execute("BEGIN IMMEDIATE")  # what cmail's daemons do before they write
print("ready", flush=True)
# Hold until the parent writes a line, or `hold` seconds at most.
select.select([sys.stdin], [], [], hold)
connection.execute("ROLLBACK")
connection.close()
print("released", flush=True)
"""


class LockHolder(Child):
    """Another process in `BEGIN IMMEDIATE` on `path`, for at most `hold` seconds."""

    def __init__(self, folder: Path, path: Path, hold: float = 20.0) -> None:
        super().__init__(folder, "holder", HOLDER, str(path), str(hold))
        self.expect("ready")

    def release(self) -> None:
        if self.process.poll() is None:
            self.tell()
        self.expect("released")

    def wait_released(self) -> None:
        self.expect("released")


# --- a POP daemon toggling maildrop locks --------------------------------------------------------

TOGGLER = r"""
import json, select, sqlite3, sys, time
path, users, pause = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])
connection = sqlite3.connect(path, isolation_level=None, timeout=10)
connection.execute("PRAGMA synchronous = OFF")  # short transactions, many of them
counts = {user: 0 for user in users}
busy = 0
ready = False
end = time.monotonic() + 25
while time.monotonic() < end:
    for user in users:
        try:
            # One short transaction per toggle, as cmail-popd locks and unlocks a maildrop.
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "UPDATE popd SET pop_lock = 1 - pop_lock WHERE pop_user = ?", (user,)
            )
            connection.execute("COMMIT")
            counts[user] += 1
            # A breath between transactions: SQLite's busy handler polls with growing sleeps,
            # so a writer that never pauses would starve every other writer (real POP daemons
            # lock at login and unlock at QUIT).
            time.sleep(pause)
        except sqlite3.OperationalError:
            busy += 1
            if connection.in_transaction:
                connection.execute("ROLLBACK")
    if not ready:
        print("ready", flush=True)
        ready = True
    if select.select([sys.stdin], [], [], 0)[0]:
        break
connection.close()
print(json.dumps({"counts": counts, "busy": busy}), flush=True)
"""


def start_toggler(folder: Path, path: Path, users: list[str], pause: float = 0.002) -> Child:
    child = Child(folder, "toggler", TOGGLER, str(path), ",".join(users), str(pause))
    child.expect("ready")
    return child


# --- a second console process adding rules -----------------------------------------------------

RULE_ADDER = r"""
import json, sys
from core.access import Session
from core.db import Database
from core.errors import CmailError
from core.services import addresses
path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Database(path, timeout=10)
print("ready", flush=True)
sys.stdin.readline()  # start together with the parent's workers
outcomes = []
for index in range(count):
    try:
        change = addresses.add_rule(
            db, Session.system(), f"{prefix}{index}@load.example", "drop"
        )
        outcomes.append(["ok", change.data["rule"]["order"]])
    except CmailError as error:
        outcomes.append([type(error).__name__, str(error)])
sys.stdin.readline()
print(json.dumps(outcomes), flush=True)
"""


def start_rule_adder(folder: Path, path: Path, prefix: str, count: int) -> Child:
    child = Child(folder, f"adder-{prefix}", RULE_ADDER, str(path), prefix, str(count))
    child.expect("ready")
    return child


def report(line: str) -> Any:
    return json.loads(line)


# --- fault injection into a real cmail-console process -----------------------------------------

# Python imports `sitecustomize` from PYTHONPATH at start-up, before the console's own code: the
# installed script runs unchanged while its SQLite connections get the fault. Test-only; core has
# no hook for it.
SITECUSTOMIZE = r"""
import os

fault = os.environ.get("CMAIL_TEST_FAULT", "")
if fault == "read-only":
    # For root, who may write any file whatever its mode: the console must see the file as
    # read-only and open it with mode=ro, as it does for everybody else.
    import core.db

    core.db.is_writable = lambda path: False
elif fault:
    import peewee

    original = peewee.SqliteDatabase._add_conn_hooks

    def hooked(self, conn):
        original(self, conn)
        if fault == "disk-full":
            # The file may not grow: SQLite answers SQLITE_FULL as on a full disk.
            conn.execute("PRAGMA max_page_count = 1")
        elif fault.startswith("slow:"):
            # Slow down a write once it has started changing pages (its journal exists), so a
            # SIGKILL at a random moment lands inside the transaction.
            import time
            every, pause, journal = fault[5:].split(":", 2)

            def handler():
                if os.path.exists(journal):
                    time.sleep(float(pause))
                return 0

            conn.set_progress_handler(handler, int(every))

    peewee.SqliteDatabase._add_conn_hooks = hooked
"""


def fault_env(folder: Path, fault: str, **extra: str) -> dict[str, str]:
    """The environment for a `cmail-console` child with `fault` injected (see SITECUSTOMIZE)."""
    hooks = folder / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return child_env(PYTHONPATH=str(hooks), CMAIL_TEST_FAULT=fault, **extra)


# --- SIGKILL in the middle of a change -----------------------------------------------------------


def run_and_kill(
    folder: Path, path: Path, argv: list[str], env: dict[str, str], delay: float | None
) -> tuple[bool, float]:
    """Run `cmail-console -d path argv…`; once its write has begun changing the file (the
    rollback journal appears), wait `delay` seconds and SIGKILL it (None: let it finish).
    Returns (killed, seconds from the journal's appearance to the kill or the exit)."""
    journal = Path(f"{path}-journal")
    with (folder / "out.txt").open("w") as out:  # a full pipe would stall the child
        process = subprocess.Popen(
            [str(CONSOLE), "-d", str(path), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + CHILD_LIMIT
        seen = None
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if seen is None and journal.exists():
                    seen = time.monotonic()
                    if delay is not None:
                        time.sleep(delay)
                        break
                time.sleep(0.0002)
            killed = process.poll() is None
            if killed:
                process.kill()  # SIGKILL: no handler, no cleanup, no rollback by the console
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
    assert seen is not None, "the change never began writing"
    return killed, time.monotonic() - seen
