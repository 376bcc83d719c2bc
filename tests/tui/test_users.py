"""The Users screen: rows and keys per role, every form and confirm flow, and their effect on
the database."""

from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static
from tuikit import MARKUP_USER, PASSWORDS, settle, sql

from core.passwords import verify
from core.services import users as core_users
from tui.app import CmailConsole
from tui.screens.user_forms import FormModal, UserDetailModal
from tui.screens.users import INFO_DELAY, MAILS_COLUMN, UsersScreen
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import PagedTable

SIZE = (80, 24)


# --- helpers ----------------------------------------------------------------------------------
def rows(path: Path, statement: str, *args: object) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(statement, args).fetchall()
    finally:
        connection.close()


def authdata(path: Path, user: str) -> str | None:
    found = rows(path, "SELECT user_authdata FROM users WHERE user_name = ?", user)
    assert found, f"no user {user}"
    return found[0][0]


def user_exists(path: Path, user: str) -> bool:
    return bool(rows(path, "SELECT 1 FROM users WHERE user_name = ?", user))


class T(str):
    """Text typed into the focused field at once (pressing it key by key is slow)."""


async def act(pilot: Pilot, *steps: str) -> None:
    """Press keys, and type `T("…")` text into whichever field has the focus then."""
    for step in steps:
        if isinstance(step, T):
            await pilot.pause()
            focused = pilot.app.focused
            assert isinstance(focused, Input), f"typing {step!r} with {focused} focused"
            focused.insert_text_at_cursor(step)
        else:
            await pilot.press(step)
    await pilot.pause()


async def ready(pilot: Pilot) -> None:
    """Workers done, and the line under the list (read after a short rest) shown."""
    await settle(pilot)
    await pilot.pause(INFO_DELAY + 0.05)
    await settle(pilot)


async def open_users(app: CmailConsole, pilot: Pilot) -> UsersScreen:
    await ready(pilot)
    if not isinstance(app.screen, UsersScreen):
        await pilot.press("1")  # a plain user lands on My account
        await ready(pilot)
    screen = app.screen
    assert isinstance(screen, UsersScreen)
    return screen


async def select(pilot: Pilot, screen: UsersScreen, user: str) -> None:
    table = screen.table.table
    table.move_cursor(row=table.get_row_index(user))
    await settle(pilot)
    assert screen.table.selected.name == user


def keys(app: CmailConsole) -> dict[str, bool]:
    """Key → enabled, for the keys shown now (hidden keys are absent)."""
    return {key: active.enabled for key, active in app.screen.active_bindings.items()}


def names(screen: UsersScreen) -> list[str]:
    return [user.name for user in screen.table.records]


def cells(screen: UsersScreen, user: str) -> list[str]:
    return [cell.plain for cell in screen.table.table.get_row(user)]


def shown_text(widget: Static) -> str:
    """What a Static holding a rich renderable (e.g. a grid) shows, as plain text."""
    console = Console(width=300, record=True, file=io.StringIO())  # no wrapping
    console.print(widget.content)
    return console.export_text()


def form_message(app: CmailConsole) -> str:
    return str(app.screen.query_one("#form-message").content)


def errors(app: CmailConsole) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def messages(app: CmailConsole) -> list[str]:
    return [n.message for n in app._notifications]


