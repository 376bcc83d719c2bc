"""The lint's checks of one row (or one group of rows) at a time: pure functions, no database.

The streamed steps (steps.py) read each chunk with the joins a check needs and hand the values
here, so every message is written in one place whichever step finds it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from core import userdb
from core.access import PERMISSIONS
from core.passwords import AuthdataState
from core.services.lint.model import ERROR, INFO, WARNING, Finding
from core.services.lint.shadow import _Rule
from core.validation import (
    INBOUND_ROUTERS,
    OUTBOUND_ROUTERS,
    PLACEHOLDERS,
    handoff_problem,
    redirect_problem,
)

# A wildcard glued to a domain-looking literal: `%example.com` also matches `evil-example.com`.
_UNANCHORED = re.compile(r"[%_][A-Za-z0-9-][^%_@]*\.[^%_@]*$")


# --- rules ----------------------------------------------------------------------------------------


def router_findings(rule: _Rule, store: StoreTarget | None) -> Iterator[Finding]:
    """What is wrong with one rule's router and route. `store`: what the users table says of a
    store rule's route (None for other routers)."""
    router, route = rule.router, rule.route
    if router == "store":
        yield from _store_findings(rule, store or StoreTarget(False, None))
    elif router in ("redirect", "handoff"):
        yield from _forward_findings(rule)
    elif router == "reject" and route == "":
        yield Finding(
            "reject-empty-reason",
            WARNING,
            f"{rule.label} rejects with an empty reason: clients see a bare `551 `.",
            rule.order,
        )
    elif router not in INBOUND_ROUTERS:
        hint = _case_hint(router, INBOUND_ROUTERS)
        yield Finding(
            "unknown-router",
            ERROR,
            f"{rule.label} has the unknown router {router!r}{hint}: smtpd accepts its mail "
            "and silently discards it.",
            rule.order,
        )


@dataclass(frozen=True, slots=True)
class StoreTarget:
    """The user a store rule routes to: whether it exists, its alias, and (when it does not
    exist) a user whose name differs from the route only in ASCII case."""

    exists: bool
    alias: str | None
    other_case: str | None = None


def _case_hint(name: str, known: tuple[str, ...]) -> str:
    lowered = name.lower()
    return f" (router names are case-sensitive: {lowered!r})" if lowered in known else ""


def _store_findings(rule: _Rule, target: StoreTarget) -> Iterator[Finding]:
    route = rule.route
    if route is None:
        yield Finding(
            "store-no-route",
            ERROR,
            f"{rule.label} stores without a route: its mail gets 554, and an authenticated "
            "MAIL FROM matching it crashes cmail-smtpd.",
            rule.order,
        )
    elif route == "":
        yield Finding(
            "store-empty-route",
            ERROR,
            f"{rule.label} stores to '' (empty instead of NULL): its mail gets 554.",
            rule.order,
        )
    elif not target.exists:
        other = target.other_case
        hint = f" ({other!r} exists; store routes are case-sensitive)" if other else ""
        yield Finding(
            "store-missing-user",
            ERROR,
            f"{rule.label} stores to {route!r}, which does not exist{hint}: its mail gets 554.",
            rule.order,
            route,
        )
    elif target.alias is not None:
        yield Finding(
            "store-to-alias",
            WARNING,
            f"{rule.label} stores to {route}, an alias of {target.alias}: nobody can read that "
            f"mail via POP (logging in as {route} opens {target.alias}'s maildrop).",
            rule.order,
            route,
        )


def _forward_findings(rule: _Rule) -> Iterator[Finding]:
    router, route = rule.router, rule.route
    if route is None:
        yield Finding(
            "route-missing",
            ERROR,
            f"{rule.label} is a {router} rule without a route: its mail gets 554.",
            rule.order,
        )
        return
    if route == "":
        effect = "never delivered nor bounced" if router == "redirect" else "stuck in the queue"
        yield Finding(
            "route-empty",
            ERROR,
            f"{rule.label} is a {router} rule with an empty route: its mail is {effect}.",
            rule.order,
        )
        return
    problem = redirect_problem(route) if router == "redirect" else handoff_problem(route)
    if problem:
        what = "redirect target" if router == "redirect" else "handoff remote"
        yield Finding(
            f"{router}-invalid",
            ERROR,
            f"The {what} of {rule.label} {problem}.",
            rule.order,
        )
    elif router == "redirect" and "@" not in route:
        yield Finding(
            "redirect-no-domain",
            WARNING,
            f"The redirect target {route!r} of {rule.label} has no @, so its expansions have no "
            "domain: cmail-dispatchd can never deliver nor bounce them.",
            rule.order,
        )
    elif router == "redirect" and "(from-domain)" in route and "@" not in rule.expression:
        yield Finding(
            "redirect-from-domain",
            INFO,
            f"{rule.label} can match recipients without a domain, for which cmail expands "
            "(from-domain) with the @ (a cmail bug).",
            rule.order,
        )


