"""POP locks: who may log in over POP, and whose maildrop is locked (reference §5).

A row in `popd` is both the POP login permission and the maildrop lock. cmail never clears a lock
left by a crashed or killed session, so an admin (or the user) unlocks it here. Unlocking a live
session's lock lets a second session read the same maildrop: the confirm dialog says so with
core's own warning.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from core.access import Role, Session
from core.db import Database
from core.records import Change, Page
from core.services import popd
from core.services.popd import PopEntry
from tui.screens.base import ModuleScreen
from tui.text import printable, safe
from tui.widgets.confirm import ConfirmModal
from tui.widgets.paged_table import Column, Fetch, PagedTable
from tui.widgets.prompt import PromptModal

LOCKED = "LOCKED (possibly stale)"
FREE = "free"

# enable, disable and unlock: (db, session, user) -> Change
PopWrite = Callable[[Database, Session, str], Change]


def lock_cell(entry: PopEntry, locked_style: str = "bold") -> Text:
    # The word carries the meaning; the colour only helps.
    return Text(LOCKED, style=locked_style) if entry.locked else Text(FREE)


def note_cell(entry: PopEntry) -> Text:
    if entry.alias is None:
        return Text("")
    alias = printable(entry.alias)
    return Text(f"alias of {alias} (uses {alias}'s row)")


class PopLocksScreen(ModuleScreen):
    MODULE_ID = "pop"
    TITLE = "POP locks"
    HELP = (
        "Users listed here may log in over POP. A LOCKED row means a POP session holds the "
        "maildrop, or held it and crashed: cmail never clears such a stale lock by itself, and "
        "every later POP login of that user fails until it is unlocked. Unlock only a lock you "
        "know is stale. An alias logs in with its target's row, so its own row has no effect."
    )
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"enable", "disable", "unlock"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "enable", "Enable", id="pop.enable", tooltip="Allow POP logins for a user"),
        Binding("x", "disable", "Disable", id="pop.disable", tooltip="Remove the POP row"),
        Binding("u", "unlock", "Unlock", id="pop.unlock", tooltip="Clear a stale maildrop lock"),
        Binding("r", "refresh", "Refresh", id="pop.refresh"),
    ]

    def first_list(self) -> tuple[str, Fetch]:
        return "pop-table", self._fetch_page

    def compose_body(self) -> ComposeResult:
        yield PagedTable(
            [Column("User", 22), Column("Lock", 23), Column("Note")],
            fetch=self._fetch_page,
            row_key=lambda entry: entry.user,
            cells=self._cells,
            empty_text=self._empty_text,
            id="pop-table",
        )

    def _cells(self, entry: PopEntry) -> tuple[Text, Text, Text]:
        error = self.app.current_theme.error or "red"
        return safe(entry.user), lock_cell(entry, f"bold {error}"), note_cell(entry)

    @property
    def table(self) -> PagedTable:
        return self.query_one("#pop-table", PagedTable)

    def _fetch_page(self, search: str | None, after: str | None, limit: int) -> Page[PopEntry]:
        return popd.list_entries(self.db, self.session, search=search, after=after, limit=limit)

    def _empty_text(self, search: str | None) -> str:
        if search:
            return f"No POP user name contains '{search}'. Press Esc to clear the filter."
        if self.console.read_only:
            return "No user has POP enabled (the database is read-only)."
        if self.session.role is Role.USER:
            return "POP is not enabled for your account. Press e to enable it."
        return "No user you can see has POP enabled. Press e to enable POP for a user."

    def on_paged_table_loaded(self, event: PagedTable.Loaded) -> None:
        self.table.set_note(f"refreshed {self.console.clock():%H:%M:%S}")
        self.refresh_bindings()

    # --- keys ------------------------------------------------------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self.scope
        assert scope is not None
        if action == "enable":
            if scope.role is Role.USER:
                # A plain user may enable only its own row, so the key shows only while it is off.
                own = any(e.user == scope.user for e in self.table.records)
                return not own and self.table.search is None
            return True
        entry: PopEntry | None = self.table.selected
        if entry is None or not scope.may_edit_pop(entry.user):
            return None  # nothing selected, or a row this role may see but not change
        if action == "unlock" and not entry.locked:
            return None
        return True

    def action_refresh(self) -> None:
        self.table.reload()
        self.refresh_scope()

    def action_enable(self) -> None:
        own = self.session.user if self.session.role is Role.USER else None
        self.app.push_screen(
            PromptModal(
                "Enable POP",
                "User who may log in over POP (their maildrop starts unlocked):",
                value=own or "",
                placeholder="user name",
            ),
            self._enable_answered,
        )

    def _enable_answered(self, name: str | None) -> None:
        if name:
            self._write(popd.enable, name, select=name)

    def action_disable(self) -> None:
        entry = self.table.selected
        if entry is None:
            return
        self.app.push_screen(
            ConfirmModal(
                f"Disable POP for {entry.user}?",
                [
                    f"The POP row of {entry.user} is deleted: POP logins of {entry.user} fail "
                    "from now on.",
                    "Their stored mail is kept; enable POP again to give access back.",
                ],
                yes="Disable",
            ),
            partial(self._confirmed, popd.disable, entry.user),
        )

    def action_unlock(self) -> None:
        entry = self.table.selected
        if entry is None:
            return
        self.app.push_screen(
            ConfirmModal(
                f"Unlock the maildrop of {entry.user}?",
                [f"The POP lock of {entry.user} is cleared.", popd.UNLOCK_WARNING],
                yes="Unlock",
            ),
            partial(self._confirmed, popd.unlock, entry.user),
        )

    def _confirmed(self, service: PopWrite, user: str, answer: bool | None) -> None:
        if answer:
            self._write(service, user, select=user)

    # --- writes ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="pop-write", exit_on_error=False)
    def _write(self, service: PopWrite, user: str, *, select: str) -> None:
        self.attempt(partial(service, self.db, self.session, user), partial(self._written, select))

    def _written(self, select: str, change: Change) -> None:
        self.report_change(change)
        self.table.reload(select=select)
        self.refresh_scope()
