"""Users: the `users` table and what hangs off each user (reference §1.2–1.3, §2, §3.6–3.7).

Admins see every user; delegates see themselves and the users they manage; a plain user sees
only its own row (it lands on My account instead, tui/screens/account.py). Every key calls a
core service, which checks the rights again; `allowed()` only keeps keys off the screen that
core would refuse for this role (hidden) or for the row under the cursor (dimmed).

The list has no login-flag column of its own: `list_users` says only whether a login exists,
so the line under the table describes the highlighted user with `get_user` (malformed or
shared password entries, rights), one user at a time, and Enter shows all of it. Both show what
is read by key first, and then what needs a pass over a whole table (who shares the password
entry or is an alias, the mail count: cmail's schema has no index for them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from core.access import Role
from core.records import Change, Page
from core.services import users
from core.services.users import DeletePreview, UserDetail, UserLinks, UserSummary
from tui.screens.base import ModuleScreen
from tui.screens.user_forms import (
    DetailGrid,
    UserDetailModal,
    Values,
    add_user_form,
    detail_rows,
    login_text,
    password_form,
    rights_ticked,
    text_form,
)
from tui.text import printable, safe
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import Column, Fetch, PagedTable
from tui.widgets.prompt import PromptModal
from tui.widgets.status_bar import StatusBar

YES, NO = "yes", "no"
DB_WIDTH = 14
INFO_DELAY = 0.15  # seconds the cursor rests on a row before its login state is read
COUNTING = "counting…"
MAILS_COLUMN = 5  # its index in the list
# The lines of detail_rows that get_user(whole_table=False) cannot fill in yet.
COUNTED_LINES = frozenset({"Aliased by", "Mails"})


def yes_no(value: bool) -> Text:
    return Text(YES) if value else Text(NO, style="dim")


def count_cell(value: int | None) -> Text:
    if value is None:
        return Text("…", style="dim", justify="right")  # being counted
    return Text(str(value), justify="right")


def database_cell(path: str | None, width: int = DB_WIDTH) -> Text:
    """A path's end is what tells user databases apart, so a long one loses its start."""
    if path is None:
        return safe(None)
    text = printable(path)
    return Text(text if len(text) <= width else "…" + text[-(width - 1) :])


def revoke_lines(name: str) -> list[str]:
    return [
        f"The password of {name} is removed (user_authdata becomes NULL): {name} can no longer "
        "log in to SMTP, POP or this console, and its sessions end.",
        f"Its mail, addresses and other rows stay; set a password (p) to give {name} a login "
        "again.",
    ]


# What may become of the store rules naming a user being deleted, besides staying as they are.
STORE_RULE_ANSWERS = (("r", "Delete with its store rules"), ("m", "Move its store rules…"))


def delete_lines(preview: DeletePreview) -> list[str]:
    """Core's own description of what the delete takes with it and leaves dangling."""
    message, warnings = users.delete_summary(preview, done=False)
    return [message, *warnings]


def pending_rows(user: UserDetail) -> list[tuple[str, Text]]:
    """detail_rows of a detail read by key only: the lines that need a pass over a whole table
    say so until the whole detail arrives."""
    rows = detail_rows(user)
    if user.aliased_by is not None and user.mails is not None:
        return rows
    shown = []
    for label, value in rows:
        if label in COUNTED_LINES:
            value = Text(COUNTING, style="dim")
        elif label == "Login" and user.login != "disabled":
            value = value.copy()
            value.append(" · shared with another user? checking…", style="dim")
        shown.append((label, value))
    return shown


class LiveDetailModal(UserDetailModal):
    """The detail of one user, shown as soon as what is read by key has arrived; `fill()`
    brings the whole detail (the users screen reads it meanwhile)."""

    def on_mount(self) -> None:
        super().on_mount()
        self._show()

    def fill(self, user: UserDetail) -> None:
        if user.name == self.user.name:
            self.user = user
            self._show()

    def _show(self) -> None:
        # Before the dialog is composed there is no grid yet: on_mount shows self.user then.
        for grid in self.query("#detail-grid").results(DetailGrid):
            grid.show_rows(pending_rows(self.user))


