"""The Mailbox screen: counts per user, a user's mail, read flags and deletes, for every role.

Two databases: cmail's sample (cbdev has mail 483 in master; kitinfo's user database path is
broken) and the demo (fixed mail in master for alice, admin, dave and bob, and bob's user
database; dave's maildrop is POP-locked).
"""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tuikit import MARKUP_USER, fixed_clock, settle, sql

import tui.modules
from core.db import Database
from core.demo import create_demo
from core.services import mailbox
from core.session import login
from tui.app import CmailConsole, make_app
from tui.screens.mailbox import MailboxScreen, format_size, format_time
from tui.widgets.confirm import ConfirmModal

SIZE = (80, 24)
KITINFO_WARNING = (
    "Warning: The user database /home/cbdev/dev/cmail/userdb.db3 of kitinfo was not read: "
    "the file does not exist."
)


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def demo_path(tmp_path: Path) -> Path:
    info = create_demo(str(tmp_path / "demo" / "demo.db3"))
    return Path(info.path)


@pytest.fixture
def demo(demo_path: Path) -> Callable[[str], CmailConsole]:
    """`demo(name)`: the console on the demo database, logged in as `name` (password = name)."""

    def make(name: str) -> CmailConsole:
        session = login(Database(str(demo_path)), name, name)
        return make_app(
            str(demo_path), session=session, theme="textual-dark", clock=fixed_clock,
            cursor_blink=False,
        )  # fmt: skip

    return make


def sample_app(console, session_for, name: str) -> CmailConsole:
    return console(session=session_for(name))


def mail_row(path: Path, mail_id: int) -> tuple[str, int] | None:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT mail_user, mail_read FROM mailbox WHERE mail_id = ?", (mail_id,)
        ).fetchone()
    finally:
        connection.close()
    return row


async def open_mailbox(pilot) -> MailboxScreen:
    await settle(pilot)
    assert not isinstance(pilot.app.screen, MailboxScreen)  # landed on another module
    await pilot.press("6")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MailboxScreen)
    return screen


async def open_user(pilot, screen: MailboxScreen, user: str, key: str = "enter") -> MailboxScreen:
    await select_user(pilot, screen, user)
    await pilot.press(key)
    await settle(pilot)
    mails = pilot.app.screen
    assert isinstance(mails, MailboxScreen) and mails.owner == user
    return mails


async def select_user(pilot, screen: MailboxScreen, user: str) -> None:
    table = screen.users.table
    table.move_cursor(row=table.get_row_index(user))
    await pilot.pause()
    assert screen.users.selected.name == user


def user_cells(screen: MailboxScreen, user: str) -> list[str]:
    return [cell.plain for cell in screen.users.table.get_row(user)]


def mail_ids(screen: MailboxScreen) -> list[tuple[str, int]]:
    return [(m.source, m.id) for m in screen.mails.records]


def mail_cells(screen: MailboxScreen, source: str, mail_id: int) -> list[str]:
    return [cell.plain for cell in screen.mails.table.get_row(str((source, mail_id)))]


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).content)


def keys(app) -> dict[str, bool]:
    """Key → enabled, for the keys shown now (hidden keys are absent)."""
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


# --- admin on the sample -----------------------------------------------------------------------


async def test_admin_sees_counts_per_user_and_the_broken_user_database(console, session_for):
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mailbox(pilot)
        assert screen.owner is None  # the users view
        assert user_cells(screen, "cbdev") == ["cbdev", "1", "—", "1", ""]
        kitinfo = user_cells(screen, "kitinfo")
        assert kitinfo[1:4] == ["0", "error", "0"]
        assert kitinfo[4] == "user database not read: the file does not exist"
        assert user_cells(screen, "a2")[4] == "alias of a3"
        assert keys(app)["o"] and "r" not in keys(app) and "d" not in keys(app)
        assert "Enter or o: open the user's mail" in text_of(screen, "#summary")


