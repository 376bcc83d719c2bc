"""Mailbox: stored mail per user, headers only (reference §1.2, §1.4, §3.6).

Two views of one screen class. The users view (admins, delegates) lists the users the role may
see with their mail counts; `o` or Enter pushes the mail view of the selected user onto this
module's screen stack, and Esc comes back. A plain user lands straight in the mail view of its
own mailbox. A mail is named by its source (master or the user database) and id; `r` flips its
read flag and `d` deletes it for good, behind a confirm. Core checks every call again.

The users view shows a page of names first and fills in their counts a moment later: counting
needs a pass over the whole mailbox (cmail's schema has no index on mail_user), and the page
of names must not wait for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from core.access import Role
from core.records import Change, Page
from core.services import mailbox, users
from core.services.mailbox import MailCount, MailHeader, MailPage
from core.services.users import UserName
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import Column, Fetch, PagedTable
from tui.workers import deliver

DATE_FORMAT = "%Y-%m-%d %H:%M"  # always UTC: the same text on every server and in every test
READ = "read"
UNREAD = "unread"
NO_USERDB = "—"
USERDB_ERROR = "error"
COUNTING = "…"  # a count not read yet


# --- cells -------------------------------------------------------------------------------------


def format_time(submission: str, fmt: str = DATE_FORMAT) -> str:
    """A stored unix time (text) in UTC; anything that is not one is shown as stored."""
    try:
        return datetime.fromtimestamp(int(submission), tz=UTC).strftime(fmt)
    except (ValueError, OverflowError, OSError):
        return printable(submission)


def format_size(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 10_000:
        return f"{size} B"
    if size < 10_000_000:
        return f"{size // 1024} kB"
    return f"{size // (1024 * 1024)} MB"


def source_label(mail: MailHeader) -> str:
    return "master" if mail.source == mailbox.MASTER else "userdb"


def source_place(mail: MailHeader) -> str:
    if mail.source == mailbox.MASTER:
        return "the master mailbox"
    return f"the user database {mail.source}"


def sender_cell(mail: MailHeader) -> Text:
    # The empty reverse path is a bounce; "<>" is how mail people write it.
    return Text("<>", style="dim") if mail.envelope_from == "" else safe(mail.envelope_from)


def subject_cell(mail: MailHeader) -> Text:
    return safe(mail.subject, none="(no subject)")


def user_db_cell(count: MailCount) -> Text:
    if count.user_database is None:
        return Text(NO_USERDB, style="dim", justify="right")
    if count.user_db is None:
        # The word, not only a colour; the note says why.
        return Text(USERDB_ERROR, style="bold", justify="right")
    return number_cell(count.user_db)


def count_cells(count: MailCount | None) -> tuple[Text, Text, Text, Text]:
    """The users view's Master, User DB, Unread and Note cells; "…" while being counted."""
    if count is None:
        waiting = Text(COUNTING, style="dim", justify="right")
        return waiting, waiting, waiting, Text("")
    return (
        number_cell(count.master),
        user_db_cell(count),
        number_cell(count.unread),
        user_note(count),
    )


def user_note(count: MailCount) -> Text:
    parts = []
    if count.alias_of is not None:
        parts.append(f"alias of {printable(count.alias_of)}")
    if count.problem is not None:
        parts.append(f"user database not read: {printable(count.problem)}")
    return Text("; ".join(parts))


def number_cell(value: int) -> Text:
    return Text(str(value), justify="right")


