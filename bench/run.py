"""The benchmark of issue 5: cmail console against a bare Textual app, cmail's own LIKE match and
raw sqlite3, at 10k, 100k and 1M users. Not a test: run it by hand (`make bench` runs --quick).

    python bench/run.py [--quick] [--json FILE] [--runs N]

Databases come from bench/generate.py (cached in ~/.cache/cmail-console-bench, or
$CMAIL_BENCH_CACHE). Every figure is the median of several runs; the ratios compare figures taken
side by side in this one run. bench/README.md says what each key measures exactly.

The measurements that time a process or hold an app run in child processes started from this
file (`python -c "import run; run.probe_…(…)"`), so this module imports nothing but os, sys and
time at its top: a probe's start costs the console and the bare app the same.
"""

from __future__ import annotations

import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
ADMIN = "user0000001"  # holds admin in every generated database; its password is its name
PLAIN = "user0000002"  # a plain user (no rights, no delegation)
TERMINAL = (120, 40)  # the headless terminal the screens are measured in
FRAME_WAIT = 0.5  # seconds to wait for the frame that shows a change before giving up on it
SCREEN_TIMEOUT = 300.0  # seconds one screen may take to show its rows (lint at 1M is slow)
MODULE_BUDGET = 40.0  # seconds of repeated measurements per module and size, after the first

# --- probes: what the child processes run -------------------------------------------------------


def _on_frame(app: object, callback: object) -> None:
    """Call `callback(screen)` after each frame Textual composes for the terminal.

    Headless, Textual still lays out and renders every line of a frame; it only skips writing the
    escape codes. Frames inside a batch update are not shown, so they do not count."""
    display = app._display  # type: ignore[attr-defined]

    def hook(screen: object, renderable: object) -> None:
        display(screen, renderable)
        if renderable is not None and not app._batch_count:  # type: ignore[attr-defined]
            callback(screen)  # type: ignore[operator]

    app._display = hook  # type: ignore[attr-defined]


def _done(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    os._exit(0)  # the figure is taken; tearing the app down is not part of it


def probe_start(kind: str, path: str) -> None:
    """Print the wall clock when the first frame of the login screen (of the bare app's screen)
    is composed, and exit."""
    if kind == "console":
        import cli.main  # noqa: F401  what the `cmail-console` script imports first
        from tui.app import make_app

        app = make_app(path)
        wanted = "LoginScreen"
    else:
        from bare_app import BareApp

        app = BareApp()
        wanted = "Screen"
    _on_frame(app, lambda screen: type(screen).__name__ == wanted and _done(repr(time.time())))
    app.run(headless=True, size=TERMINAL)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def probe_rss(kind: str, path: str, skip: tuple[str, ...] = ()) -> None:
    """Print the peak RSS (MB) of the console after opening every module screen (but `skip`) as
    an admin and waiting for its rows, or of the bare app once its first frame is composed."""
    import json

    if kind == "bare":
        from bare_app import BareApp

        app = BareApp()
        _on_frame(app, lambda screen: _done(json.dumps({"rss_mb": _peak_rss_mb()})))
        app.run(headless=True, size=TERMINAL)
        return
    from core.db import Database
    from core.session import login
    from tui.app import make_app

    app = make_app(path, session=login(Database(path), ADMIN, ADMIN), cursor_blink=False)
    frames = _Frames(app)
    opened: list[str] = []

    async def open_every_screen(pilot: object) -> None:
        for module in app.visible_modules():
            if module.id in skip:
                continue
            if app.current_mode == module.id:  # the landing screen
                await _until(lambda m=module: _shown(app, m.id), SCREEN_TIMEOUT)
            else:
                frames.watch(lambda m=module: _shown(app, m.id))
                _press(app, module.key, module.key)
                await frames.shown()
            await _quiet(app)
            opened.append(module.id)
        _done(json.dumps({"rss_mb": _peak_rss_mb(), "screens": opened}))

    app.run(headless=True, size=TERMINAL, auto_pilot=open_every_screen)


class _Frames:
    """Frame times: `watch(condition)`, then `await shown()` gives the perf_counter of the first
    frame composed while `condition()` held (checked as each frame is composed, so a late poll
    cannot make a figure look slower or faster than the screen was)."""

    def __init__(self, app: object) -> None:
        self._conditions: list[object] = []
        self._stamps: list[float | None] = []
        _on_frame(app, self._seen)

    def _seen(self, _screen: object) -> None:
        for index, condition in enumerate(self._conditions):
            if self._stamps[index] is None and condition():  # type: ignore[operator]
                self._stamps[index] = time.perf_counter()

    def watch(self, *conditions: object) -> None:
        """Watch each condition for the first frame composed while it holds."""
        self._stamps = [None] * len(conditions)
        self._conditions = list(conditions)

    async def shown(self, index: int = 0, timeout: float = SCREEN_TIMEOUT) -> float:
        await _until(lambda: self._stamps[index] is not None, timeout)
        stamp = self._stamps[index]
        assert stamp is not None
        return stamp


def _press(app: object, key: str, character: str | None = None) -> None:
    """Send one key as the terminal driver does, without waiting for the app to handle it
    (Pilot.press waits until the app is idle, which would hide when the screen was ready)."""
    from textual import events

    app.post_message(events.Key(key, character))  # type: ignore[attr-defined]


async def _until(condition: object, timeout: float) -> None:
    import asyncio

    deadline = time.perf_counter() + timeout
    while not condition():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.001)