async def test_the_users_view_shows_names_before_their_counts(console, session_for, monkeypatch):
    """Counting mail reads the whole mailbox (no index on mail_user): the page of names is on
    screen first, with … for its counts, and the counts follow."""
    release = threading.Event()
    mail_counts = mailbox.mail_counts

    def held_back(db, session, names):
        release.wait(10)
        return mail_counts(db, session, names)

    monkeypatch.setattr(mailbox, "mail_counts", held_back)
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6")
        for _ in range(200):
            await pilot.pause()
            screen = app.screen
            if isinstance(screen, MailboxScreen) and screen.users.ready:
                break
        assert screen.users.ready
        assert user_cells(screen, "cbdev") == ["cbdev", "…", "…", "…", ""]
        assert user_cells(screen, "kitinfo") == ["kitinfo", "…", "…", "…", ""]
        release.set()
        await settle(pilot)
        assert user_cells(screen, "cbdev") == ["cbdev", "1", "—", "1", ""]
        assert user_cells(screen, "kitinfo")[4] == "user database not read: the file does not exist"


async def test_admin_marks_483_read_then_deletes_it(console, session_for, console_path):
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        users = await open_mailbox(pilot)
        screen = await open_user(pilot, users, "cbdev")
        assert mail_ids(screen) == [("master", 483)]
        assert mail_cells(screen, "master", 483) == [
            "master", "483", "unread", "2015-11-18 18:36", "cb@cbcdn.com",
            "test Wed, 18 Nov 2015 19:36:33 +0100", "cbdev@kitinfo.de", "370 B",
        ]  # fmt: skip
        assert "Mail of cbdev · master mailbox only" in text_of(screen, "#mail-head")
        assert text_of(screen, "#mail-detail").splitlines() == [
            "Mail 483 in master · unread · 2015-11-18 18:36:33 UTC · 370 bytes",
            "From cb@cbcdn.com to cbdev@kitinfo.de",
            "Subject: test Wed, 18 Nov 2015 19:36:33 +0100",
        ]
        assert "o" not in keys(app) and keys(app)["r"] and keys(app)["d"]

        await pilot.press("r")
        await settle(pilot)
        assert mail_row(console_path, 483) == ("cbdev", 1)
        assert mail_cells(screen, "master", 483)[2] == "read"
        assert "Mail 483 of cbdev in master is marked read." in messages(app)
        await pilot.press("r")  # a toggle: back to unread
        await settle(pilot)
        assert mail_row(console_path, 483) == ("cbdev", 0)

        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert app.focused is dialog.query_one("#no")  # the safe answer first
        assert text_of(dialog, ".dialog-title") == "Delete mail 483 of cbdev?"
        lines = [str(s.content) for s in dialog.query(".dialog-line")]
        assert lines == [
            "Mail 483 in master: from cb@cbcdn.com, subject 'test Wed, 18 Nov 2015 19:36:33 "
            "+0100', 2015-11-18 18:36 UTC, 370 bytes.",
            "It is deleted from the master mailbox for good: this cannot be undone.",
        ]
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen
        assert mail_row(console_path, 483) == ("cbdev", 0)  # unchanged

        await pilot.press("d", "y")
        await settle(pilot)
        assert mail_row(console_path, 483) is None
        assert screen.mails.records == []
        assert "cbdev has no stored mail." in text_of(screen, "#empty")
        assert "Mail 483 of cbdev in master is deleted." in messages(app)
        assert keys(app)["d"] is False  # dimmed: nothing to delete

        await pilot.press("escape")  # back to the users list, counts fresh
        await settle(pilot)
        assert app.screen is users
        assert user_cells(users, "cbdev")[1:4] == ["0", "—", "0"]


@pytest.mark.parametrize("answer", ["escape", "enter"])  # enter presses the focused No
async def test_declining_the_delete_changes_nothing(console, session_for, console_path, answer):
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_user(pilot, await open_mailbox(pilot), "cbdev", key="o")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press(answer)
        await settle(pilot)
        assert app.screen is screen
        assert mail_row(console_path, 483) == ("cbdev", 0)


async def test_broken_user_database_is_a_warning_not_a_failure(console, session_for):
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_user(pilot, await open_mailbox(pilot), "kitinfo")
        assert screen.query_one("#mail-warnings").display
        assert text_of(screen, "#mail-warnings") == KITINFO_WARNING
        assert "user database /home/cbdev/dev/cmail/userdb.db3" in text_of(screen, "#mail-head")
        assert "kitinfo has no stored mail that could be read (see the warning above)." in (
            text_of(screen, "#empty")
        )
        assert not [n for n in app._notifications if n.severity == "error"]