class MailTable(PagedTable):
    """The mail list: core's list_mails has no text filter, so `/` is not offered here."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_filter":
            return False
        return super().check_action(action, parameters)


# --- the screen --------------------------------------------------------------------------------


class MailboxScreen(ModuleScreen):
    MODULE_ID = "mailbox"
    TITLE = "Mailbox"
    HELP = (
        "Mail stored for users, headers only: a message body is never shown. Admins and "
        "delegates first see the users they may see, with how much mail each has in the master "
        "mailbox and in its own user database, and how much is unread; o or Enter opens a "
        "user's mail and Esc comes back. A plain user sees its own mail straight away. In a "
        "mail list, r marks the selected mail read or unread (the webmailer's flag) and d "
        "deletes it for good. An open POP session keeps listing the old state until it ends. "
        "Times are UTC."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"toggle_read", "delete"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open", "Open", id="mailbox.open", tooltip="Show the user's mail"),
        Binding("r", "toggle_read", "Read/unread", id="mailbox.read", tooltip="Flip the flag"),
        Binding("d", "delete", "Delete", id="mailbox.delete", tooltip="Delete the mail for good"),
        Binding("ctrl+r", "refresh", "Refresh", id="mailbox.refresh"),
        Binding("escape", "leave", "Back", show=False, id="mailbox.back"),
    ]
    DEFAULT_CSS = """
    MailboxScreen #mail-head {
        height: auto;
        max-height: 4;
        padding: 0 1;
    }
    MailboxScreen #mail-warnings {
        height: auto;
        max-height: 4;
        padding: 0 1;
        text-style: bold;
        color: $warning;
    }
    MailboxScreen #mail-detail {
        height: 3;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, user: str | None = None) -> None:
        """No `user`: the module's own screen (the users list, or a plain user's own mail).
        A `user`: that user's mail, pushed from the users list."""
        super().__init__()
        self._user = user
        self._first_page: MailPage | None = None
        # The users view's counts by name, as last read: shown until fresher ones arrive.
        self._counts: dict[str, MailCount] = {}

    @property
    def owner(self) -> str | None:
        """Whose mail this screen lists; None for the users view."""
        if self._user is not None:
            return self._user
        session = self.console.session
        if session is not None and session.role is Role.USER:
            return session.user
        return None

    @property
    def pushed(self) -> bool:
        return self._user is not None

    def crumbs(self) -> tuple[str, ...]:
        owner = self.owner
        return (self.TITLE,) if owner is None else (self.TITLE, owner)

    def first_list(self) -> tuple[str, Fetch]:
        owner = self.owner
        if owner is None:
            return "mailbox-users", self._fetch_users
        return "mailbox-mails", partial(self._fetch_mails, owner)

    def compose_body(self) -> ComposeResult:
        owner = self.owner
        if owner is None:
            yield PagedTable(
                [
                    Column("User", 20),
                    Column("Master", 6),
                    Column("User DB", 7),
                    Column("Unread", 6),
                    Column("Note"),
                ],
                fetch=self._fetch_users,
                row_key=lambda row: row.name,
                cells=self._user_cells,
                empty_text=self._users_empty_text,
                id="mailbox-users",
            )
            return
        yield Static(id="mail-head")
        yield Static(id="mail-warnings")
        yield MailTable(
            [
                Column("Source", 6),
                Column("Id", 5),
                Column("Read", 6),
                Column("Date (UTC)", 16),
                Column("From", 14),
                Column("Subject", 20),
                Column("To", 20),
                Column("Size", 7),
            ],
            fetch=partial(self._fetch_mails, owner),
            row_key=lambda mail: mail.key,
            cells=self._mail_cells,
            empty_text=self._mails_empty_text,
            id="mailbox-mails",
        )
        yield Static(id="mail-detail")

    def on_mount(self) -> None:
        owner = self.owner
        if owner is not None:
            self.query_one("#mail-head", Static).update(
                Text.assemble("Mail of ", Text(printable(owner), style="bold"))
            )
            self.query_one("#mail-warnings", Static).display = False

    # --- the users view ------------------------------------------------------------------------
    @property
    def users(self) -> PagedTable:
        return self.query_one("#mailbox-users", PagedTable)

    def _fetch_users(self, search: str | None, after: str | None, limit: int) -> Page[UserName]:
        # The names only, read by key. Their counts need a pass over the whole mailbox (it has
        # no index on mail_user), so they follow the page (_count_users) instead of holding up
        # its first paint: on a real mailbox that pass reads every mail's first page.
        return users.list_names(self.db, self.session, search=search, after=after, limit=limit)

    def _user_cells(self, row: UserName) -> tuple[Text, ...]:
        return (safe(row.name), *count_cells(self._counts.get(row.name)))

    @work(thread=True, exclusive=True, group="mailbox-counts", exit_on_error=False)
    def _count_users(self, names: list[str]) -> None:
        self.attempt(partial(mailbox.mail_counts, self.db, self.session, names), self._counted)

    def _counted(self, counts: dict[str, MailCount]) -> None:
        self._counts.update(counts)
        table = self.users.table
        columns = [column.key for column in table.ordered_columns][1:]
        for name, count in counts.items():
            if name not in table.rows:
                continue  # filtered away meanwhile
            for column, cell in zip(columns, count_cells(count), strict=True):
                # The note column is as wide as its widest text, which only now is known.
                table.update_cell(name, column, cell, update_width=column is columns[-1])

    def _users_empty_text(self, search: str | None) -> str:
        if search:
            return f"No user name contains '{search}'. Press Esc to clear the filter."
        return "No user you can see."

    # --- the mail view -------------------------------------------------------------------------
    @property
    def mails(self) -> PagedTable:
        return self.query_one("#mailbox-mails", PagedTable)

    def _fetch_mails(
        self, owner: str, search: str | None, after: tuple[str, int] | None, limit: int
    ) -> MailPage:
        page = mailbox.list_mails(self.db, self.session, owner, after=after, limit=limit)
        if after is None:  # every first page re-reads where the mail is and what is wrong
            self._first_page = page  # set before the table shows the page (and its empty text)
            deliver(self, self._show_page_notes, page)
        return page

    def _mails_empty_text(self, _search: str | None) -> str:
        owner = printable(self.owner)
        page = self._first_page
        if page is not None and page.user_database is not None and page.warnings:
            return f"{owner} has no stored mail that could be read (see the warning above)."
        return f"{owner} has no stored mail."

    def _show_page_notes(self, page: MailPage) -> None:
        head = Text.assemble("Mail of ", Text(printable(page.user), style="bold"))
        if page.alias_of is not None:
            head.append(f" (an alias of {printable(page.alias_of)})")
        if page.user_database is None:
            head.append(" · master mailbox only")
        else:
            head.append(f" · master mailbox, then user database {printable(page.user_database)}")
        self.query_one("#mail-head", Static).update(head)
        warnings = self.query_one("#mail-warnings", Static)
        warnings.update(Text("\n".join(f"Warning: {printable(w)}" for w in page.warnings)))
        warnings.display = bool(page.warnings)

    def _mail_cells(self, mail: MailHeader) -> tuple[Text, ...]:
        return (
            Text(source_label(mail)),
            number_cell(mail.id),
            Text(READ) if mail.read else Text(UNREAD, style="bold"),
            Text(format_time(mail.submission)),
            sender_cell(mail),
            subject_cell(mail),
            safe(mail.envelope_to),
            Text(format_size(mail.size), justify="right"),
        )

    def _show_detail(self) -> None:
        """The whole of the selected mail's header fields, which the columns cut short."""
        mail: MailHeader | None = self.mails.selected
        detail = self.query_one("#mail-detail", Static)
        detail.display = mail is not None
        if mail is None:
            return
        size = "unknown size" if mail.size is None else f"{mail.size} bytes"
        lines = Text("\n", no_wrap=True, overflow="ellipsis").join(
            [
                Text.assemble(
                    f"Mail {mail.id} in {source_label(mail)} · {READ if mail.read else UNREAD} · ",
                    format_time(mail.submission, "%Y-%m-%d %H:%M:%S UTC"),
                    f" · {size}",
                ),
                Text.assemble("From ", sender_cell(mail), " to ", safe(mail.envelope_to)),
                Text.assemble("Subject: ", subject_cell(mail)),
            ]
        )
        detail.update(lines)

    @on(DataTable.RowHighlighted, "#mailbox-mails RowTable")
    def _mail_highlighted(self) -> None:
        self._show_detail()

    # --- lists ---------------------------------------------------------------------------------
    @property
    def current_list(self) -> PagedTable:
        return self.users if self.owner is None else self.mails

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        if self.owner is None:
            event.table.set_note("Enter or o: open the user's mail")
            # Every loaded row, counted afresh (one pass over the mailbox, however many rows).
            # Once the names are on screen: the pass must not compete with their first frame.
            names = [row.name for row in self.users.records]
            if names:  # no names would mean "every user" to mail_counts
                self.call_after_refresh(self._count_users, names)
        else:
            if self.pushed:
                event.table.set_note("Esc: back to the users")
            self._show_detail()
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#mailbox-users RowTable")
    async def _user_chosen(self) -> None:
        await self.run_action("open")  # Enter on a user: as `o`, dimmed rows included

    def action_refresh(self) -> None:
        self.current_list.reload()
        self.refresh_scope()

    # --- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        owner = self.owner
        if action == "leave":
            return True if self.pushed else self.app.check_action("back", ())
        if action == "open":
            if owner is not None:
                return False
            row: UserName | None = self.users.selected
            if row is None or self.scope is None:
                return None
            # A delegate sees a managed user who holds rights of its own, but not its mail.
            return True if self.scope.may_read_mail(row.name) else None
        if action in self.WRITE_ACTIONS and owner is None:
            return False
        return super().check_action(action, parameters)

    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        owner = self.owner
        assert scope is not None and owner is not None
        if not scope.may_read_mail(owner):
            return False
        return True if self.mails.selected is not None else None

    def action_leave(self) -> None:
        if self.pushed:
            self.dismiss(None)
        else:
            self.console.action_back()

    def action_open(self) -> None:
        row: UserName | None = self.users.selected
        if row is not None:
            self.app.push_screen(MailboxScreen(row.name), self._came_back)

    def _came_back(self, _result: None) -> None:
        self.users.reload()  # the counts changed if mail was marked or deleted

    def action_toggle_read(self) -> None:
        mail: MailHeader | None = self.mails.selected
        owner = self.owner
        if mail is None or owner is None:
            return
        call = partial(
            mailbox.mark_read, self.db, self.session, owner, mail.source, mail.id, not mail.read
        )
        self._write(call, mail.key)

    def action_delete(self) -> None:
        mail: MailHeader | None = self.mails.selected
        owner = self.owner
        if mail is None or owner is None:
            return
        size = "unknown size" if mail.size is None else f"{mail.size} bytes"
        subject = "(no subject)" if mail.subject is None else f"'{mail.subject}'"
        sender = "<>" if mail.envelope_from == "" else mail.envelope_from
        self.app.push_screen(
            ConfirmModal(
                f"Delete mail {mail.id} of {owner}?",
                [
                    f"Mail {mail.id} in {source_label(mail)}: from {sender}, subject {subject}, "
                    f"{format_time(mail.submission)} UTC, {size}.",
                    f"It is deleted from {source_place(mail)} for good: this cannot be undone.",
                ],
                yes="Delete",
            ),
            partial(self._delete_answered, owner, mail),
        )

    def _delete_answered(self, owner: str, mail: MailHeader, answer: bool | None) -> None:
        if answer:
            call = partial(mailbox.delete_mail, self.db, self.session, owner, mail.source, mail.id)
            self._write(call, mail.key)

    # --- writes ----------------------------------------------------------------------------------
    # Not exclusive: every write's outcome is reported, even when two follow quickly.
    @work(thread=True, group="mailbox-write", exit_on_error=False)
    def _write(self, call: Callable[[], Change], select: tuple[str, int]) -> None:
        self.attempt(call, partial(self._written, select))

    def _written(self, select: tuple[str, int], change: Change) -> None:
        self.report_change(change)
        self.mails.reload(select=select)
        self.refresh_scope()