def _shown(app: object, module_id: str) -> bool:
    """The module's screen is current and shows its first page of rows (its lists are loaded
    and no fetch is pending; lint: the first findings of its scan are on screen, or the scan
    ended with none; My account: its details arrived)."""
    from tui.widgets.paged_table import PagedTable

    screen = app.screen  # type: ignore[attr-defined]
    if getattr(screen, "MODULE_ID", None) != module_id:
        return False
    if module_id == "account":
        return screen.account is not None
    if module_id == "lint" and not screen.first_rows_shown:
        return False
    tables = list(screen.query(PagedTable))
    return bool(tables) and all(table.ready for table in tables)


async def _quiet(app: object, still: float = 0.2, timeout: float = SCREEN_TIMEOUT) -> None:
    """Wait until no worker has run for `still` seconds (e.g. the Users screen reads the
    highlighted user's details 0.15 s after its page is shown)."""
    import asyncio

    deadline = time.perf_counter() + timeout
    calm_since = time.perf_counter()
    while time.perf_counter() - calm_since < still and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
        if any(worker.is_running for worker in app.workers):  # type: ignore[attr-defined]
            calm_since = time.perf_counter()


def filter_text(users: int) -> str:
    """One user name from the middle of the table: it matches one user, so a list cannot stop
    at a full page of matches and must prove there are no more."""
    sys.path.insert(0, BENCH)
    from generate import name

    return name(users // 2)


def probe_screens(path: str, size: str, runs: int) -> None:
    """Print, as JSON, first_rows_ms and filter_ms of every module screen (medians)."""
    import asyncio
    import json
    import statistics

    sys.path.insert(0, BENCH)
    from generate import SIZES

    text = filter_text(SIZES[size])
    results: dict[str, object] = {}
    measured: set[str] = set()
    for user in (ADMIN, PLAIN):  # the plain user only for the screens an admin has not (account)
        samples = asyncio.run(_measure_screens(path, user, text, runs, skip=frozenset(measured)))
        measured |= {module for _kind, module in samples}
        for (kind, module), values in samples.items():
            results[f"{kind}_ms_{module}_{size}"] = round(statistics.median(values), 1)
            results[f"{kind}_cold_ms_{module}_{size}"] = round(values[0], 1)
            results[f"{kind}_runs_{module}_{size}"] = len(values)
    results["filter_text_" + size] = text
    _done(json.dumps(results))


async def _measure_screens(
    path: str, user: str, text: str, runs: int, skip: frozenset[str] = frozenset()
) -> dict[tuple[str, str], list[float]]:
    from functools import partial

    from textual.screen import Screen

    from core.db import Database
    from core.session import login
    from tui.app import make_app
    from tui.widgets.paged_table import PagedTable

    app = make_app(path, session=login(Database(path), user, user), cursor_blink=False)
    samples: dict[tuple[str, str], list[float]] = {}
    spent: dict[str, float] = {}
    async with app.run_test(size=TERMINAL):
        frames = _Frames(app)
        modules = [module for module in app.visible_modules() if module.id not in skip]
        await _until(lambda: app.screen.__class__.__name__ != "LoginScreen", 60)
        await _quiet(app)
        app.add_mode("bench-park", Screen)  # a blank screen: no input takes the module keys
        for round_ in range(runs):
            # Fresh screens every round: a module screen mounts (and loads) on its first visit.
            await app.switch_mode("bench-park")
            for module in modules:
                await app.remove_mode(module.id)
                app.add_mode(module.id, partial(app.module_screen, module))
            for module in modules:
                if round_ and spent.get(module.id, 0.0) > MODULE_BUDGET:
                    continue
                frames.watch(lambda m=module: _shown(app, m.id))
                started = began = time.perf_counter()
                _press(app, module.key, module.key)
                shown = await frames.shown()
                samples.setdefault(("first_rows", module.id), []).append((shown - began) * 1000)
                await _quiet(app)
                tables = list(app.screen.query(PagedTable))
                if tables and tables[0].check_action("open_filter", ()):
                    for kind, live in (("filter", False), ("filter_typed", True)):
                        took, complete = await _filter(app, frames, tables[0], text, live=live)
                        samples.setdefault((kind, module.id), []).append(took)
                        samples.setdefault((kind + "_all", module.id), []).append(complete)
                spent[module.id] = spent.get(module.id, 0.0) + time.perf_counter() - started
    return samples


async def _filter(
    app: object, frames: _Frames, table: object, text: str, *, live: bool
) -> tuple[float, float]:
    """Type `text` into the list's `/` filter; the ms from the keystroke that makes the list ask
    for the filtered rows to the first frame that shows them (`answered`: the rows that start
    with the text, read through an index), and to the first frame after the list has also
    scanned for the rows that only contain it (`ready`); then clear the filter again.

    Enter (`live=False`) is pressed at once after the text, as a quick typist does, before the
    list's own typing pause would filter; `live=True` stops typing instead and waits for the
    list to follow, so its figure includes that pause (FilterBar.TYPING_PAUSE)."""
    from tui.widgets.filter_bar import FilterBar

    bar = table.query_one(FilterBar)  # type: ignore[attr-defined]
    if not live:
        bar.TYPING_PAUSE = 3600.0  # no pause may run out between the last letter and Enter
    try:
        _press(app, "slash", "/")
        await _until(lambda: bar.has_focus, 10)
        head, last = (text[:-1], text[-1]) if live else (text, "enter")
        for character in head:
            _press(app, character, character)
        await _until(lambda: bar.value == head, 10)
        frames.watch(
            lambda: table.search == text and table.answered,  # type: ignore[attr-defined]
            lambda: table.search == text and table.ready,  # type: ignore[attr-defined]
        )
        began = time.perf_counter()
        _press(app, last, "\r" if last == "enter" else last)
        shown = await frames.shown(0)
        complete = await frames.shown(1)
    finally:
        if not live:
            del bar.TYPING_PAUSE
    await _quiet(app)
    if bar.has_focus:  # the live filter leaves the cursor in the bar; Enter returns to the list
        _press(app, "enter", "\r")
        await _until(lambda: not bar.has_focus, 10)
    _press(app, "escape")  # clear the filter: the full list again, for the next measurement
    await _until(lambda: table.search is None and table.ready, SCREEN_TIMEOUT)  # type: ignore[attr-defined]
    await _quiet(app)
    return (shown - began) * 1000, (complete - began) * 1000


def probe_trace(path: str, users: int, runs: int) -> None:
    """Print, as JSON, an inbound trace through core against cmail's own match query run through
    sqlite3, taken in turns in this one process (medians, ms)."""
    import json
    import sqlite3
    import statistics

    sys.path.insert(0, BENCH)
    from generate import domain, name

    from core.db import Database
    from core.services.routing import trace_inbound
    from core.session import login

    db = Database(path)
    session = login(db, ADMIN, ADMIN)
    middle = users // 2
    address = f"{name(middle)}@{domain(middle)}"  # a store rule: one match query, one hop
    alias = f"{name(middle)}.alias@{domain(middle)}"  # a redirect to it: two hops
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    match = (
        "SELECT address_order, address_expression, address_router, address_route "
        "FROM addresses WHERE ? LIKE address_expression ORDER BY address_order DESC"
    )
    samples: dict[str, list[float]] = {"trace": [], "like": [], "trace_redirect": []}
    calls = {
        "trace": lambda: trace_inbound(db, session, address),
        "like": lambda: raw.execute(match, (address,)).fetchall(),
        "trace_redirect": lambda: trace_inbound(db, session, alias),
    }
    for round_ in range(runs + 1):
        for key, call in calls.items():
            began = time.perf_counter()
            call()
            if round_:  # the first round warms the page cache for all three
                samples[key].append((time.perf_counter() - began) * 1000)
    result = {f"{key}_ms": round(statistics.median(v), 1) for key, v in samples.items()}
    result["sqlite_like_ms"] = result.pop("like_ms")
    result["trace_address"] = address
    _done(json.dumps(result))


# cmail-admin-user's table through nothing but sqlite3: the same columns, widths and escaping
# as `cmail-console user list` (cli/user.py, cli/output.py), from one query.
SQLITE_USER_LIST = r"""
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = db.execute('''
    SELECT u.user_name, u.user_authdata IS NOT NULL, u.user_alias,
           COALESCE(a.n, 0), COALESCE(m.n, 0), u.user_database
    FROM users u
    LEFT JOIN (SELECT address_route AS r, COUNT(*) AS n FROM addresses
               WHERE address_router = 'store' GROUP BY address_route) a ON a.r = u.user_name
    LEFT JOIN (SELECT mail_user AS r, COUNT(*) AS n FROM mailbox GROUP BY mail_user) m
           ON m.r = u.user_name
    ORDER BY u.user_name''')
columns = [("User", 20), ("Auth", 5), ("Alias", 15), ("Linked addresses", 16), ("Mails", 6),
           ("User database", 14)]
def printable(value):
    if value is None:
        return ""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)
out = sys.stdout
header = " | ".join(f"{title:>{width}}" for title, width in columns)
out.write(header + "\n")
out.write("-" * len(header) + "\n")
for row in rows:
    out.write(" | ".join(f"{printable(cell):>{width}}" for cell, (_, width) in zip(row, columns))
              + "\n")
"""

# --- the parent: runs the probes, prints the table, writes the JSON -----------------------------


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    # An installed console has its bytecode compiled; let the warm-up run write it here too.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([BENCH, ROOT])
    env.pop("CMAIL_CONSOLE_DISABLE", None)
    env.pop("CMAIL_CONSOLE_ENABLE", None)
    return env


def _probe(call: str, timeout: float = 1800.0) -> str:
    """Run `run.<call>` in a fresh interpreter and return the last line it printed."""
    import subprocess

    code = f"import run; run.{call}"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"probe {call} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return lines[-1]


def measure_start(path: str, runs: int) -> dict[str, float]:
    """Process start to the first frame of the login screen, console and bare app in turns."""
    import statistics

    samples: dict[str, list[float]] = {"console": [], "bare": []}
    for round_ in range(runs + 1):
        for kind in samples:
            began = time.time()
            ready = float(_probe(f"probe_start({kind!r}, {path!r})", timeout=120))
            if round_:  # the first round fills the OS's file cache for both
                samples[kind].append((ready - began) * 1000)
    return {
        "start_ms": round(statistics.median(samples["console"]), 1),
        "bare_start_ms": round(statistics.median(samples["bare"]), 1),
    }


def measure_rss(path: str, runs: int) -> dict[str, object]:
    import json
    import statistics

    console = [json.loads(_probe(f"probe_rss('console', {path!r})")) for _ in range(runs)]
    no_lint = [
        json.loads(_probe(f"probe_rss('console', {path!r}, ('lint',))")) for _ in range(runs)
    ]
    bare = [json.loads(_probe(f"probe_rss('bare', {path!r})")) for _ in range(runs)]
    return {
        "rss_mb": round(statistics.median(c["rss_mb"] for c in console), 1),
        "rss_no_lint_mb": round(statistics.median(c["rss_mb"] for c in no_lint), 1),
        "bare_rss_mb": round(statistics.median(b["rss_mb"] for b in bare), 1),
        "rss_screens": console[0]["screens"],
    }


def _console_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "cmail-console")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]


