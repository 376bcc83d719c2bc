"""Rights editor: who holds admin or delegate, and what each delegate manages (reference §6.7).

A user list on the left picks whose rights the right-hand pane shows: the two permissions as
toggles, the users delegated to them and the address patterns delegated to them. Only admins
change any of it (core refuses everyone else), so delegates get the same view without the keys.
Every outcome and warning is core's own sentence: the `_` and unanchored-pattern warnings, the
refusal to remove the last admin who can log in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from core.access import PERMISSIONS, Role, Scope, Session
from core.db import Database
from core.records import Change, Page
from core.services import rights, users
from core.services.users import UserName
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import Column, Fetch, PagedTable
from tui.widgets.prompt import PromptModal
from tui.widgets.status_bar import StatusBar

# What each permission means, next to its toggle (the toggle alone would say nothing).
MEANING = {
    "admin": "may do everything",
    "delegate": "manages only those listed below",
}
CHECKED, UNCHECKED = "[x]", "[ ]"  # the state as text, not only as colour
NONE_YET = "none"


@dataclass(frozen=True)
class RightsView:
    """One user's rights as core shows them to the actor."""

    user: str
    permissions: frozenset[str]
    managed: tuple[str, ...]
    expressions: tuple[str, ...]


def load_rights(db: Database, session: Session, user: str) -> RightsView:
    """Read `user`'s permissions and delegations (in a worker thread): one core call by exact
    name, read by key (the list calls' LIKE filters would scan their tables)."""
    found = rights.user_rights(db, session, user)
    return RightsView(
        user=found.user,
        permissions=frozenset(found.permissions),
        managed=found.managed,
        expressions=found.expressions,
    )


@dataclass(frozen=True)
class Item:
    """What one line of the rights pane stands for."""

    kind: str  # "permission", "user" (a managed user) or "address" (a delegated pattern)
    value: str
    held: bool = True  # for permissions: whether the user holds it

    @property
    def option_id(self) -> str:
        return f"{self.kind}:{self.value}"