# --- what is shown ----------------------------------------------------------------------------
async def test_admin_lands_on_users_and_sees_every_user(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        assert set(names(screen)) == {
            r[0] for r in rows(console_path, "SELECT user_name FROM users")
        }
        assert cells(screen, "kitinfo") == [
            "kitinfo", "yes", "—", "…il/userdb.db3", "0", "0", "yes", "yes"
        ]  # fmt: skip
        assert cells(screen, "mpease")[4] == "2"  # store routes 100 and 203
        assert cells(screen, "cbdev")[5] == "1"  # one mail in the master mailbox
        assert cells(screen, "foo")[1] == "no"  # no password: no login
        assert cells(screen, "a1")[2] == "a2"


async def test_the_line_under_the_list_names_malformed_and_shared_logins(
    console, session_for, console_path
):
    sql(console_path, "UPDATE users SET user_authdata = 'nocolon' WHERE user_name = 'test'")
    sql(console_path, "UPDATE users SET user_authdata = ? WHERE user_name = 'spam'",
        authdata(console_path, "a3"))  # fmt: skip
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        info = screen.query_one("#users-info")
        await select(pilot, screen, "test")
        await ready(pilot)
        assert "MALFORMED: no colon between salt and hash" in str(info.content)
        await select(pilot, screen, "spam")
        await ready(pilot)
        assert "SHARED: same password entry as a3" in str(info.content)
        assert "rights: admin" in str(info.content)


async def test_enter_shows_the_detail_of_a_user(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "mpease")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserDetailModal)
        text = shown_text(app.screen.query_one("#detail-grid"))
        detail = app.screen.user
        assert detail.name == "mpease" and detail.rights == ("admin",)
        assert [r.order for r in detail.store_routes] == [203, 100]
        for expected in ("203  mpease@kitinfo.de", "100  t%t@kitinfo.de", "any: may send"):
            assert expected in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)


async def test_the_detail_opens_before_its_whole_table_lines(console, session_for, monkeypatch):
    """Enter shows what is read by key at once; who is an alias, the mail count and a shared
    password entry (passes over whole tables) follow, "counting…" meanwhile."""
    release = threading.Event()
    get_user = core_users.get_user

    def held_back(db, session, name, *, whole_table=True):
        if whole_table:
            release.wait(10)
        return get_user(db, session, name, whole_table=whole_table)

    monkeypatch.setattr(core_users, "get_user", held_back)
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "a2")
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause()
            if isinstance(app.screen, UserDetailModal):
                break
        modal = app.screen
        text = shown_text(modal.query_one("#detail-grid"))
        assert "Aliased by           counting…" in text and "Mails                counting…" in text
        assert "alias of a3: logins act as a3" in text  # read by key: shown at once
        assert "shared with another user? checking…" in text
        release.set()
        await settle(pilot)
        text = shown_text(modal.query_one("#detail-grid"))
        assert "Aliased by           a1" in text and "Mails                0 in the master" in text
        assert "counting…" not in text and "checking…" not in text
        assert modal.user == get_user(app.db, session_for("cbdev"), "a2")