def measure_user_list(path: str, runs: int) -> dict[str, object]:
    """`cmail-console user list` against the same table printed by raw sqlite3, in turns; each
    writes its table to a file, and the two tables are compared once."""
    import hashlib
    import statistics
    import subprocess
    import tempfile

    commands = {
        "cli": [*_console_command(), "-d", path, "user", "list"],
        "sqlite": [sys.executable, "-c", SQLITE_USER_LIST, path],
    }
    samples: dict[str, list[float]] = {"cli": [], "sqlite": []}
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(runs + 1):
            for kind, command in commands.items():
                out_path = os.path.join(folder, kind + ".txt")
                with open(out_path, "wb") as out:
                    began = time.perf_counter()
                    done = subprocess.run(
                        command, stdout=out, stderr=subprocess.PIPE, env=_child_env(), check=False
                    )
                    took = time.perf_counter() - began
                if done.returncode != 0:
                    raise RuntimeError(f"{kind} user list failed: {done.stderr.decode()[-2000:]}")
                if round_:
                    samples[kind].append(took)
                else:
                    with open(out_path, "rb") as written:
                        digests[kind] = hashlib.sha256(written.read()).hexdigest()
    return {
        "cli_user_list_s": round(statistics.median(samples["cli"]), 3),
        "sqlite_user_list_s": round(statistics.median(samples["sqlite"]), 3),
        "user_list_same_output": digests["cli"] == digests["sqlite"],
    }


