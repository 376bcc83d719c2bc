"""Regenerate screenshots/*.svg (one image of every screen) and screenshots/README.md.

    .venv/bin/python tools/make_screenshots.py

Every image comes from the demo database (core.demo) built afresh in a fixed temporary folder,
through the same `make_app()` the console and the tests use, with a fixed theme, a fixed clock
and no cursor blink, driven by keys as a person would press them (practice §3 T12). So the images
change only when a screen changes. A screen whose module is not registered (yet) is skipped with
a line on stdout; images of earlier runs that were not made this time are removed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable, Input  # noqa: E402

from core.db import create_master  # noqa: E402
from core.demo import create_demo  # noqa: E402
from tui.app import CmailConsole, make_app  # noqa: E402
from tui.modules import module_by_id  # noqa: E402

OUT = ROOT / "screenshots"
THEME = "textual-dark"
SIZE = (100, 30)
LOGIN_SIZE = (80, 24)
NOW = datetime(2025, 1, 6, 9, 30, 0)  # "refreshed 09:30:00" in every image
AUDIT_NOW = NOW.replace(tzinfo=UTC)  # the time of every audit entry the shots make
# The demo stores the absolute path of bob's user database, and screens may show it: a fixed
# folder (not a random temp name) keeps that text the same from run to run.
WORK = Path(tempfile.gettempdir()) / "cmail-console-screenshots"
MISSING = "/nonexistent/cmail/master.db3"  # the problem screen names the path it was given
WORKERS = 4  # processes at most (and no more than CPUs)
REST = 0.25  # seconds for timers to fire before an image is taken
IDLE_MINUTES = 10  # as the default; its idle clock stands still, so it never locks by itself

Steps = Callable[[Pilot], Awaitable[None]]


def fixed_clock() -> datetime:
    return NOW


@dataclass(frozen=True)
class Shot:
    name: str  # the file name without .svg: stable, no timestamps
    caption: str  # its line in screenshots/README.md
    steps: Steps  # from the app's first screen to the state to capture
    login: str | None = None  # a demo login (user = password), or None: before login
    module: str | None = None  # skipped when this module is not registered
    database: str = "demo"  # demo | empty | missing | audit
    size: tuple[int, int] = SIZE


# --- driving the app ---


async def settle(pilot: Pilot, rest: float = 0.0) -> None:
    """Until every worker finished and its reply was handled (plus `rest` seconds for timers,
    e.g. the Users screen reads a row's login state after the cursor rests on it)."""
    app = pilot.app
    for _ in range(20):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            break
    if rest:
        await pilot.pause(rest)
        await settle(pilot)


async def type_text(pilot: Pilot, text: str, rest: float = 0.4) -> None:
    """Type into the focused field (inserted at once: pressing key by key is slow, and `?` or
    digits would reach app bindings), then wait `rest` for fields that answer as you type."""
    await pilot.pause()
    focused = pilot.app.focused
    if not isinstance(focused, Input):
        raise RuntimeError(f"typing {text!r} but {focused!r} has the focus")
    focused.insert_text_at_cursor(text)
    await settle(pilot, rest)


async def log_in(pilot: Pilot, user: str) -> None:
    await settle(pilot)
    for _field in ("user name", "password"):  # demo passwords are the user names
        await type_text(pilot, user, rest=0)
        await pilot.press("enter")
        await settle(pilot)
    if getattr(pilot.app, "session", None) is None:
        raise RuntimeError(f"could not log in as {user}")


async def open_module(pilot: Pilot, module_id: str) -> None:
    module = module_by_id(module_id)
    assert module is not None
    app = pilot.app
    if app.current_mode != module_id:
        await pilot.press(module.key)
    await settle(pilot)
    if app.current_mode != module_id:
        raise RuntimeError(f"key {module.key} did not open {module_id}")


async def select_row(pilot: Pilot, key: str, table_id: str | None = None) -> None:
    """Move the cursor of the screen's (first, or `#table_id`) list onto the row `key`."""
    screen = pilot.app.screen
    scope = screen.query_one(f"#{table_id}") if table_id else screen
    table = scope.query(DataTable).first()
    table.move_cursor(row=table.get_row_index(key), animate=False)
    table.focus()
    await settle(pilot, 0.2)


def keys(*names: str) -> Steps:
    async def press(pilot: Pilot) -> None:
        await settle(pilot)
        for name in names:
            await pilot.press(name)
            await settle(pilot)

    return press


def in_module(module_id: str, *then: Steps) -> Steps:
    async def steps(pilot: Pilot) -> None:
        await open_module(pilot, module_id)
        for step in then:
            await step(pilot)

    return steps


def row(key: str, table_id: str | None = None) -> Steps:
    return lambda pilot: select_row(pilot, key, table_id)


def text(value: str) -> Steps:
    return lambda pilot: type_text(pilot, value)


async def nothing(pilot: Pilot) -> None:
    await settle(pilot)


async def audit_story(pilot: Pilot) -> None:
    """A few entries worth showing: a wrong password, a login, dave's maildrop unlocked."""
    await settle(pilot)
    await type_text(pilot, "admin", rest=0)
    await pilot.press("enter")
    await type_text(pilot, "wrong password", rest=0)
    await pilot.press("enter")
    await settle(pilot)
    await type_text(pilot, "admin", rest=0)  # the refusal keeps the name, focuses the password
    await pilot.press("enter")
    await settle(pilot)
    await open_module(pilot, "pop")
    await select_row(pilot, "dave")
    await keys("u", "y")(pilot)
    await open_module(pilot, "audit")


async def lock_now(pilot: Pilot) -> None:
    """What the idle timer does when the time is up (the frozen idle clock never gets there)."""
    app = pilot.app
    assert isinstance(app, CmailConsole) and app.session is not None
    app.idle_lock.lock(str(app.session.user))
    await settle(pilot)


# --- the screens ---

SHOTS: tuple[Shot, ...] = (
    Shot("01-login", "Login screen (80×24): user name and masked password.", nothing,
         size=LOGIN_SIZE),
    Shot("02-problem-missing-file", "Problem screen: the database file does not exist.",
         nothing, database="missing"),
    Shot("03-first-admin", "First start on an empty master database: create the first admin.",
         nothing, database="empty"),
    Shot("04-help", "Help (F1 or ?) over the Users list: every key of the screen.",
         in_module("users", keys("f1")), login="admin", module="users"),
    Shot("05-users-admin", "Users as admin: every user, login state and rights.",
         in_module("users", row("alice")), login="admin", module="users"),
    Shot("06-users-delegate", "Users as a delegate: itself and the users delegated to it.",
         in_module("users", row("bob")), login="delegate", module="users"),
    Shot("07-user-detail", "User detail (Enter on a user): everything about alice.",
         in_module("users", row("alice"), keys("enter")), login="admin", module="users"),
    Shot("08-add-user-form", "Add-user form (a), with a name typed in.",
         in_module("users", keys("a"), text("frank")), login="admin", module="users"),
    Shot("09-delete-user-confirm", "Delete confirm (d): what deleting erin takes with it.",
         in_module("users", row("erin"), keys("d")), login="admin", module="users"),
    Shot("10-my-account", "My account as the plain user alice: login, POP, sending, mail.",
         in_module("account"), login="alice", module="account"),
    Shot("11-rights-editor", "Rights editor: the permissions and delegations of delegate.",
         in_module("rights", row("delegate", "rights-users"), keys("enter")), login="admin",
         module="rights"),
    Shot("12-addresses", "Addresses: the inbound rules, highest order (checked first) on top.",
         in_module("addresses"), login="admin", module="addresses"),
    Shot("13-address-add-form", "Add-rule form (a): a store rule being typed.",
         in_module("addresses", keys("a"), text("sales@example.com"), keys("tab", "tab"),
                   text("ali")), login="admin", module="addresses"),
    Shot("14-address-trace", "Trace panel (t): where mail to info@example.org goes, hop by hop.",
         in_module("addresses", keys("t"), text("info@example.org")), login="admin",
         module="addresses"),
    Shot("15-routing", "Routing: each user's outbound router and route.",
         in_module("routing"), login="admin", module="routing"),
    Shot("16-pop-locks", "POP locks: who may use POP, and dave's locked maildrop.",
         in_module("pop"), login="admin", module="pop"),
    Shot("17-unlock-confirm", "Unlock confirm (u) on dave's lock, with core's warning.",
         in_module("pop", row("dave"), keys("u")), login="admin", module="pop"),
    Shot("18-mailbox-users", "Mailbox: users with their mail counts and where it is stored.",
         in_module("mailbox"), login="admin", module="mailbox"),
    Shot("19-mailbox-mails", "A user's mails (Enter on alice): headers and the selected mail.",
         in_module("mailbox", row("alice"), keys("enter", "down")), login="admin",
         module="mailbox"),
    Shot("20-lint", "Lint: every configuration problem the daemons would trip over.",
         in_module("lint"), login="admin", module="lint"),
    Shot("21-audit", "Audit: the console's trail, after a refused login, a login and an unlock.",
         audit_story, module="audit", database="audit"),
    Shot("22-idle-lock", "Idle lock: the console covered after minutes without input.",
         in_module("users", lock_now), login="admin", module="users"),
)  # fmt: skip


# --- running ---


def make_databases() -> dict[str, str]:
    shutil.rmtree(WORK, ignore_errors=True)
    demo = WORK / "demo" / "master.db3"
    create_demo(str(demo))
    audit = WORK / "audit" / "master.db3"  # its own trail: the other shots' logins stay out
    create_demo(str(audit))
    empty = WORK / "empty" / "master.db3"
    empty.parent.mkdir(parents=True)
    create_master(str(empty))
    return {"demo": str(demo), "empty": str(empty), "missing": MISSING, "audit": str(audit)}


async def take(shot: Shot, path: str) -> None:
    app: CmailConsole = make_app(
        path,
        theme=THEME,
        clock=fixed_clock,
        cursor_blink=False,
        idle_minutes=IDLE_MINUTES,
        idle_clock=lambda: 0.0,
    )
    db = app.open_database()  # opened before the run, so the audit clock can be fixed
    if db is not None:
        db.audit.clock = lambda: AUDIT_NOW
    async with app.run_test(size=shot.size) as pilot:
        if shot.login is not None:
            await log_in(pilot, shot.login)
        await shot.steps(pilot)
        await settle(pilot, REST)  # timers (e.g. the line under a list) have fired
        app.save_screenshot(f"{shot.name}.svg", str(OUT))


def missing_module(shot: Shot) -> str | None:
    if shot.module is not None and module_by_id(shot.module) is None:
        return shot.module
    return None


def write_readme(made: list[Shot], skipped: list[Shot]) -> None:
    lines = [
        "# Screenshots",
        "",
        "Generated by `.venv/bin/python tools/make_screenshots.py` from the demo database",
        "(`core.demo`; logins admin/admin, delegate/delegate, alice/alice), theme "
        f"`{THEME}`, {SIZE[0]}×{SIZE[1]}",
        "unless noted. Do not edit by hand: run the script again after changing a screen.",
        "",
    ]
    lines += [f"* [`{s.name}.svg`]({s.name}.svg): {s.caption}" for s in made]
    if skipped:
        lines += ["", "Not generated (module not registered when the script last ran):", ""]
        lines += [f"* `{s.name}`: {s.caption}" for s in skipped]
    (OUT / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def take_one(index: int, path: str) -> str | None:
    """In a worker process: make SHOTS[index]; the error as text, or None."""
    shot = SHOTS[index]
    try:
        asyncio.run(take(shot, path))
    except Exception as error:  # one broken screen must not hide the others
        return f"{type(error).__name__}: {error}"
    return None


def main() -> int:
    started = time.monotonic()
    OUT.mkdir(exist_ok=True)
    paths = make_databases()
    made: list[Shot] = []
    skipped: list[Shot] = []
    failed: list[str] = []
    todo: list[int] = []
    for index, shot in enumerate(SHOTS):
        if missing_module(shot):
            print(f"skipped: {shot.name} (module not registered)")
            skipped.append(shot)
        else:
            todo.append(index)
    # Each image in its own app, a few at a time: most of the time goes into waiting for the
    # screen to settle, not into the CPU. Forked workers inherit SHOTS (steps are closures).
    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(todo)))
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            paths_todo = [paths[SHOTS[i].database] for i in todo]
            for index, error in zip(todo, pool.map(take_one, todo, paths_todo), strict=True):
                shot = SHOTS[index]
                if error is None:
                    print(f"wrote: {OUT.name}/{shot.name}.svg")
                    made.append(shot)
                else:
                    print(f"FAILED: {shot.name}: {error}")
                    failed.append(shot.name)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    keep = {f"{shot.name}.svg" for shot in made} | {f"{name}.svg" for name in failed}
    for old in OUT.glob("*.svg"):
        if old.name not in keep:
            old.unlink()  # renamed or skipped screens: an old image would show a stale screen
    write_readme(made, skipped)
    print(f"{len(made)} images, {len(skipped)} skipped, {len(failed)} failed, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
