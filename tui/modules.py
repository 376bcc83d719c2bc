"""The one place that lists the console's modules. To add a screen, add a `Module` here.

Each module is a Textual *mode* (its own screen stack) added after login for the roles that may
see it; its key (a digit) switches to it from anywhere, and the palette (ctrl+p) lists it.
Keys are fixed per module so they do not move when a role sees fewer modules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.services.modules import is_enabled

if TYPE_CHECKING:
    from core.access import Role
    from tui.screens.base import ModuleScreen

# Roles by their values: core.access.Role is a StrEnum, so `Role.ADMIN in STAFF` holds, and the
# login screen appears without loading core.access (it loads peewee).
EVERYONE: frozenset[str] = frozenset({"admin", "delegate", "user"})
STAFF: frozenset[str] = frozenset({"admin", "delegate"})
ADMIN_ONLY: frozenset[str] = frozenset({"admin"})
USER_ONLY: frozenset[str] = frozenset({"user"})


@dataclass(frozen=True)
class Module:
    id: str  # the mode name; also used in `open_module('<id>')` actions
    title: str  # shown in the module bar, breadcrumb, palette and help
    key: str  # a digit: 1 Users, 2 Rights, 3 Addresses, 4 Routing, 5 POP locks, 6 Mailbox
    # "module:Class" in tui.screens, imported on first use: the login screen appears without
    # loading any module screen's code (nor the services it calls).
    screen_class: str
    roles: frozenset[str] = EVERYONE  # who sees it at all (core still checks every action)
    short: str = ""  # the module bar's label when the full titles do not fit (80 columns)

    @property
    def screen(self) -> type[ModuleScreen]:
        path, _, name = self.screen_class.partition(":")
        screen: type[ModuleScreen] = getattr(importlib.import_module(f"tui.screens.{path}"), name)
        return screen

    @property
    def label(self) -> str:
        return self.short or self.title

    def visible_to(self, role: Role) -> bool:
        return role in self.roles


MODULES: tuple[Module, ...] = (
    Module("account", "My account", "0", "account:AccountScreen", USER_ONLY),
    Module("users", "Users", "1", "users:UsersScreen", EVERYONE),
    Module("rights", "Rights", "2", "rights:RightsScreen", STAFF),
    Module("addresses", "Addresses", "3", "addresses:AddressesScreen", EVERYONE, "Addr"),
    Module("routing", "Routing", "4", "routing:RoutingScreen", EVERYONE, "Route"),
    Module("pop", "POP locks", "5", "pop_locks:PopLocksScreen", EVERYONE, "POP"),
    # Off with CMAIL_CONSOLE_DISABLE=mailbox (read as the console starts).
    *(
        (Module("mailbox", "Mailbox", "6", "mailbox:MailboxScreen", EVERYONE, "Mail"),)
        if is_enabled("mailbox")
        else ()
    ),
    Module("lint", "Lint", "7", "lint:LintScreen", ADMIN_ONLY),
    Module("audit", "Audit", "8", "audit:AuditScreen", ADMIN_ONLY),
)


def landing_module(role: Role) -> str:
    """Where a login lands: admins and delegates on Users, plain users on their own account."""
    return "account" if role == "user" else "users"


def visible_modules(role: Role) -> list[Module]:
    return [module for module in MODULES if module.visible_to(role)]


def module_by_id(module_id: str) -> Module | None:
    return next((module for module in MODULES if module.id == module_id), None)