def machine() -> dict[str, object]:
    import platform
    import sqlite3
    from importlib.metadata import version

    def first(path: str, key: str) -> str:
        try:
            with open(path) as lines:
                for line in lines:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    memory = first("/proc/meminfo", "MemTotal")
    gib = f"{int(memory.split()[0]) / 2**20:.1f} GiB" if memory[:1].isdigit() else memory
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": first("/proc/cpuinfo", "model name"),
        "ram": gib,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "textual": version("textual"),
        "peewee": version("peewee"),
        "os": platform.platform(),
    }


def targets(results: dict[str, object], sizes: list[str]) -> list[tuple[str, float | None, str]]:
    """(what, measured/limit ratio or None if not measured, the rule) per target; ≤ 1 passes."""
    import re

    top, small = sizes[-1], sizes[0]
    checks: list[tuple[str, float | None, str]] = []

    def number(key: str) -> float | None:
        value = results.get(key)
        return float(value) if isinstance(value, int | float) else None

    def check(name: str, value: float | None, limit: float | None, rule: str) -> None:
        ratio = None if value is None or limit is None else value / limit
        checks.append((name, ratio, rule))

    pattern = re.compile(rf"first_rows_ms_([a-z]+)_{re.escape(top)}")
    modules = [m.group(1) for key in results if (m := pattern.fullmatch(key))]
    for module in modules:
        at_top = number(f"first_rows_ms_{module}_{top}")
        check(f"first_rows_ms_{module}_{top}", at_top, 100.0, "≤ 100 ms")
        at_small = number(f"first_rows_ms_{module}_{small}")
        check(
            f"first_rows_ms_{module}_{top} / _{small}",
            at_top,
            None if at_small is None else 1.5 * at_small,
            f"≤ 1.5 × at {small}",
        )
        if f"filter_ms_{module}_{top}" in results:
            check(f"filter_ms_{module}_{top}", number(f"filter_ms_{module}_{top}"), 50.0, "≤ 50 ms")
    pairs = [
        ("start_ms", "bare_start_ms", 1.2),
        ("rss_mb", "bare_rss_mb", 1.5),
        ("cli_user_list_s", "sqlite_user_list_s", 1.5),
        ("trace_ms", "sqlite_like_ms", 2.0),
    ]
    for key, base, factor in pairs:
        limit = number(base)
        check(key, number(key), None if limit is None else factor * limit, f"≤ {factor} × {base}")
    return checks