def fixed_redirect(router: str, route: str | None) -> bool:
    """A redirect whose target is one fixed address: it can take part in a redirect loop."""
    return router == "redirect" and bool(route) and not any(p in route for p in PLACEHOLDERS)


def redirect_loop(cycle: list[_Rule]) -> Finding:
    chain = " → ".join(f"{rule.label} → {rule.route}" for rule in cycle)
    return Finding(
        "redirect-loop",
        ERROR,
        f"Redirect loop: {chain} → … ; the copies circle through the outbox for ever.",
        min(rule.order for rule in cycle),
    )


def cycle_from(start: int, step: dict[int, int]) -> list[int] | None:
    """The cycle of `step` (order → the order its target leads to) through `start`, or None."""
    path: list[int] = []
    current: int | None = start
    while current is not None and current not in path:
        path.append(current)
        current = step.get(current)
    if current is None:
        return None
    cycle = path[path.index(current) :]
    return cycle if start in cycle else None


# --- users ----------------------------------------------------------------------------------------


def alias_cycle(cycle: list[str]) -> Finding:
    return Finding(
        "alias-cycle",
        WARNING,
        f"Alias cycle {' → '.join([*cycle, cycle[0]])}: each login acts as the next account only "
        "(one level), which is confusing.",
        user=cycle[0],
    )


def alias_chain(name: str, target: str, final: str) -> Finding:
    return Finding(
        "alias-chain",
        WARNING,
        f"Alias chain {name} → {target} → {final}: logging in as {name} acts as {target}, not "
        f"{final} (one level only).",
        user=name,
    )


def authdata_malformed(name: str, state: AuthdataState) -> Iterator[Finding]:
    if state.status == "malformed":
        yield Finding(
            "authdata-malformed",
            WARNING,
            f"The password of {name} is malformed ({state.reason}): it can never log in.",
            user=name,
        )


def authdata_shared(name: str, others: list[str]) -> Finding:
    return Finding(
        "authdata-shared",
        WARNING,
        f"{name} has the same authdata as {', '.join(others)}: the same password logs into each "
        "of them.",
        user=name,
    )


def sending_findings(
    name: str, identity: str, smtpd_router: str | None, stored_to: bool
) -> Iterator[Finding]:
    """What a login may send: smtpd uses the row of the authorized identity (alias target).
    `smtpd_router` None: the identity has no smtpd entry."""
    via = "" if identity == name else f" (it logs in as {identity})"
    if smtpd_router is None:
        yield Finding(
            "no-smtpd",
            INFO,
            f"{name}{via} can log in but cannot send: {identity} has no smtpd entry, so every "
            "MAIL FROM gets 551.",
            user=name,
        )
    elif smtpd_router == "defined" and not stored_to:
        yield Finding(
            "defined-without-store",
            WARNING,
            f"{name}{via} cannot send from any address: the smtpd router of {identity} is "
            f"defined, but no store rule routes to {identity}.",
            user=name,
        )


def userdb_findings(path: str, names: list[str], master: str) -> Iterator[Finding]:
    """A user database shared by `names` (sorted): checked on disk, as cmail-smtpd opens it, by
    the rules set_user_database refuses (`master`: the master's path, which it must not be)."""
    owners = ", ".join(names)
    problem = userdb.problem(path, master)
    relative = not os.path.isabs(path)
    if problem:
        where = " (a relative path, found from the daemons' working directory)" * relative
        tail = (
            ": cmail-smtpd will not start, and POP logins of its users leave stale locks"
            if problem.stops_smtpd
            else ""
        )
        yield Finding(
            "userdb-invalid",
            ERROR,
            f"The user database {path!r}{where} of {owners} {problem}{tail}.",
            user=names[0],
        )
    elif relative:
        yield Finding(
            "userdb-relative",
            WARNING,
            f"The user database {path!r} of {owners} is a relative path: it depends on the "
            "daemons' working directory.",
            user=names[0],
        )


