"""My account: what the database says about the plain user who is logged in, and the few
things cmail lets such a user change about itself (its password, its POP entry).

Everything on this screen is read through core as that user, so it can only ever show the
user's own rows: its store addresses (`addresses.list_rules` shows a plain user only the rules
that store mail for it), its outbound router (`smtpd.get`), its POP entry (`popd.get`).

The screen shows what is read by key first, and then what needs a pass over a whole table
(who is an alias of the user, its mail counts: cmail's schema has no index for either), so at
a million users the account appears as fast as at ten thousand and those two lines follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.access import Session
from core.db import Database
from core.errors import NotFound
from core.records import Change, Page
from core.services import addresses, mailbox, popd, smtpd, users
from core.services.addresses import AddressRule
from core.services.mailbox import MailCount
from core.services.popd import PopEntry
from core.services.smtpd import SmtpdEntry
from core.services.users import UserDetail, UserLinks
from tui.screens.base import ModuleScreen
from tui.screens.user_forms import (
    DetailGrid,
    Values,
    login_text,
    password_form,
    pop_text,
    rules_text,
    sending_text,
)
from tui.text import printable
from tui.widgets.confirm import ConfirmModal

T = TypeVar("T")
ADDRESS_LINES = 8  # more store rules than this: the Addresses module lists them all
COUNTING = "counting…"


@dataclass(frozen=True)
class Account:
    """One consistent-enough picture of the account (four reads, each its own unit), each read
    by key: `user` leaves out what needs a pass over a whole table (its aliases, its mail)."""

    user: UserDetail  # from get_user(whole_table=False)
    addresses: Page[AddressRule]
    sending: SmtpdEntry | None
    pop: PopEntry | None


@dataclass(frozen=True)
class Counted:
    """What the account's first paint leaves out, read afterwards: who is an alias of the user
    (a pass over the users table) and its mail (a pass over the mailbox, and its user
    database). At a million users these take ~0.05 s; the screen says "counting…" meanwhile."""

    links: UserLinks
    mail: MailCount


def _unless_absent(read: Callable[[], T]) -> T | None:
    """A missing smtpd or POP row is a state of the account, not an error."""
    try:
        return read()
    except NotFound:
        return None


def load_account(db: Database, session: Session) -> Account:
    name = session.user
    assert name is not None, "a plain user's session always names the user"
    return Account(
        user=users.get_user(db, session, name, whole_table=False),
        addresses=addresses.list_rules(db, session, limit=ADDRESS_LINES),
        sending=_unless_absent(partial(smtpd.get, db, session, name)),
        pop=_unless_absent(partial(popd.get, db, session, name)),
    )


def load_counted(db: Database, session: Session) -> Counted:
    name = session.user
    assert name is not None, "a plain user's session always names the user"
    return Counted(
        links=users.user_links(db, session, name),
        mail=mailbox.mail_counts(db, session, [name])[name],
    )


def _addresses_text(page: Page[AddressRule]) -> Text:
    text = rules_text(
        [(r.order, r.expression) for r in page.rows], "none: no address stores mail for you"
    )
    if page.has_more:
        text.append("\n… and more: see 3 Addresses", style="dim")
    return text


def _mail_text(count: MailCount) -> Text:
    text = Text(f"{count.master} in the master mailbox ({count.master_unread} unread)")
    if count.user_database is not None:
        if count.problem is not None:
            text.append(f"; your user database cannot be read: {printable(count.problem)}")
        else:
            text.append(f"; {count.user_db} in your user database ({count.user_db_unread} unread)")
    return text


def _pop_line(account: Account) -> Text:
    entry = account.pop
    text = pop_text(None if entry is None else entry.locked)
    if entry is None:
        text.append(": press e to enable it")
    elif entry.locked:
        text.append(": press u to unlock it if no POP session of yours is running")
    if account.user.alias:
        alias = printable(account.user.alias)
        text.append(f" (your POP logins use {alias}'s entry and maildrop)")
    return text


def _aliased_text(aliased_by: tuple[str, ...]) -> Text:
    if not aliased_by:
        return Text("none", style="dim")
    return Text(", ".join(printable(n) for n in aliased_by) + " (their logins act as you)")


def account_rows(account: Account, counted: Counted | None = None) -> list[tuple[str, Text]]:
    """The account's lines; those `counted` fills in say "counting…" until it has arrived."""
    user = account.user
    sending = account.sending
    alias = (
        Text(f"alias of {printable(user.alias)}: your logins act as {printable(user.alias)}")
        if user.alias
        else Text("none", style="dim")
    )
    waiting = Text(COUNTING, style="dim")
    shared = counted.links.shared_with if counted else ()
    return [
        ("Login", login_text(user.login, user.login_problem, shared)),
        ("Alias", alias),
        ("Aliases of you", _aliased_text(counted.links.aliased_by) if counted else waiting),
        ("Addresses", _addresses_text(account.addresses)),
        ("Mail", _mail_text(counted.mail) if counted else waiting),
        ("Sending (smtpd)", sending_text(sending.router, sending.route) if sending else
            sending_text(None, None)),
        ("POP", _pop_line(account)),
    ]  # fmt: skip