class Pane(OptionList):
    """The rights pane's list. Esc goes back to the user list rather than leaving the module."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.focus_users", "User list", show=False, id="rights.to-users"),
    ]


class RightsScreen(ModuleScreen):
    MODULE_ID = "rights"
    TITLE = "Rights"
    HELP = (
        "Pick a user on the left (/ filters the list; Enter or Tab moves to their rights, Esc "
        "back). admin may do everything; delegate may manage only the users and address "
        "patterns delegated to it. Space or Enter toggles a permission, u delegates a user, x "
        "delegates an address pattern (SQL LIKE: % is any text, _ is any one character), d "
        "removes the delegation under the cursor. Only admins change rights: a delegate sees "
        "its own rights and delegations read-only."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"toggle_permission", "add_user", "add_expression", "remove"}
    )
    # A delegate's cursor, once placed on its own row, stays where the delegate moves it.
    KEEP: ClassVar[tuple[str, ...]] = ("_placed_own_row",)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space", "toggle_permission", "Toggle", id="rights.toggle", tooltip="Grant or revoke"
        ),
        Binding("u", "add_user", "Add user", id="rights.add-user", tooltip="Delegate a user"),
        Binding(
            "x",
            "add_expression",
            "Add pattern",
            id="rights.add-expression",
            tooltip="Delegate the addresses matching a LIKE pattern",
        ),
        Binding("d", "remove", "Remove", id="rights.remove", tooltip="Remove a delegation"),
        Binding("r", "refresh", "Refresh", show=False, id="rights.refresh"),
    ]
    DEFAULT_CSS = """
    RightsScreen {
        layout: grid;
        grid-size: 2 3;
        grid-columns: 32 1fr;
        grid-rows: 1 1fr auto;
    }
    RightsScreen #rights-users {
        row-span: 3;
        height: 1fr;
        border-right: vkey $foreground 20%;
    }
    RightsScreen #rights-title, RightsScreen #rights-detail, RightsScreen #rights-hint {
        margin-left: 1;
    }
    RightsScreen #rights-title {
        text-style: bold;
    }
    RightsScreen #rights-detail {
        height: 1fr;
        border: none;
        padding: 0;
    }
    RightsScreen #rights-detail > .option-list--option-disabled {
        color: $text-muted;
    }
    RightsScreen #rights-hint {
        height: auto;
        color: $text-muted;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._view: RightsView | None = None
        self._wanted: str | None = None  # the user whose rights are loading or shown
        self._items: dict[str, Item] = {}
        self._placed_own_row = False

    # --- layout ----------------------------------------------------------------------------------
    def first_list(self) -> tuple[str, Fetch]:
        return "rights-users", self._fetch_users

    def compose_body(self) -> ComposeResult:
        yield PagedTable(
            [Column("User", 16), Column("Rights", 9)],
            fetch=self._fetch_users,
            row_key=lambda user: user.name,
            cells=self._user_cells,
            empty_text=self._empty_text,
            id="rights-users",
        )
        yield Static(id="rights-title")
        yield Pane(id="rights-detail")
        yield Static(id="rights-hint")

    @property
    def users(self) -> PagedTable:
        return self.query_one("#rights-users", PagedTable)

    @property
    def detail(self) -> Pane:
        return self.query_one("#rights-detail", Pane)

    @property
    def view(self) -> RightsView | None:
        """The rights on screen now (None until a user is picked and loaded)."""
        return self._view

    def _fetch_users(self, search: str | None, after: str | None, limit: int) -> Page[UserName]:
        # Names and rights only: list_users' counts would read the whole mailbox every page.
        return users.list_names(self.db, self.session, search=search, after=after, limit=limit)

    def _user_cells(self, user: UserName) -> tuple[Text, Text]:
        held = ", ".join(user.rights) if user.rights else None
        return safe(user.name), safe(held)

    def _empty_text(self, search: str | None) -> str:
        if search:
            return f"No user name contains '{search}'. Press Esc to clear the filter."
        return "No user you can see."

    # --- which user ------------------------------------------------------------------------------
    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        if not self._placed_own_row and self.session.role is not Role.ADMIN:
            # A delegate comes here for its own rights: start on its own row.
            self._placed_own_row = True
            table = self.users.table
            if self.session.user in {u.name for u in self.users.records}:
                table.move_cursor(row=table.get_row_index(self.session.user), animate=False)
        # The pane follows the list's first frame: its crumbs and lines would hold that up.
        self.call_after_refresh(self._follow_cursor)

    @on(DataTable.RowHighlighted)
    def _user_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.users.table:
            self._follow_cursor()

    @on(DataTable.RowSelected)
    def _user_chosen(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self.users.table:
            self.detail.focus()

    def _follow_cursor(self) -> None:
        selected: UserName | None = self.users.selected
        name = selected.name if selected is not None else None
        if name != self._wanted:
            self._show(name)

    def _show(self, name: str | None) -> None:
        self._wanted = name
        self.query_one(StatusBar).set_crumbs(self.TITLE, *([name] if name else []))
        if name is None:
            self._view = None
            self._render_view()
            return
        self._load(name)

    @work(thread=True, exclusive=True, group="rights-detail", exit_on_error=False)
    def _load(self, name: str) -> None:
        self.attempt(partial(load_rights, self.db, self.session, name), self._loaded)

    def _loaded(self, view: RightsView) -> None:
        if view.user != self._wanted:
            return  # the cursor moved on while this was loading
        self._view = view
        self._render_view()

    def action_focus_users(self) -> None:
        self.users.focus_table()

    # --- the rights pane -------------------------------------------------------------------------
    def _items_of(self, view: RightsView) -> list[Item | str]:
        """The pane's lines: section titles (str) and items."""
        extra = sorted(view.permissions - set(PERMISSIONS))  # stray rows, shown to clean them up
        lines: list[Item | str] = ["Permissions"]
        lines += [Item("permission", p, p in view.permissions) for p in (*PERMISSIONS, *extra)]
        lines.append("Manages these users")
        lines += [Item("user", name) for name in view.managed] or [NONE_YET]
        lines.append("Manages the addresses matching")
        lines += [Item("address", e) for e in view.expressions] or [NONE_YET]
        return lines

    def _render_view(self) -> None:
        detail = self.detail
        keep = self._highlighted_item()
        detail.clear_options()
        self._items.clear()
        view = self._view
        if view is None:
            title = "Pick a user on the left." if self._wanted is None else "loading…"
            self.query_one("#rights-title", Static).update(Text(title))
            self.query_one("#rights-hint", Static).update(Text(""))
            self.refresh_bindings()
            return
        self.query_one("#rights-title", Static).update(
            Text.assemble("Rights of ", printable(view.user))
        )
        for line in self._items_of(view):
            if isinstance(line, str):
                style = "italic" if line == NONE_YET else "bold"
                text = Text(f"  {line}" if line == NONE_YET else line, style=style)
                detail.add_option(Option(text, disabled=True))
                continue
            self._items[line.option_id] = line
            detail.add_option(Option(self._item_text(line), id=line.option_id))
        if keep is not None and keep.option_id in self._items:
            detail.highlighted = detail.get_option_index(keep.option_id)
        else:
            detail.action_first()
        self.query_one("#rights-hint", Static).update(Text(self._hint(view)))
        self.refresh_bindings()

    def _item_text(self, item: Item) -> Text:
        if item.kind != "permission":
            return Text.assemble("  ", printable(item.value))
        box = CHECKED if item.held else UNCHECKED
        meaning = MEANING.get(item.value, "unknown: has no effect")
        return Text.assemble(
            f"  {box} ",
            (printable(item.value).ljust(9), "bold" if item.held else ""),
            (meaning, "dim"),
        )

    def _hint(self, view: RightsView) -> str:
        if self.console.read_only:
            return "The database is read-only: nothing can be changed here."
        if self.scope is not None and not self.scope.is_admin:
            return "Only admins change rights and delegations; this view is read-only."
        return "Esc: back to the user list."

    def _highlighted_item(self) -> Item | None:
        option = self.detail.highlighted_option
        if option is None or option.id is None:
            return None
        return self._items.get(option.id)

    @on(OptionList.OptionHighlighted, "#rights-detail")
    def _item_highlighted(self) -> None:
        self.refresh_bindings()

    @on(OptionList.OptionSelected, "#rights-detail")
    def _item_selected(self) -> None:
        # Enter on a permission toggles it, like space (when the key would be allowed).
        if self.check_action("toggle_permission", ()):
            self.action_toggle_permission()

    def _scope_loaded(self, scope: Scope) -> None:
        super()._scope_loaded(scope)
        if self._view is not None:  # the hint depends on the role
            self.query_one("#rights-hint", Static).update(Text(self._hint(self._view)))

    # --- keys ------------------------------------------------------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        assert scope is not None
        if not scope.is_admin:
            return False  # core lets only admins change rights
        if self._view is None:
            return None
        if action in ("add_user", "add_expression"):
            return True
        # Toggle and remove act on the line under the cursor of the rights pane.
        item = self._highlighted_item() if self.detail.has_focus else None
        if item is None:
            return None
        wanted = ("permission",) if action == "toggle_permission" else ("user", "address")
        return True if item.kind in wanted else None

    def action_refresh(self) -> None:
        self.users.reload()
        if self._wanted is not None:
            self._load(self._wanted)
        self.refresh_scope()

    def action_toggle_permission(self) -> None:
        view, item = self._view, self._highlighted_item()
        if view is None or item is None or item.kind != "permission":
            return
        user, permission = view.user, item.value
        if item.held:
            call = partial(rights.revoke, self.db, self.session, user, [permission])
        else:
            call = partial(rights.grant, self.db, self.session, user, permission)
        if permission != "admin":
            self._write(call, user)
            return
        # admin is everything: changing it gets a second look (focus on No).
        self.app.push_screen(self._admin_confirm(user, grant=not item.held), self._then(call, user))

    def _admin_confirm(self, user: str, *, grant: bool) -> ConfirmModal:
        yourself = user == self.session.user
        if grant:
            return ConfirmModal(
                f"Grant admin to {user}?",
                [
                    f"{user} gets the admin permission: full control of every user, address, "
                    "mailbox and right in this database.",
                ],
                yes="Grant",
            )
        lines = [f"{user} loses the admin permission; any other permission stays."]
        if yourself:
            lines.append("That is you: the rest of this session has only the rights you keep.")
        return ConfirmModal(f"Revoke admin from {user}?", lines, yes="Revoke")

    def action_add_user(self) -> None:
        view = self._view
        if view is None:
            return
        self.app.push_screen(
            PromptModal(
                "Delegate a user",
                f"User whom {view.user} will manage (see, change, reset the password of):",
                placeholder="user name",
            ),
            partial(self._add_user_answered, view.user),
        )

    def _add_user_answered(self, manager: str, name: str | None) -> None:
        if name:
            self._write(
                partial(rights.add_delegated_user, self.db, self.session, manager, name), manager
            )

    def action_add_expression(self) -> None:
        view = self._view
        if view is None:
            return
        self.app.push_screen(
            PromptModal(
                "Delegate addresses",
                f"Address pattern {view.user} will manage (SQL LIKE: % any text, _ any one "
                "character), e.g. %@example.org:",
                placeholder="%@example.org",
            ),
            partial(self._add_expression_answered, view.user),
        )

    def _add_expression_answered(self, manager: str, expression: str | None) -> None:
        if expression:
            call = partial(
                rights.add_delegated_expression, self.db, self.session, manager, expression
            )
            self._write(call, manager)

    def action_remove(self) -> None:
        view, item = self._view, self._highlighted_item()
        if view is None or item is None or item.kind == "permission":
            return
        manager = view.user
        if item.kind == "user":
            call = partial(rights.remove_delegated_user, self.db, self.session, manager, item.value)
            dialog = ConfirmModal(
                f"Stop {manager} managing {item.value}?",
                [
                    f"{manager} will no longer see or change {item.value} (account, password, "
                    "sending, POP, mailbox).",
                    f"{item.value} itself is not changed.",
                ],
                yes="Remove",
            )
        else:
            call = partial(
                rights.remove_delegated_expression, self.db, self.session, manager, item.value
            )
            dialog = ConfirmModal(
                f"Stop {manager} managing the addresses matching {item.value}?",
                [
                    f"{manager} will no longer see or change the address rules inside "
                    f"{item.value}.",
                    "The address rules themselves are not changed.",
                ],
                yes="Remove",
            )
        self.app.push_screen(dialog, self._then(call, manager))

    def _then(self, call: Callable[[], Change], user: str) -> Callable[[bool | None], None]:
        def answered(answer: bool | None) -> None:
            if answer:
                self._write(call, user)

        return answered

    # --- writes ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="rights-write", exit_on_error=False)
    def _write(self, call: Callable[[], Change], user: str) -> None:
        self.attempt(call, partial(self._written, user))

    def _written(self, user: str, change: Change) -> None:
        self.report_change(change)
        self.users.reload(select=user)
        if self._wanted == user:
            self._load(user)
        self.refresh_scope()