async def test_database_strings_are_shown_literally(console, session_for, console_path):
    sql(
        console_path,
        "INSERT INTO mailbox (mail_user, mail_envelopeto, mail_envelopefrom, mail_submission, "
        "mail_data) VALUES (?, 'x@example.com', '[i]evil[/i]', 'yesterday', ?)",
        MARKUP_USER,
        "Subject: [b]bold[/b]\x1b[31m\r\n\r\nbody",
    )
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        users = await open_mailbox(pilot)
        assert user_cells(users, MARKUP_USER)[0] == "[b]x[/b]\\e[31m"
        screen = await open_user(pilot, users, MARKUP_USER)
        (mail,) = screen.mails.records
        cells = screen.mails.table.get_row(str(mail.key))
        assert cells[3].plain == "yesterday"  # not a unix time: shown as stored
        assert cells[4].plain == "[i]evil[/i]" and not cells[4].spans
        assert cells[5].plain == "[b]bold[/b]\\e[31m" and not cells[5].spans
        assert "Mail of [b]x[/b]\\e[31m" in text_of(screen, "#mail-head")


# --- other roles -------------------------------------------------------------------------------


async def test_plain_user_goes_straight_to_its_own_mail(demo, demo_path):
    app = demo("alice")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        landing = type(app.screen)  # leaving a module releases its screen: a new one comes back
        screen = await open_mailbox(pilot)
        assert screen.owner == "alice" and not screen.pushed
        assert [m.id for m in screen.mails.records] == [1, 2, 3]
        assert {m.envelope_to for m in screen.mails.records} <= {
            "alice@example.com",
            "al@example.com",
        }
        assert mail_cells(screen, "master", 2)[5] == "Grüße aus Köln"  # RFC 2047 decoded
        assert mail_cells(screen, "master", 3)[4] == "<>"  # a bounce
        assert not screen.query("#mailbox-users")
        assert "cmail console › Mailbox › alice" in str(screen.query_one("#crumbs").content)
        await pilot.press("down")
        await pilot.press("r")
        await settle(pilot)
        assert mail_row(demo_path, 2) == ("alice", 1)
        await pilot.press("escape")  # the module's own screen: back to the previous module
        await settle(pilot)
        assert type(app.screen) is landing


async def test_plain_user_without_mail_sees_why(console, session_for):
    app = sample_app(console, session_for, "plain")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_mailbox(pilot)
        assert screen.owner == "plain"
        assert "plain has no stored mail." in text_of(screen, "#empty")
        assert keys(app)["r"] is False and keys(app)["d"] is False  # shown, dimmed


async def test_delegate_sees_itself_and_its_users_and_reads_a_user_database(demo, demo_path):
    app = demo("delegate")
    async with app.run_test(size=SIZE) as pilot:
        users = await open_mailbox(pilot)
        assert [row.name for row in users.users.records] == ["bob", "carol", "dave", "delegate"]
        assert user_cells(users, "bob")[1:4] == ["1", "2", "2"]
        screen = await open_user(pilot, users, "bob")
        userdb = str(demo_path.with_name("demo-userdb.db3"))
        assert mail_ids(screen) == [("master", 6), (userdb, 1), (userdb, 2)]
        assert [mail_cells(screen, *key)[0] for key in mail_ids(screen)] == [
            "master",
            "userdb",
            "userdb",
        ]
        screen.mails.table.move_cursor(row=1)
        await pilot.pause()
        await pilot.press("r")
        await settle(pilot)
        assert mail_row(Path(userdb), 1) == ("bob", 1)
        assert mail_row(demo_path, 1) == ("alice", 1)  # master's mail 1 is someone else's
        await pilot.press("escape")
        await settle(pilot)
        assert user_cells(users, "bob")[3] == "1"


async def test_delegate_cannot_open_a_managed_admins_mail(console, session_for):
    app = sample_app(console, session_for, "deleg")
    async with app.run_test(size=SIZE) as pilot:
        users = await open_mailbox(pilot)
        assert [row.name for row in users.users.records] == ["deleg", "kitinfo", "plain"]
        await select_user(pilot, users, "kitinfo")  # managed, but holds admin rights
        assert keys(app)["o"] is False  # shown dimmed
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is users  # a dimmed key does nothing
        await select_user(pilot, users, "plain")
        assert keys(app)["o"] is True


