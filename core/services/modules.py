"""Which console modules this installation offers (cmail's API has a configured module list too).

`CMAIL_CONSOLE_MODULES=users,popd` enables only the named modules; `CMAIL_CONSOLE_DISABLE=mailbox`
turns named modules off; with neither, every module is on. The cmail-admin tool names (`user`,
`address`, `permissions`) are accepted for their modules. A misspelt name is an error, not a
silent no-op: a module someone meant to switch off must not stay on.
"""

from __future__ import annotations

import os

from core.errors import Invalid

MODULES = ("users", "rights", "addresses", "smtpd", "popd", "mailbox")
ENABLE_ENV = "CMAIL_CONSOLE_MODULES"
DISABLE_ENV = "CMAIL_CONSOLE_DISABLE"
# cmail-admin-<tool> names, as the CLI spells them, for the module that implements them.
TOOL_NAMES = {"user": "users", "address": "addresses", "permissions": "rights"}


def canonical(name: str) -> str | None:
    """The module a name stands for, or None when it names none."""
    name = name.strip().lower()
    name = TOOL_NAMES.get(name, name)
    return name if name in MODULES else None


def _names(variable: str, environ: dict[str, str]) -> set[str] | None:
    """The modules a comma list names; None when the variable is unset or blank."""
    raw = environ.get(variable, "")
    words = [w.strip() for w in raw.split(",") if w.strip()]
    if not words:
        return None
    names = set()
    for word in words:
        module = canonical(word)
        if module is None:
            raise Invalid(
                variable,
                f"{variable} names an unknown module {word!r}; known: {', '.join(MODULES)}.",
            )
        names.add(module)
    return names


def enabled_modules(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The enabled modules, in the console's order."""
    environ = os.environ if environ is None else environ
    enabled = _names(ENABLE_ENV, environ)
    disabled = _names(DISABLE_ENV, environ) or set()
    return tuple(m for m in MODULES if (enabled is None or m in enabled) and m not in disabled)


def is_enabled(name: str, environ: dict[str, str] | None = None) -> bool:
    """True when `name` (a module or cmail-admin tool name) is enabled."""
    module = canonical(name)
    return module is not None and module in enabled_modules(environ)