class UsersScreen(ModuleScreen):
    MODULE_ID = "users"
    TITLE = "Users"
    HELP = (
        "The users of this mail server. Login says whether a password is set; the line under "
        "the list tells whether it is malformed or shared with another user. Addresses counts "
        "the store rules delivering to the user, Mails the mails in the master mailbox. Enter "
        "shows everything about the highlighted user. Deleting a user leaves the store rules "
        "that name it unless you choose to delete them with it or move them to another user. "
        "Delegates see and change only the users they manage; rights and aliases are changed "
        "by admins."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"add", "password", "revoke", "alias", "database", "rename", "delete"}
    )
    KEEP: ClassVar[tuple[str, ...]] = ("descending",)  # the sort order, back with the list
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", id="users.add", tooltip="Create a user"),
        Binding("p", "password", "Password", id="users.password", tooltip="Set a password"),
        Binding("v,R", "revoke", "Revoke", id="users.revoke", tooltip="Disable the login"),
        Binding("d", "delete", "Delete", id="users.delete"),
        # Admin-only extras: listed by F1, kept off the footer so it fits 80 columns.
        Binding("l", "alias", "Alias", show=False, id="users.alias"),
        Binding("b", "database", "User database", show=False, id="users.database"),
        Binding("n", "rename", "Rename", show=False, id="users.rename"),
        Binding("s", "sort", "Sort", show=False, id="users.sort"),  # the summary says "(s)"
        Binding("r", "refresh", "Refresh", show=False, id="users.refresh"),
    ]
    DEFAULT_CSS = """
    UsersScreen #users-info {
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.descending = False
        self._info_timer: Timer | None = None
        # The Mails column by name, as last counted: shown until fresher counts arrive.
        self._mails: dict[str, int] = {}
        self.info_for: str | None = None  # the user the info line describes
        self._info_user: UserDetail | None = None
        self._detail_modal: LiveDetailModal | None = None

    def first_list(self) -> tuple[str, Fetch]:
        return "users-table", self._fetch_page

    def compose_body(self) -> ComposeResult:
        yield PagedTable(
            [
                Column("Name", 15),
                Column("Login", 5),
                Column("Alias", 10),
                Column("User database", DB_WIDTH),
                Column("Addr", 4),
                Column("Mails", 5),
                Column("POP", 3),
                Column("SMTP", 4),
            ],
            fetch=self._fetch_page,
            row_key=lambda user: user.name,
            cells=self._cells,
            empty_text=self._empty_text,
            id="users-table",
        )
        yield Static(id="users-info")

    @property
    def table(self) -> PagedTable:
        return self.query_one("#users-table", PagedTable)

    def _cells(self, user: UserSummary) -> tuple[Text, ...]:
        return (
            safe(user.name),
            yes_no(user.can_login),
            safe(user.alias),
            database_cell(user.database),
            count_cell(user.addresses),
            count_cell(self._mails.get(user.name, user.mails)),
            yes_no(user.pop),
            yes_no(user.smtpd),
        )

    def _fetch_page(self, search: str | None, after: str | None, limit: int) -> Page[UserSummary]:
        # Without mail counts: they need a pass over the whole mailbox (no index on mail_user),
        # so they follow the page (_count_mails) instead of holding up its first paint.
        return users.list_users(
            self.db, self.session, search=search, descending=self.descending, after=after,
            limit=limit, mails=False,
        )  # fmt: skip

    def _empty_text(self, search: str | None) -> str:
        if search:
            return f"No user name contains '{search}'. Press Esc to clear the filter."
        if self.session.role is Role.DELEGATE:
            return "You manage no users yet. Press a to add one."
        return "There are no users. Press a to add one."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        order = "Z→A" if self.descending else "A→Z"
        self.table.set_note(f"name {order} (s)")
        self.refresh_bindings()
        self._describe_soon()
        # Every loaded row counted afresh, in one pass, once the names are on screen.
        names = [user.name for user in self.table.records]
        if names:
            self.call_after_refresh(self._count_mails, names)

    @work(thread=True, exclusive=True, group="users-mails", exit_on_error=False)
    def _count_mails(self, names: list[str]) -> None:
        self.attempt(partial(users.mail_totals, self.db, self.session, names), self._counted)

    def _counted(self, counts: dict[str, int]) -> None:
        self._mails.update(counts)
        table = self.table.table
        column = table.ordered_columns[MAILS_COLUMN].key
        for name, count in counts.items():
            if name in table.rows:  # not filtered away meanwhile
                table.update_cell(name, column, count_cell(count))

    # --- the line under the list ---------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _row_moved(self) -> None:
        self._describe_soon()

    def _describe_soon(self) -> None:
        """Read the highlighted user's login state once the cursor rests (get_user may scan
        for shared passwords, so it does not run for every row passed over)."""
        if self._info_timer is not None:
            self._info_timer.stop()
        self._info_timer = self.set_timer(INFO_DELAY, self._describe)

    def _describe(self) -> None:
        user: UserSummary | None = self.table.selected
        if user is None:
            self.info_for = None
            self.query_one("#users-info", Static).update("")
            return
        self._load_info(user.name)

    @work(thread=True, exclusive=True, group="users-info", exit_on_error=False)
    def _load_info(self, name: str) -> None:
        # The line from what is read by key first; then who shares the password entry, which
        # for an admin is a pass over the whole users table (~0.06 s at a million users).
        found: list[UserDetail] = []

        def cheap() -> UserDetail:
            found.append(users.get_user(self.db, self.session, name, whole_table=False))
            return found[0]

        if not self.attempt(cheap, self._show_info):
            return
        if found[0].login == "disabled" or get_current_worker().is_cancelled:
            return  # no password entry to share, or the cursor moved on
        self.attempt(partial(users.user_links, self.db, self.session, name), self._show_links)

    def _show_info(self, user: UserDetail) -> None:
        selected = self.table.selected
        if selected is None or selected.name != user.name:
            return  # the cursor moved on meanwhile
        self.info_for = user.name
        self._info_user = user
        self._render_info(user, user.shared_with or ())

    def _show_links(self, links: UserLinks) -> None:
        user = self._info_user
        if user is None or user.name != links.name or self.info_for != links.name:
            return  # the line describes another user by now
        self._render_info(user, links.shared_with)

    def _render_info(self, user: UserDetail, shared: tuple[str, ...]) -> None:
        line = Text.assemble((printable(user.name), "bold"), " · login ")
        line.append_text(login_text(user.login, user.login_problem, shared))
        if user.rights:
            line.append(" · rights: " + ", ".join(user.rights))
        line.append(" · Enter: details", style="dim")
        line.no_wrap = True
        line.overflow = "ellipsis"
        self.query_one("#users-info", Static).update(line)

    # --- keys ------------------------------------------------------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        assert scope is not None
        if action == "add":
            return scope.may_create_users()
        if action in ("alias", "database", "rename"):
            if not scope.is_admin:
                return False
            return self.table.selected is not None or None
        if action in ("revoke", "delete") and not scope.may_create_users():
            return False  # a plain user may do neither, not even to itself
        user: UserSummary | None = self.table.selected
        if user is None:
            return None
        if action == "password":
            return scope.may_set_password(user.name) or None
        # revoke, delete: a managed (or any, for admins) user, never oneself
        if not scope.may_manage_user(user.name) or scope.is_self(user.name):
            return None
        if action == "revoke" and not user.can_login:
            return None  # nothing to revoke
        return True

    def action_refresh(self) -> None:
        self.table.reload()
        self.refresh_scope()

    def action_sort(self) -> None:
        self.descending = not self.descending
        self.table.reload(fresh=True)

    @on(DataTable.RowSelected)
    def _open_detail(self, event: DataTable.RowSelected) -> None:
        event.stop()
        user = self.table.selected
        if user is not None:
            self._load_detail(user.name)

    @work(thread=True, exclusive=True, group="users-detail", exit_on_error=False)
    def _load_detail(self, name: str) -> None:
        # The dialog opens with what is read by key; the whole detail (a pass over the users
        # table and one over the mailbox) fills in its remaining lines when it arrives.
        cheap = partial(users.get_user, self.db, self.session, name, whole_table=False)
        if self.attempt(cheap, self._open_modal):
            self.attempt(partial(users.get_user, self.db, self.session, name), self._fill_modal)

    def _open_modal(self, user: UserDetail) -> None:
        self._detail_modal = LiveDetailModal(user)
        self.app.push_screen(self._detail_modal, self._modal_closed)

    def _modal_closed(self, _result: None) -> None:
        self._detail_modal = None

    def _fill_modal(self, user: UserDetail) -> None:
        if self._detail_modal is not None:
            self._detail_modal.fill(user)

    def action_add(self) -> None:
        admin = self.scope is not None and self.scope.is_admin

        def save(values: Values) -> Change:
            return users.add_user(
                self.db,
                self.session,
                str(values["name"]),
                str(values["password"]),
                rights=rights_ticked(values),
                alias=str(values.get("alias", "")) or None,
            )

        self.app.push_screen(add_user_form(save, admin=admin), self._written)

    def action_password(self) -> None:
        user = self.table.selected
        if user is None:
            return
        own = self.session.user == user.name

        def save(values: Values) -> Change:
            current = str(values["current"]) if own else None
            return users.set_password(
                self.db, self.session, user.name, str(values["password"]), current=current
            )

        self.app.push_screen(password_form(user.name, save, own=own), self._written)

    def action_revoke(self) -> None:
        user = self.table.selected
        if user is None:
            return
        self.app.push_screen(
            ConfirmModal(
                f"Revoke the login of {user.name}?", revoke_lines(user.name), yes="Revoke"
            ),
            partial(self._confirmed, users.revoke_login, user.name),
        )

    def action_delete(self) -> None:
        user = self.table.selected
        if user is not None:
            self._preview_delete(user.name)

    @work(thread=True, exclusive=True, group="users-preview", exit_on_error=False)
    def _preview_delete(self, name: str) -> None:
        self.attempt(partial(users.delete_preview, self.db, self.session, name), self._ask_delete)

    def _ask_delete(self, preview: DeletePreview) -> None:
        """With store rules naming the user, they may go with it: deleted, or moved."""
        more = STORE_RULE_ANSWERS if preview.dangling_routes else ()
        self.app.push_screen(
            ConfirmModal(
                f"Delete the user {preview.name}?", delete_lines(preview), yes="Delete", more=more
            ),
            partial(self._delete_answered, preview.name),
        )

    def _delete_answered(self, name: str, answer: bool | str | None) -> None:
        if answer == "m":
            self.app.push_screen(
                PromptModal(
                    f"Delete {name} and move its store rules",
                    f"The store rules of {name} will store into the mailbox of this user:",
                    placeholder="user name (exact case)",
                ),
                lambda to: self._delete(name, users.SettledRules(to)) if to else None,
            )
        elif answer == "r":
            self._delete(name, users.SettledRules())
        elif answer is True:
            self._delete(name, None)

    def _delete(self, name: str, store_rules: users.SettledRules | None) -> None:
        self._write(partial(users.delete_user, store_rules=store_rules), name)

    def action_alias(self) -> None:
        user = self.table.selected
        if user is None:
            return
        self.app.push_screen(
            text_form(
                f"Alias of {user.name}",
                f"Logins as {user.name} then act as the user named here. Empty: no alias.",
                "Alias of",
                user.alias,
                lambda values: users.set_alias(
                    self.db, self.session, user.name, str(values["value"]) or None
                ),
            ),
            self._written,
        )

    def action_database(self) -> None:
        user = self.table.selected
        if user is None:
            return
        self.app.push_screen(
            text_form(
                f"User database of {user.name}",
                f"New mail for {user.name} is stored in this SQLite file (an absolute path); "
                "mail already stored is not moved. Empty: the master mailbox.",
                "Path",
                user.database,
                lambda values: users.set_user_database(
                    self.db, self.session, user.name, str(values["value"]) or None
                ),
            ),
            self._written,
        )

    def action_rename(self) -> None:
        user = self.table.selected
        if user is None:
            return
        self.app.push_screen(
            text_form(
                f"Rename {user.name}",
                "Its rows follow the new name, and store routes naming it are retargeted.",
                "New name",
                user.name,
                lambda values: users.rename_user(
                    self.db, self.session, user.name, str(values["value"])
                ),
            ),
            self._written,
        )

    # --- writes ----------------------------------------------------------------------------------
    def _confirmed(self, service: Callable[..., Change], name: str, answer: bool | None) -> None:
        if answer:
            self._write(service, name)

    @work(thread=True, exclusive=True, group="users-write", exit_on_error=False)
    def _write(self, service: Callable[..., Change], name: str) -> None:
        self.attempt(partial(service, self.db, self.session, name), self._written)

    def _written(self, change: Change | None) -> None:
        if change is None:
            return  # a form was cancelled
        self.report_change(change)
        self.table.reload(select=change.data.get("user"))
        self.refresh_scope()
        if change.data.get("old") is not None:
            self.query_one(StatusBar).update_status()  # one may have renamed oneself