async def test_delete_on_a_pop_locked_maildrop_shows_cores_warning(demo, demo_path):
    app = demo("admin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_user(pilot, await open_mailbox(pilot), "dave")
        assert mail_ids(screen) == [("master", 5)]
        await pilot.press("d", "y")
        await settle(pilot)
        assert mail_row(demo_path, 5) is None
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert warnings == [
            "dave's maildrop is locked by a POP session, which still lists the old state."
        ]


async def test_alias_note(demo):
    app = demo("admin")
    async with app.run_test(size=SIZE) as pilot:
        users = await open_mailbox(pilot)
        assert user_cells(users, "al")[4] == "alias of alice"
        screen = await open_user(pilot, users, "al")
        assert "Mail of al (an alias of alice)" in text_of(screen, "#mail-head")
        assert "POP logins as al open alice's maildrop" in text_of(screen, "#mail-warnings")


async def test_filter_users(demo):
    app = demo("admin")
    async with app.run_test(size=SIZE) as pilot:
        users = await open_mailbox(pilot)
        await pilot.press("slash", *"ar", "enter")
        await settle(pilot)
        assert [row.name for row in users.users.records] == ["carol"]
        await pilot.press("slash", *"zzz", "enter")
        await settle(pilot)
        assert "No user name contains 'zzz'" in text_of(users, "#empty")
        await pilot.press("escape")
        await settle(pilot)
        assert len(users.users.records) == 10


async def test_read_only_database_hides_the_write_keys(console, session_for, monkeypatch):
    import core.db

    session = session_for("cbdev")
    monkeypatch.setattr(core.db, "is_writable", lambda path: False)
    app = console(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await open_user(pilot, await open_mailbox(pilot), "cbdev")
        assert "r" not in keys(app) and "d" not in keys(app)


# --- the module switch -------------------------------------------------------------------------


@pytest.fixture
def mailbox_disabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The module list is read when tui.modules is imported (as the console starts)."""
    monkeypatch.setenv("CMAIL_CONSOLE_DISABLE", "mailbox")
    importlib.reload(tui.modules)
    yield
    monkeypatch.delenv("CMAIL_CONSOLE_DISABLE")
    importlib.reload(tui.modules)


async def test_module_is_hidden_when_disabled(mailbox_disabled, console, session_for):
    assert tui.modules.module_by_id("mailbox") is None
    app = sample_app(console, session_for, "cbdev")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        landing = app.screen
        assert "mailbox" not in [m.id for m in app.visible_modules()]
        assert "Mailbox" not in str(landing.query_one("#module-bar").content)
        await pilot.press("6")
        await settle(pilot)
        assert app.screen is landing


def test_module_is_registered_by_default():
    module = tui.modules.module_by_id("mailbox")
    assert module is not None and module.key == "6" and module.screen is MailboxScreen


# --- cell formats ------------------------------------------------------------------------------


def test_formats():
    assert format_time("0") == "1970-01-01 00:00"
    assert format_time("99999999999999999999") == "99999999999999999999"
    assert format_time("\x1b") == "\\e"
    assert [format_size(n) for n in (None, 0, 9999, 10_000, 20_000_000)] == [
        "?", "0 B", "9999 B", "9 kB", "19 MB",
    ]  # fmt: skip


# --- snapshots (sync: snap_compare cannot run inside an async test) ----------------------------


def test_snapshot_users_as_admin(snap_compare, demo):
    async def go(pilot):
        await open_mailbox(pilot)

    assert snap_compare(demo("admin"), terminal_size=SIZE, run_before=go)


def test_snapshot_mail_list(snap_compare, demo):
    async def go(pilot):
        users = await open_mailbox(pilot)
        await open_user(pilot, users, "alice")
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(demo("admin"), terminal_size=SIZE, run_before=go)


def test_snapshot_delete_confirm(snap_compare, console, session_for):
    async def go(pilot):
        users = await open_mailbox(pilot)
        await open_user(pilot, users, "cbdev")
        await pilot.press("d")
        await settle(pilot)

    assert snap_compare(sample_app(console, session_for, "cbdev"), terminal_size=SIZE,
                        run_before=go)  # fmt: skip