# --- smtpd, popd ----------------------------------------------------------------------------------


def smtpd_findings(
    name: str, router: str, route: str | None, alias: str | None
) -> Iterator[Finding]:
    """One smtpd entry; `alias`: the alias of its user (None: not an alias, or no such user)."""
    if alias is not None:
        yield Finding(
            "smtpd-ignored",
            INFO,
            f"The smtpd entry of {name} ({router}) is ignored: {name} is an alias and sends as "
            f"{alias}.",
            user=name,
        )
    if router not in OUTBOUND_ROUTERS:
        yield Finding(
            "smtpd-unknown-router",
            ERROR,
            f"The smtpd router of {name} is {router!r}{_case_hint(router, OUTBOUND_ROUTERS)}: "
            "smtpd treats it like any, so it may send as anyone.",
            user=name,
        )
    elif router == "handoff":
        yield from _smtpd_handoff(name, route)


def _smtpd_handoff(name: str, route: str | None) -> Iterator[Finding]:
    if not route:
        yield Finding(
            "smtpd-handoff-no-route",
            WARNING,
            f"The smtpd router of {name} is handoff without a remote: its mail is accepted and "
            "nothing is queued (like drop).",
            user=name,
        )
        return
    problem = handoff_problem(route)
    if problem:
        yield Finding(
            "smtpd-handoff-invalid",
            ERROR,
            f"The smtpd handoff remote of {name} {problem}: its mail stays queued for ever.",
            user=name,
        )


def pop_findings(name: str, lock: object, storage: str, alias: str | None) -> Iterator[Finding]:
    """One popd entry: its raw lock value and SQLite storage class, and its user's alias."""
    if storage != "integer":
        yield Finding(
            "pop-lock-not-integer",
            ERROR,
            f"The POP lock of {name} is stored as {storage} {lock!r}: cmail compares it with the "
            "integer 0, so every POP login fails.",
            user=name,
        )
    elif lock != 0:
        yield Finding(
            "pop-locked",
            WARNING,
            f"The maildrop of {name} is locked: either a POP session is running or the lock is "
            "stale (left by a crash), and then every POP login fails until it is unlocked.",
            user=name,
        )
    if alias is not None:
        yield Finding(
            "pop-ignored",
            INFO,
            f"The POP entry of {name} is ignored: {name} is an alias and POP logins open "
            f"{alias}'s maildrop.",
            user=name,
        )


# --- rights ---------------------------------------------------------------------------------------


def permission_unknown(name: str, permission: str) -> Iterator[Finding]:
    if permission not in PERMISSIONS:
        yield Finding(
            "permission-unknown",
            WARNING,
            f"{name} has the permission {permission!r}, which means nothing to cmail.",
            user=name,
        )


def rights_without_login(name: str, known: list[str], state: AuthdataState) -> Iterator[Finding]:
    if known and state.status != "ok":
        yield Finding(
            "rights-without-login",
            WARNING,
            f"{name} holds {' and '.join(known)} rights but cannot log in ({state.reason}): "
            "remove the rights, or they return with any new password.",
            user=name,
        )


def delegation_findings(name: str, expression: str) -> Iterator[Finding]:
    if "_" in expression:
        yield Finding(
            "delegation-underscore",
            WARNING,
            f"The delegation {expression!r} of {name} contains _, which matches any one character "
            "(a literal % too, so the old API let such delegates widen it).",
            user=name,
        )
    if _UNANCHORED.search(expression):
        yield Finding(
            "delegation-unanchored",
            WARNING,
            f"The delegation {expression!r} of {name} is not anchored at @ or a dot: it also "
            "covers look-alike domains (evil-example.com for %example.com).",
            user=name,
        )


def delegation_unused(name: str) -> Finding:
    return Finding(
        "delegation-unused",
        INFO,
        f"{name} has delegated users or addresses but not the delegate permission: they have no "
        "effect.",
        user=name,
    )