async def test_database_strings_are_shown_literally(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        cell = screen.table.table.get_row(MARKUP_USER)[0]
        assert cell.plain == "[b]x[/b]\\e[31m"  # markup as typed, ESC as a visible escape
        assert cell.spans == [] and not cell.style
        await select(pilot, screen, MARKUP_USER)
        await ready(pilot)
        assert str(screen.query_one("#users-info").content).startswith("[b]x[/b]\\e[31m · login")
        await pilot.press("d")
        await settle(pilot)
        title = app.screen.query_one(".dialog-title").content
        assert "[b]x[/b]\\e[31m" in str(title)


async def test_filter_narrows_the_rows_and_escape_clears_it(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        total = len(names(screen))
        await act(pilot, "slash", T("st"), "enter")
        await settle(pilot)
        assert names(screen) == ["nulltest", "postmaster", "test"]
        await pilot.press("slash", *"zzz", "enter")  # typing replaces the old filter
        await settle(pilot)
        assert "No user name contains 'zzz'" in str(screen.query_one("#empty").content)
        await pilot.press("escape")
        await settle(pilot)
        assert len(names(screen)) == total


async def test_s_sorts_by_name_descending_and_back(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        ascending = names(screen)
        await pilot.press("s")
        await settle(pilot)
        assert names(screen) == sorted(ascending, reverse=True)
        assert "name Z→A (s)" in str(screen.query_one("#summary").content)
        await pilot.press("s")
        await settle(pilot)
        assert names(screen) == ascending


# --- keys per role ----------------------------------------------------------------------------
async def test_admin_has_every_key_but_not_on_its_own_row(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "mpease")
        shown = keys(app)
        assert all(shown[k] for k in "apvRdlbns")
        await select(pilot, screen, "cbdev")
        shown = keys(app)
        assert shown["p"] and not shown["v"] and not shown["d"]  # dimmed: core refuses self


async def test_delegate_never_sees_admin_keys_and_acts_on_managed_users(console, session_for):
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        assert names(screen) == ["deleg", "kitinfo", "plain"]
        for action in ("alias", "database", "rename"):
            assert screen.check_action(action, ()) is False  # hidden
        await select(pilot, screen, "plain")
        shown = keys(app)
        assert {"l", "b", "n"}.isdisjoint(shown)
        assert shown["a"] and shown["p"] and shown["v"] and shown["d"]
        await select(pilot, screen, "kitinfo")  # managed, but holds admin: seen, not changed
        shown = keys(app)
        assert shown["p"] is False and shown["v"] is False and shown["d"] is False
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, UsersScreen)  # a dimmed key does nothing
        await select(pilot, screen, "deleg")
        shown = keys(app)
        assert shown["p"] and not shown["d"] and not shown["v"]


async def test_plain_user_sees_only_itself_and_only_the_password_key(console, session_for):
    app = console(session=session_for("plain"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        assert names(screen) == ["plain"]
        shown = keys(app)
        assert shown["p"]
        assert {"a", "v", "R", "d", "l", "b", "n"}.isdisjoint(shown)


# --- adding -----------------------------------------------------------------------------------
async def test_admin_adds_a_user_with_a_password_and_the_admin_right(
    console, session_for, console_path
):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormModal)
        assert app.focused.id == "name"
        assert form.query_one("#password", Input).password  # masked
        await act(pilot, T("newbie"), "enter")  # → the admin box
        assert app.focused.id == "right-admin"
        await pilot.press("space", "tab", "tab")  # tick admin, past delegate, to alias
        assert app.focused.id == "alias"
        await act(pilot, "enter", T("s3cret"), "enter", T("s3cret"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert verify(authdata(console_path, "newbie"), "s3cret")
        access = "SELECT api_permission FROM api_access WHERE api_user = ?"
        assert rows(console_path, access, "newbie") == [("admin",)]
        assert screen.table.selected.name == "newbie"  # the new row is selected
        assert "User newbie added." in messages(app)


async def test_passwords_that_differ_keep_the_form_open(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await open_users(app, pilot)
        await act(pilot, "a", T("newbie"), "tab", "tab", "tab", "tab")
        assert app.focused.id == "password"
        await act(pilot, T("one"), "enter", T("two"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        assert "differ" in form_message(app)
        assert app.screen.query_one("#password", Input).value == ""
        assert not user_exists(console_path, "newbie")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert not user_exists(console_path, "newbie")


async def test_a_refusal_appears_in_the_form(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await open_users(app, pilot)
        await act(pilot, "a", T("mpease"), "tab", "tab", "tab", "tab", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)  # still open, the name still typed
        assert "A user named 'mpease' already exists" in form_message(app)
        assert app.screen.query_one("#name", Input).value == "mpease"


async def test_delegate_adds_a_user_it_then_manages(console, session_for, console_path):
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert not form.query("#right-admin") and not form.query("#alias")  # admin-only
        await act(pilot, T("fresh"), "enter", T("pw"), "enter", T("pw"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert verify(authdata(console_path, "fresh"), "pw")
        delegation = "SELECT api_user, api_delegate FROM api_user_delegates WHERE api_delegate = ?"
        assert rows(console_path, delegation, "fresh") == [("deleg", "fresh")]
        assert "fresh" in names(screen)
        assert keys(app)["d"]  # the new user is one of its own now


# --- deleting ---------------------------------------------------------------------------------
async def test_delete_confirm_lists_what_cascades_and_what_dangles(
    console, session_for, console_path
):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "mpease")
        await pilot.press("d")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmModal)
        assert app.focused is dialog.query_one("#no")
        lines = [str(s.content) for s in dialog.query(".dialog-line")]
        assert lines[0] == (
            "Deleting user mpease would also delete: its smtpd entry; its rights (admin)."
        )
        assert (
            "would dangle (mail to them gets 554): 203 mpease@kitinfo.de, 100 t%t@kitinfo.de"
            in (lines[1])
        )
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert user_exists(console_path, "mpease")

        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert not user_exists(console_path, "mpease")
        assert "mpease" not in names(screen)
        assert any("now dangle" in m for m in messages(app))


STORE_RULES_OF_MPEASE = "SELECT address_route FROM addresses WHERE address_order IN (100, 203)"


async def ask_to_delete(pilot: Pilot, name: str) -> None:
    screen = await open_users(pilot.app, pilot)
    await select(pilot, screen, name)
    await act(pilot, "d")
    await settle(pilot)


async def test_delete_takes_the_store_rules_along(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await ask_to_delete(pilot, "mpease")
        buttons = [str(b.label) for b in app.screen.query("Button")]
        assert buttons == ["No", "Delete", "Delete with its store rules", "Move its store rules…"]
        await act(pilot, "r")
        await settle(pilot)
        assert not user_exists(console_path, "mpease")
        assert rows(console_path, STORE_RULES_OF_MPEASE) == []
        assert any("Its store rules were deleted too" in m for m in messages(app))


async def test_delete_moves_the_store_rules_to_another_user(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await ask_to_delete(pilot, "mpease")
        await act(pilot, "m", T("nobody"), "enter")
        await settle(pilot)
        assert user_exists(console_path, "mpease")  # refused: no user nobody
        assert any("there is no user 'nobody'" in m for m in messages(app))
        await act(pilot, "d")
        await settle(pilot)
        await act(pilot, "m", T("kitinfo"), "enter")
        await settle(pilot)
        assert not user_exists(console_path, "mpease")
        assert rows(console_path, STORE_RULES_OF_MPEASE) == [("kitinfo",), ("kitinfo",)]


async def test_a_user_without_store_rules_is_asked_yes_or_no(console, session_for):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await ask_to_delete(pilot, "foo")
        assert [str(b.label) for b in app.screen.query("Button")] == ["No", "Delete"]


@pytest.mark.parametrize("answer", ["escape", "enter"])  # enter presses the focused No
async def test_declining_a_delete_changes_nothing(console, session_for, console_path, answer):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "foo")
        await pilot.press("d")
        await settle(pilot)
        await pilot.press(answer)
        await settle(pilot)
        assert user_exists(console_path, "foo")


async def test_delegate_deletes_a_managed_user(console, session_for, console_path):
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "plain")
        await pilot.press("d")
        await settle(pilot)
        lines = [str(s.content) for s in app.screen.query(".dialog-line")]
        assert "its POP entry" in lines[0] and "its delegation to deleg" in lines[0]
        await pilot.press("y")
        await settle(pilot)
        assert not user_exists(console_path, "plain")
        assert names(screen) == ["deleg", "kitinfo"]


# --- passwords and logins ---------------------------------------------------------------------
async def test_own_password_needs_the_current_one(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "cbdev")
        before = authdata(console_path, "cbdev")
        await pilot.press("p")
        await settle(pilot)
        assert app.focused.id == "current"
        await act(pilot, T("wrong"), "enter", T("new-pw"), "enter", T("new-pw"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        assert "needs your current password" in form_message(app)
        assert authdata(console_path, "cbdev") == before
        assert app.focused.id == "current"  # a refusal starts the form over at the top
        await act(pilot, T(PASSWORDS["cbdev"]), "enter", T("new-pw"), "enter", T("new-pw"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert verify(authdata(console_path, "cbdev"), "new-pw")
        assert "Password of cbdev changed." in messages(app)
        await pilot.press("r")  # the session survived its own password change
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen) and app.session is not None


async def test_admin_sets_another_users_password_without_the_current(
    console, session_for, console_path
):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "foo")
        await pilot.press("p")
        await settle(pilot)
        assert not app.screen.query("#current")
        await pilot.press("enter", "enter")  # an empty password is not sent (it would revoke)
        assert "Type the new password" in form_message(app)
        assert app.focused.id == "password"
        await act(pilot, T("foo-pw"), "enter", T("foo-pw"), "enter")
        await settle(pilot)
        assert verify(authdata(console_path, "foo"), "foo-pw")
        assert cells(screen, "foo")[1] == "yes"


async def test_revoke_asks_then_disables_the_login(console, session_for, console_path):
    app = console(session=session_for("deleg"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "plain")
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "Revoke the login of plain?" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("y")
        await settle(pilot)
        assert authdata(console_path, "plain") is None
        assert cells(screen, "plain")[1] == "no"
        assert keys(app)["v"] is False  # nothing left to revoke


# --- admin-only edits -------------------------------------------------------------------------
async def test_alias_is_set_and_cleared(console, session_for, console_path):
    alias = "SELECT user_alias FROM users WHERE user_name = 'foo'"
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "foo")
        await act(pilot, "l", T("user"), "enter")
        await settle(pilot)
        assert rows(console_path, alias) == [("user",)]
        assert cells(screen, "foo")[2] == "user"
        await pilot.press("l")
        await settle(pilot)
        assert app.screen.query_one("#value", Input).value == "user"  # prefilled
        await pilot.press("ctrl+u", "enter")  # empty clears
        await settle(pilot)
        assert rows(console_path, alias) == [(None,)]


async def test_a_bad_user_database_is_refused_inside_the_form(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "foo")
        await act(pilot, "b", T("relative.db3"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, FormModal)
        assert "must be an absolute path" in form_message(app)
        await pilot.press("escape")
        await settle(pilot)
        assert rows(console_path, "SELECT user_database FROM users WHERE user_name='foo'") == [
            (None,)
        ]


async def test_rename_retargets_store_routes(console, session_for, console_path):
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        screen = await open_users(app, pilot)
        await select(pilot, screen, "mpease")
        await act(pilot, "n", "ctrl+u", T("mp"), "enter")
        await settle(pilot)
        assert not user_exists(console_path, "mpease") and user_exists(console_path, "mp")
        routes = "SELECT address_order FROM addresses WHERE address_route = 'mp' ORDER BY 1"
        assert rows(console_path, routes) == [(100,), (203,)]
        assert screen.table.selected.name == "mp"


# --- snapshots --------------------------------------------------------------------------------
def test_users_admin(snap_compare, console, session_for):
    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_users_delegate(snap_compare, console, session_for):
    app = console(session=session_for("deleg"))
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_add_user_form(snap_compare, console, session_for):
    async def add(pilot: Pilot) -> None:
        await ready(pilot)
        await act(pilot, "a", T("newbie"))
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=add)


def test_delete_confirm(snap_compare, console, session_for):
    async def ask(pilot: Pilot) -> None:
        screen = await open_users(pilot.app, pilot)
        await select(pilot, screen, "mpease")
        await pilot.press("d")
        await settle(pilot)

    app = console(session=session_for("cbdev"))
    assert snap_compare(app, terminal_size=SIZE, run_before=ask)


async def test_mail_counts_follow_the_first_page(console, session_for, monkeypatch):
    """The page paints without its Mails column (a pass over the whole mailbox), then fills it."""
    first: list[str] = []
    show = PagedTable._show

    def recorded(table: PagedTable, *args: object) -> None:
        show(table, *args)  # type: ignore[arg-type]
        if not first and table.id == "users-table":
            first.append(mails_of(table, "cbdev"))

    def mails_of(table: PagedTable, name: str) -> str:
        column = table.table.ordered_columns[MAILS_COLUMN].key
        return str(table.table.get_cell(name, column))

    monkeypatch.setattr(PagedTable, "_show", recorded)
    app = console(session=session_for("cbdev"))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert first == ["…"]
        assert mails_of(app.screen.table, "cbdev") == "1"  # the sample's one mail