def main(argv: list[str]) -> int:
    import argparse
    import json

    sys.path[:0] = [BENCH, ROOT]
    from generate import CACHE, SIZES, database

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k only (< 3 minutes)")
    parser.add_argument("--json", metavar="FILE", help="where to write the results")
    parser.add_argument("--runs", type=int, help="runs per figure, median reported (9; --quick 3)")
    options = parser.parse_args(argv)
    sizes = ["10k", "100k"] if options.quick else list(SIZES)
    runs = max(1, options.runs or (3 if options.quick else 9))
    out = options.json or str(CACHE / ("results-quick.json" if options.quick else "results.json"))
    began = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {text}", flush=True)

    paths = {size: str(database(size)) for size in sizes}
    say("databases: " + ", ".join(paths.values()))
    results: dict[str, object] = {"machine": machine(), "sizes": sizes, "quick": options.quick}
    results.update(measure_start(paths[sizes[0]], max(runs, 7)))
    say(f"start: {results['start_ms']} ms, bare {results['bare_start_ms']} ms")
    for size in sizes:
        results.update(json.loads(_probe(f"probe_screens({paths[size]!r}, {size!r}, {runs})")))
        say(f"screens at {size}")
    top = sizes[-1]
    results.update(measure_rss(paths[top], 3))  # a median: the peak varies by ~0.3 MB
    results["rss_size"] = top
    say(f"rss at {top}: {results['rss_mb']} MB, bare {results['bare_rss_mb']} MB")
    results.update(measure_user_list(paths["100k"], runs))
    say(f"user list: {results['cli_user_list_s']} s, sqlite {results['sqlite_user_list_s']} s")
    results.update(json.loads(_probe(f"probe_trace({paths[top]!r}, {SIZES[top]}, {runs * 2})")))
    results["trace_size"] = top
    say(f"trace at {top}: {results['trace_ms']} ms, LIKE {results['sqlite_like_ms']} ms")

    checks = targets(results, sizes)
    results["targets"] = [
        {
            "what": name,
            "ratio": None if r is None else round(r, 3),
            "rule": rule,
            "pass": r and r <= 1,
        }
        for name, r, rule in checks
    ]
    results["seconds"] = round(time.perf_counter() - began, 1)
    print()
    print(f"cmail console benchmark ({'quick: ' if options.quick else ''}{', '.join(sizes)})")
    info = results["machine"]
    print(f"{info['cpu']}, {info['nproc']} CPUs, {info['ram']}, Python {info['python']}, "  # type: ignore[index]
          f"SQLite {info['sqlite']}")  # type: ignore[index]  # fmt: skip
    print()
    width = max(len(k) for k in results)
    for key, value in results.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "_cold_" in key or "_runs_" in key:
                continue
            print(f"  {key:<{width}}  {value:>10}")
    print()
    print(f"  {'target':<46} {'rule':<28} {'ratio':>6}  verdict")
    for name, ratio, rule in checks:
        shown = "-" if ratio is None else f"{ratio:.3f}"
        verdict = "n/a" if ratio is None else ("PASS" if ratio <= 1 else "MISS")
        print(f"  {name:<46} {rule:<28} {shown:>6}  {verdict}")
    missed = sum(1 for _, r, _ in checks if r is None or r > 1)
    print(f"\n{len(checks) - missed} of {len(checks)} targets met; {results['seconds']} s")
    with open(out, "w") as file:
        json.dump(results, file, indent=2)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
