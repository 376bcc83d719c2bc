"""Bad input on the command line (issue 6): every verb against the hostile catalogue.

In-process (`cli.main.run`), every catalogue value goes into every verb, position by position,
and Hypothesis combines them; a sample runs the real console script in subprocesses, where argv
can also carry bytes that are not UTF-8. Each run exits 0 or with a documented code; a failure
prints exactly one line on stderr (`cmail-console: <sentence>`) and leaves the database
byte-for-byte unchanged; nothing prints a traceback, and no output carries a raw control
character to the terminal (database strings are shown literally, escaped).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import COMMANDS, MODULES, run
from core.validation import INBOUND_ROUTERS, OUTBOUND_ROUTERS
from tests.hardening.catalogue import ARGV, MARKUP_USER, PASSWORD, RAW_ARGV, USERS, seed

# Exit codes the README and cli/main.py document: 0 ok, 1 lint findings or a usage text,
# 2 invalid, 3 not found, 4 denied, 5 conflict, 8 storage, 11 not a (usable) database.
DOCUMENTED = {0, 1, 2, 3, 4, 5, 8, 11}
CONSOLE = Path(sys.executable).with_name("cmail-console")

# What each verb takes, position by position (cmail-admin's argument order). A verb missing
# here (added later) is still tried, with hostile values in three generic positions.
SPEC: dict[tuple[str, ...], tuple[tuple[str, ...], int]] = {
    ("user", "list"): (("filter",), 0),
    ("user", "add"): (("newuser", "password"), 1),
    ("user", "password"): (("user", "password"), 1),
    ("user", "passwd"): (("user", "password"), 1),
    ("user", "revoke"): (("user",), 1),
    ("user", "alias"): (("user", "user"), 1),
    ("user", "userdb"): (("user", "userdb"), 1),
    ("user", "delete"): (("user", "--store-rules-to", "user"), 1),
    ("user", "delete-preview"): (("user",), 1),
    ("user", "rename"): (("user", "newuser"), 2),
    ("user", "show"): (("user",), 1),
    ("address", "trace"): (("address", "--from", "address"), 1),
    ("address", "list"): (("filter",), 0),
    ("address", "test"): (("address",), 0),
    ("address", "show"): (("order",), 1),
    ("address", "add"): (("expression", "in-router", "in-route", "new-order"), 2),
    ("address", "update"): (("order", "in-router", "in-route"), 2),
    ("address", "delete"): (("order",), 1),
    ("address", "swap"): (("order", "order"), 2),
    ("address", "move"): (("order", "new-order"), 2),
    ("address", "up"): (("order",), 1),
    ("address", "down"): (("order",), 1),
    ("smtpd", "trace"): (("user", "address"), 2),
    ("smtpd", "list"): (("filter",), 0),
    ("smtpd", "show"): (("user",), 1),
    ("smtpd", "enable"): (("user", "out-router", "out-route"), 1),
    ("smtpd", "update"): (("user", "out-router", "out-route"), 2),
    ("smtpd", "disable"): (("user",), 1),
    ("popd", "list"): (("filter",), 0),
    ("popd", "enable"): (("user",), 1),
    ("popd", "disable"): (("user",), 1),
    ("popd", "unlock"): (("user",), 1),
    ("permissions", "grant"): (("user", "permission"), 2),
    ("permissions", "revoke"): (("user", "permission", "permission"), 1),
    ("permissions", "set"): (("user", "permission", "permission"), 1),
    ("permissions", "list"): (("filter",), 0),
    ("permissions", "rlist"): (("filter",), 1),
    ("permissions", "delegate"): (("kind", "user", "target"), 0),
    ("permissions", "delete"): (("mode", "user", "target"), 3),
    ("mailbox", "list"): (("user",), 1),
    ("mailbox", "counts"): (("user", "user"), 0),
    ("mailbox", "read"): (("user", "source", "mail-id"), 3),
    ("mailbox", "unread"): (("user", "source", "mail-id"), 3),
    ("mailbox", "delete"): (("user", "source", "mail-id"), 3),
    ("init",): (("new-file",), 1),
    ("demo",): (("new-file",), 1),
    ("lint",): ((), 0),
    ("audit",): (("filter", "--user", "user", "--limit", "limit"), 0),
}
GENERIC = (("any", "any", "any"), 0)

# Arguments that fit each position, so the other positions of a run usually pass and the
# hostile value reaches its own rule (or is stored).
VALID: dict[str, tuple[str, ...]] = {
    "filter": ("%", "b%", "_ob", "%Ü%", "[b]%"),
    "user": USERS,
    "newuser": ("newbie", "[b]new[/b]", "007x", "main", "x y", "Ürsula"),
    "password": ("pw", "", "[b]pw[/b]", "a:b"),
    "address": ("bob@example.org", "<x@deleg.example>", "nobody@example.org"),
    "--from": ("--from",),
    "--user": ("--user",),
    "--limit": ("--limit",),
    "--store-rules-to": ("--store-rules-to",),
    "limit": ("5", "1"),
    "order": ("10", "20", "30", "40", "50", "60"),
    "new-order": ("7", "100", "-5", "0"),
    "expression": ("new@example.org", "%@deleg.example", "[b]x[/b]@example.org"),
    "in-router": INBOUND_ROUTERS,
    "in-route": ("bob", "(to-local)@x.example", "mx.example", "go away", "[b]no[/b]"),
    "out-router": OUTBOUND_ROUTERS,
    "out-route": ("mx.example", "u:p@mx.example:25"),
    "permission": ("admin", "delegate"),
    "kind": ("user", "address"),
    "mode": ("user", "expression"),
    "target": ("bob", "%@deleg.example"),
    "source": ("master", "{userdb}"),
    "mail-id": ("1", "2", "3"),
    "userdb": ("{userdb}",),
    "new-file": ("new.db3", "sub/new.db3"),
    "any": ("bob", "10"),
}
COUNTS: Counter[str] = Counter()


def verbs() -> list[tuple[str, ...]]:
    """Every verb of every module and every one-word command the console has now."""
    found = [(name,) for name in COMMANDS]
    for module, path in MODULES.items():
        found += [(module, verb) for verb in importlib.import_module(path).VERBS]
    return found


VERBS = verbs()


# --- the database and one run ----------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Bench:
    """The seeded database in a working directory; recopied only after a run changed it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.work = base / "work"
        self.template = base / "template"
        self.work.mkdir()
        self.template.mkdir()
        self.master = self.work / "master.db3"
        self.userdb = self.work / "userdb.db3"
        seed(self.master, self.userdb)
        for path in (self.master, self.userdb):
            shutil.copyfile(path, self.template / path.name)
        self.clean = (_digest(self.master), _digest(self.userdb))

    def reset(self) -> tuple[str, str]:
        now = (_digest(self.master), _digest(self.userdb))
        if now != self.clean:
            for path in (self.master, self.userdb):
                shutil.copyfile(self.template / path.name, path)
        # init and demo create files in the working directory: keep it to the two databases.
        for entry in self.work.iterdir():
            if entry.name not in ("master.db3", "userdb.db3"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        return self.clean

    def fill(self, value: str) -> str:
        return value.replace("{userdb}", str(self.userdb))


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    shm = Path("/dev/shm")  # every write fsyncs: a RAM file system keeps the budget in runs
    if shm.is_dir() and os.access(shm, os.W_OK):
        base = Path(tempfile.mkdtemp(prefix="cmail-cli-bad-input-", dir=shm))
        yield Bench(base)
        shutil.rmtree(base, ignore_errors=True)
    else:
        yield Bench(tmp_path_factory.mktemp("cli-bad-input"))


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def check(outcome: Outcome, argv: Sequence[object], changed: bool, files: bool = False) -> None:
    """The contract of every run, whatever its arguments. `files`: the run names files (init,
    demo, -d), so storage (8) and not-a-database (11) are expected answers too."""
    shown = f"{argv!r} → {outcome.code}\nstdout: {outcome.out!r}\nstderr: {outcome.err!r}"
    words = [w for w in argv if isinstance(w, str)]
    expected = DOCUMENTED if files or {"init", "demo"} & set(words) else DOCUMENTED - {8, 11}
    if "lint" not in words:
        expected = expected - {1}  # only lint's findings (and bare usage texts) exit 1
    assert outcome.code in expected, f"undocumented exit code: {shown}"
    assert "Traceback" not in outcome.out + outcome.err, shown
    for stream in (outcome.out, outcome.err):
        raw = sorted({c for c in stream if not c.isprintable() and c != "\n"})
        assert not raw, f"raw control characters {raw!r} reach the terminal: {shown}"
    if outcome.code not in (0, 1):
        lines = outcome.err.splitlines()
        # A prompt for a missing password goes to stderr first, without a newline.
        assert len(lines) == 1 and outcome.err.endswith("\n"), f"not one line: {shown}"
        assert "cmail-console: " in lines[0], shown
        assert not changed, f"refused, but the database changed: {shown}"


def run_inside(bench: Bench, argv: list[str], env: dict[str, str] | None = None) -> Outcome:
    """`cli.main.run` in this process, in the working directory, with a fresh database."""
    clean = bench.reset()
    full = ["-d", str(bench.master), *argv]
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    try:
        os.environ.update(env or {})
        with contextlib.chdir(bench.work):
            code = run(full, out=out, err=err, prompt=lambda text: "")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    COUNTS["in-process"] += 1
    outcome = Outcome(code, out.getvalue(), err.getvalue())
    check(outcome, full, (_digest(bench.master), _digest(bench.userdb)) != clean)
    return outcome


def args_for(bench: Bench, verb: tuple[str, ...], hostile: str, position: int) -> list[str]:
    """The verb's valid arguments up to its minimum (or up to the hostile one), with the
    hostile value at `position`."""
    kinds, low = SPEC.get(verb, GENERIC)
    count = max(low, position + 1) if kinds else 1
    values = [bench.fill(VALID[kind][0]) for kind in (kinds or ("any",))[:count]]
    values[position] = hostile
    return [*verb, *values]


def positions(verb: tuple[str, ...]) -> int:
    kinds, _ = SPEC.get(verb, GENERIC)
    return max(1, len(kinds))


# --- every value in every verb ---------------------------------------------------------------
def test_the_sweep_covers_the_console_as_it_is() -> None:
    """Every verb the console has is swept (one missing from SPEC with generic positions), and
    SPEC names no verb the console does not have."""
    assert len(VERBS) >= len(SPEC) >= 48
    assert [verb for verb in SPEC if verb not in VERBS] == []


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_catalogue_in_every_position(bench: Bench, verb: tuple[str, ...]) -> None:
    """Every catalogue value in this verb: at every position, rotating through them, so each
    (verb, value) pair runs at least once and each position sees a share of the catalogue."""
    for index, value in enumerate(ARGV):
        position = index % positions(verb)
        run_inside(bench, args_for(bench, verb, value, position))
        if position:  # the first position gets every value too: it is usually the name
            run_inside(bench, args_for(bench, verb, value, 0))
    # And every valid value in every position: existing rows whose names hold markup and ESC
    # must come out escaped too.
    kinds, _ = SPEC.get(verb, GENERIC)
    for position, kind in enumerate(kinds):
        for value in VALID[kind]:
            run_inside(bench, args_for(bench, verb, bench.fill(value), position))


def test_global_options(bench: Bench) -> None:
    """-d and --login take every catalogue value too: a path that is no database, a login that
    is no user, a password that is not UTF-8, and values where a module or verb belongs."""
    for value in ARGV:
        # Neither is a login: the one neutral refusal (4), whatever the bytes.
        password = {"CMAIL_CONSOLE_PASSWORD": "x"}
        assert run_inside(bench, ["--login", value, "user", "list"], password).code == 4
        wrong = {"CMAIL_CONSOLE_PASSWORD": value}
        assert run_inside(bench, ["--login", "bob", "user", "list"], wrong).code == 4
        run_inside(bench, [value, "list"])
        run_inside(bench, ["user", value])
        clean = bench.reset()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.chdir(bench.work):
            code = run(["-d", value, "user", "list"], out=out, err=err)
        COUNTS["in-process"] += 1
        outcome = Outcome(code, out.getvalue(), err.getvalue())
        changed = (_digest(bench.master), _digest(bench.userdb)) != clean
        check(outcome, ["-d", value, "user", "list"], changed, files=True)


def test_database_path_that_is_not_utf8(bench: Bench) -> None:
    """-d with a file name that is not UTF-8 (argv bytes arrive as lone surrogates) opens that
    very file: a path is bytes to the file system."""
    bench.reset()
    odd = bench.work / os.fsdecode(b"m\xe4ster.db3")
    shutil.copyfile(bench.master, odd)
    out, err = io.StringIO(), io.StringIO()
    code = run(["-d", str(odd), "user", "show", "bob"], out=out, err=err)
    COUNTS["in-process"] += 1
    assert (code, err.getvalue()) == (0, "") and "bob" in out.getvalue()


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A verb with valid and hostile arguments mixed, sometimes one too many, sometimes
    --json or a login in front."""
    verb = draw(st.sampled_from(VERBS))
    kinds, low = SPEC.get(verb, GENERIC)
    count = draw(st.integers(low, len(kinds) + 1))
    values = []
    for index in range(count):
        kind = kinds[index] if index < len(kinds) else "any"
        hostile = draw(st.integers(0, 2)) == 0
        values.append(draw(st.sampled_from(ARGV if hostile else VALID[kind])))
    options = draw(st.sampled_from(([], [], ["--json"], ["--login", "deleg"])))
    return [*options, *verb, *values]


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(argv=command_lines())
def test_mixed_command_lines(bench: Bench, argv: list[str]) -> None:
    argv = [bench.fill(word) for word in argv]
    env = {"CMAIL_CONSOLE_PASSWORD": PASSWORD} if "--login" in argv else None
    run_inside(bench, argv, env)


# --- the real console script -----------------------------------------------------------------
# (verb, args) with bytes where argv holds bytes that are not UTF-8.
SUBPROCESS_CASES: list[list[str | bytes]] = [
    ["user", "add", RAW_ARGV[0], "pw"],
    ["user", "add", RAW_ARGV[1], "pw"],
    ["user", "show", RAW_ARGV[2]],
    ["user", "password", "bob", RAW_ARGV[0]],
    ["user", "rename", "bob", RAW_ARGV[3]],
    ["user", "alias", "bob", RAW_ARGV[0]],
    ["user", "userdb", "bob", b"/tmp/\xff.db3"],
    ["user", "delete-preview", MARKUP_USER],
    ["user", "add", "[b]x[/b]\x1b[2J", "pw"],
    ["user", "add", "[link=https://evil.example]y[/link]", "pw"],
    ["user", "add", "007", "pw"],
    ["user", "add", "a" * 2048, "pw"],
    ["user", "add", "\x9b31m", "pw"],
    ["user", "list", RAW_ARGV[0]],
    ["user", "list", "%\x1b%"],
    ["address", "add", RAW_ARGV[0], "store", "bob"],
    ["address", "add", "x@example.org", "Store", "bob"],
    ["address", "add", "x@example.org", "store ", "bob"],
    ["address", "add", "x@example.org", "handoff", "u:p@mx.example:25:extra"],
    ["address", "add", "x@example.org", "store", "bob", "0x10"],
    ["address", "add", "x@example.org", "store", "bob", str(2**63)],
    ["address", "add", "x@example.org", "store", "bob", " 5 "],
    ["address", "add", "x@example.org", "reject", "\x1b]0;owned\x07"],
    ["address", "update", "1e3", "drop"],
    ["address", "swap", "10", str(-(2**63) - 1)],
    ["address", "move", "10", "-1"],
    ["address", "trace", RAW_ARGV[0]],
    ["address", "trace", "bob@example.org", "--from", RAW_ARGV[1]],
    ["address", "test", "%"],
    ["smtpd", "enable", "alice", "ANY"],
    ["smtpd", "enable", "alice", "handoff", RAW_ARGV[0]],
    ["smtpd", "trace", RAW_ARGV[0], "x@example.org"],
    ["popd", "unlock", RAW_ARGV[0]],
    ["popd", "enable", "\u202eevil"],
    ["permissions", "grant", "bob", RAW_ARGV[0]],
    ["permissions", "delegate", "address", "deleg", RAW_ARGV[0]],
    ["mailbox", "read", "bob", "master", "\u0663"],
    ["mailbox", "delete", "bob", RAW_ARGV[0], "1"],
    [RAW_ARGV[0], "list"],
    ["--login", RAW_ARGV[0], "user", "list"],
    ["--json", "user", "show", MARKUP_USER],
    ["audit", RAW_ARGV[0]],
    ["-d", b"/nonexistent/\xff.db3", "user", "list"],
]


def _text(word: str | bytes) -> str:
    return word if isinstance(word, str) else os.fsdecode(word)


def _spawn(bench_dir: Path, case: list[str | bytes]) -> tuple[list[str | bytes], Outcome, bool]:
    """One real run on its own copy of the database (the runs go in parallel)."""
    work = Path(tempfile.mkdtemp(dir=bench_dir))
    master, userdb = work / "master.db3", work / "userdb.db3"
    seed(master, userdb)
    before = (_digest(master), _digest(userdb))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CMAIL_", "TEXTUAL", "PYTEST", "COV"))
    }
    env["CMAIL_CONSOLE_PASSWORD"] = PASSWORD
    done = subprocess.run(
        [str(CONSOLE), "-d", str(master), *case],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    # Output is decoded strictly: the console must write UTF-8, whatever argv held.
    outcome = Outcome(done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))
    changed = (_digest(master), _digest(userdb)) != before
    if done.returncode == 0 and case[:2] == ["user", "add"]:
        # Accepted means stored exactly as the argument was given (as Python decodes argv).
        name = _text(case[2])
        rows = subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
             "print(c.execute('SELECT count(*) FROM users WHERE user_name = ?', "
             "(sys.argv[2],)).fetchone()[0])", str(master), name],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert rows == "1", f"{case!r} was accepted but {name!r} is not stored exactly"
    return case, outcome, changed


@pytest.mark.skipif(not CONSOLE.exists(), reason="the console script is not installed")
def test_real_console_script(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The installed `cmail-console` in real processes: argv bytes that are not UTF-8, ESC and
    markup in arguments, and the same contract as in-process."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: _spawn(tmp_path, case), SUBPROCESS_CASES))
    for case, outcome, changed in results:
        COUNTS["subprocess"] += 1
        check(outcome, [_text(word) for word in case], changed, files="-d" in case)
    by_code = Counter(outcome.code for _, outcome, _ in results)
    assert by_code[0] and by_code[2], f"the sample should both store and refuse: {by_code}"


@pytest.fixture(scope="module", autouse=True)
def _report_runs(request: pytest.FixtureRequest) -> Iterator[None]:
    start = COUNTS.copy()
    yield
    inside = COUNTS["in-process"] - start["in-process"]
    real = COUNTS["subprocess"] - start["subprocess"]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"bad input (CLI): {inside} in-process runs over {len(VERBS)} verbs, "
                f"{real} runs of the console script; 0 escapes"
            )