class AccountScreen(ModuleScreen):
    MODULE_ID = "account"
    TITLE = "My account"
    AUTO_FOCUS = "#account-body"
    HELP = (
        "Your own account as the mail server sees it. Addresses: the address rules that store "
        "mail for you. Sending: what the server does with mail you send. POP: whether you may "
        "fetch mail by POP, and whether your maildrop is locked; a lock left by a crashed POP "
        "session stays until you unlock it (u). p changes your password; it needs the current one."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"password", "pop_enable", "pop_disable", "pop_unlock"}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "password", "Password", id="account.password"),
        Binding("e", "pop_enable", "Enable POP", id="account.pop-enable"),
        Binding("x", "pop_disable", "Disable POP", id="account.pop-disable"),
        Binding("u", "pop_unlock", "Unlock POP", id="account.pop-unlock"),
        Binding("r", "refresh", "Refresh", id="account.refresh"),
    ]
    DEFAULT_CSS = """
    AccountScreen #account-body {
        height: 1fr;
        padding: 1 1 0 1;
    }
    AccountScreen #account-title {
        margin-bottom: 1;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.account: Account | None = None
        # Kept across reloads until the next count arrives: no flicker back to "counting…".
        self.counted: Counted | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="account-body"):
            yield Static(self._title_text(), id="account-title")
            yield DetailGrid([("", Text("loading…", style="dim"))], id="account-grid")

    def _title_text(self) -> Text:
        return Text.assemble("Account ", (printable(self.session.user or ""), "bold"))

    def resumed(self) -> None:
        super().resumed()
        self.reload()  # e.g. POP changed on the POP locks screen meanwhile

    def action_refresh(self) -> None:
        self.reload()
        self.refresh_scope()

    @work(thread=True, exclusive=True, group="account-load", exit_on_error=False)
    def reload(self) -> None:
        self.attempt(partial(load_account, self.db, self.session), self._loaded)

    def _loaded(self, account: Account) -> None:
        self.account = account
        self.query_one("#account-title", Static).update(self._title_text())
        self._show_rows()
        self.refresh_bindings()
        # Once the account is on screen: the passes must not compete with its first frame.
        self.call_after_refresh(self.count)

    @work(thread=True, exclusive=True, group="account-count", exit_on_error=False)
    def count(self) -> None:
        self.attempt(partial(load_counted, self.db, self.session), self._counted)

    def _counted(self, counted: Counted) -> None:
        self.counted = counted
        self._show_rows()

    def _show_rows(self) -> None:
        if self.account is not None:
            rows = account_rows(self.account, self.counted)
            self.query_one("#account-grid", DetailGrid).show_rows(rows)

    # --- keys ------------------------------------------------------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        name = self.session.user
        assert scope is not None and name is not None
        if action == "password":
            return scope.may_set_password(name)
        if self.account is None or not scope.may_edit_pop(name):
            return None
        pop = self.account.pop
        if action == "pop_enable":
            return pop is None  # the key shows only while POP is off
        if pop is None:
            return False  # disable and unlock show only while POP is on
        if action == "pop_unlock" and not pop.locked:
            return None
        return True

    def action_password(self) -> None:
        name = self.session.user
        assert name is not None

        def save(values: Values) -> Change:
            return users.set_password(
                self.db, self.session, name, str(values["password"]), current=str(values["current"])
            )

        self.app.push_screen(password_form(name, save, own=True), self._written)

    def action_pop_enable(self) -> None:
        self._write(popd.enable)

    def action_pop_disable(self) -> None:
        self.app.push_screen(
            ConfirmModal(
                "Disable POP for your account?",
                [
                    "Your POP entry is deleted: POP logins fail from now on.",
                    "Your stored mail is kept; press e to enable POP again.",
                ],
                yes="Disable",
            ),
            partial(self._confirmed, popd.disable),
        )

    def action_pop_unlock(self) -> None:
        self.app.push_screen(
            ConfirmModal(
                "Unlock your maildrop?",
                ["Your POP lock is cleared.", popd.UNLOCK_WARNING],
                yes="Unlock",
            ),
            partial(self._confirmed, popd.unlock),
        )

    # --- writes ----------------------------------------------------------------------------------
    def _confirmed(self, service: Callable[[Database, Session, str], Change], answer: bool | None):
        if answer:
            self._write(service)

    @work(thread=True, exclusive=True, group="account-write", exit_on_error=False)
    def _write(self, service: Callable[[Database, Session, str], Change]) -> None:
        name = self.session.user
        assert name is not None
        self.attempt(partial(service, self.db, self.session, name), self._written)

    def _written(self, change: Change | None) -> None:
        if change is None:
            return  # the password form was cancelled
        self.report_change(change)
        self.reload()
        self.refresh_scope()
