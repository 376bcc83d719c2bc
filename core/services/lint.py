"""The lint: every problem in the whole configuration that cmail's daemons would trip over.

One read of every small table, then pure checks over that snapshot. The only quadratic question,
"which rule can never win", goes through a literal prefix/suffix index, so each rule is compared
only with the few higher rules whose pattern could contain it (reference §3.2, §3.9, §9, §10).
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import peewee as pw

from core import passwords, patterns
from core.access import PERMISSIONS, Session, load_scope
from core.db import Database
from core.models import (
    Address,
    DelegatedExpression,
    DelegatedUser,
    Permission,
    Popd,
    Smtpd,
    User,
)
from core.services.routing import userdb_problem
from core.validation import (
    INBOUND_ROUTERS,
    OUTBOUND_ROUTERS,
    PLACEHOLDERS,
    handoff_problem,
    redirect_problem,
)

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# A wildcard glued to a domain-looking literal: `%example.com` also matches `evil-example.com`.
_UNANCHORED = re.compile(r"[%_][A-Za-z0-9-][^%_@]*\.[^%_@]*$")


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str  # error | warning | info
    message: str
    order: int | None = None
    user: str | None = None


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    counts: dict[str, int] = field(default_factory=dict)  # severity → findings
    kinds: dict[str, int] = field(default_factory=dict)  # kind → findings
    rules: int = 0
    users: int = 0

    @property
    def errors(self) -> int:
        return self.counts.get(ERROR, 0)


# --- the snapshot -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    order: int
    expression: str
    router: str
    route: str | None

    @property
    def label(self) -> str:
        return f"#{self.order} {self.expression}"


@dataclass(frozen=True)
class _User:
    name: str
    authdata: str | None
    database: str | None
    alias: str | None


@dataclass(frozen=True)
class _Snapshot:
    rules: list[_Rule]  # highest order first, as smtpd walks them
    users: dict[str, _User]
    logins: dict[str, passwords.AuthdataState]
    smtpd: dict[str, tuple[str, str | None]]
    popd: list[tuple[str, object, str]]  # user, lock, SQLite storage class of the lock
    permissions: list[tuple[str, str]]
    expressions: list[tuple[str, str]]  # delegate, expression
    managed: list[tuple[str, str]]  # delegate, managed user


def _rows(query: pw.ModelSelect) -> list[tuple]:
    """A query's rows as SQLite returns them: without the models' per-value conversions, which
    cost more than the read itself on a million-row table. Text columns are CAST in SQL, so a
    stray BLOB still arrives as text, as the models would give it."""
    return User._meta.database.execute(query).fetchall()


def _text(field: pw.Field) -> pw.Node:
    return pw.Cast(field, "TEXT")


def _snapshot() -> _Snapshot:
    rules = [
        _Rule(*row)
        for row in _rows(
            Address.select(
                Address.order,
                _text(Address.expression),
                _text(Address.router),
                _text(Address.route),
            ).order_by(Address.order.desc())
        )
    ]
    users = {
        row[0]: _User(*row)
        for row in _rows(
            User.select(
                _text(User.name), _text(User.authdata), _text(User.database), _text(User.alias)
            )
        )
    }
    smtpd = {
        user: (router, route)
        for user, router, route in _rows(
            Smtpd.select(_text(Smtpd.user), _text(Smtpd.router), _text(Smtpd.route))
        )
    }
    # The raw lock value and its storage class: text such as 'false' must show up as text.
    popd = _rows(
        Popd.select(_text(Popd.user), pw.SQL("pop_lock"), pw.fn.typeof(pw.SQL("pop_lock")))
    )
    permissions = list(Permission.select(Permission.user, Permission.permission).tuples())
    expressions = list(
        DelegatedExpression.select(
            DelegatedExpression.user, DelegatedExpression.expression
        ).tuples()
    )
    managed = list(DelegatedUser.select(DelegatedUser.user, DelegatedUser.delegate).tuples())
    return _Snapshot(rules, users, {}, smtpd, popd, permissions, expressions, managed)


def lint(db: Database, session: Session) -> LintReport:
    """Every finding about the whole configuration (admins only)."""
    with db.read():
        scope = load_scope(session)
        scope.require_admin("lint the whole configuration")
        snap = _snapshot()
    # File checks and pattern work run after the read, so the daemons are never kept waiting.
    logins = passwords.inspect([(u.name, u.authdata) for u in snap.users.values()])
    snap = replace(snap, logins=logins)
    findings = [*_rule_findings(snap), *_user_findings(snap), *_rights_findings(snap)]
    findings.sort(key=_sort_key)
    counts = {severity: 0 for severity in SEVERITIES}
    counts.update(Counter(f.severity for f in findings))
    kinds = dict(sorted(Counter(f.kind for f in findings).items()))
    return LintReport(tuple(findings), counts, kinds, len(snap.rules), len(snap.users))


def _sort_key(finding: Finding) -> tuple[int, str, int, str]:
    order = -finding.order if finding.order is not None else 0
    return (SEVERITIES.index(finding.severity), finding.kind, order, finding.user or "")


# --- rules ---------------------------------------------------------------------------------------


def _rule_findings(snap: _Snapshot) -> Iterator[Finding]:
    index = RuleIndex(snap.rules)
    folded_users = {_fold(name): name for name in snap.users}
    for rule in snap.rules:
        yield from _router_findings(rule, snap.users, folded_users)
    yield from shadow_findings(snap.rules, index)
    yield from _redirect_loops(snap.rules, index)


def _router_findings(
    rule: _Rule, users: dict[str, _User], folded_users: dict[str, str]
) -> Iterator[Finding]:
    router, route = rule.router, rule.route
    if router == "store":
        yield from _store_findings(rule, users, folded_users)
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


def _case_hint(name: str, known: tuple[str, ...]) -> str:
    lowered = name.lower()
    return f" (router names are case-sensitive: {lowered!r})" if lowered in known else ""


def _store_findings(
    rule: _Rule, users: dict[str, _User], folded_users: dict[str, str]
) -> Iterator[Finding]:
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
    elif route not in users:
        other = folded_users.get(_fold(route))
        hint = f" ({other!r} exists; store routes are case-sensitive)" if other else ""
        yield Finding(
            "store-missing-user",
            ERROR,
            f"{rule.label} stores to {route!r}, which does not exist{hint}: its mail gets 554.",
            rule.order,
            route,
        )
    elif users[route].alias is not None:
        target = users[route].alias
        yield Finding(
            "store-to-alias",
            WARNING,
            f"{rule.label} stores to {route}, an alias of {target}: nobody can read that mail "
            f"via POP (logging in as {route} opens {target}'s maildrop).",
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


# --- shadowing ----------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """SQLite's LIKE folds ASCII letters only."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class _Shape:
    """The literal ends of a pattern, folded: every string it matches starts with `prefix` and
    ends with `suffix`. Without wildcards both are the whole (folded) text."""

    prefix: str
    suffix: str
    wild: bool
    single: bool  # exactly one `%` and no `_`: containment reduces to prefix, suffix, length


def _shape(expression: str) -> _Shape:
    folded = _fold(expression)
    starts = [i for i in (expression.find("%"), expression.find("_")) if i >= 0]
    if not starts:
        return _Shape(folded, folded, False, False)
    first, last = min(starts), max(expression.rfind("%"), expression.rfind("_"))
    single = first == last and expression[first] == "%"
    return _Shape(folded[:first], folded[last + 1 :], True, single)


class _Buckets:
    """Wildcard rules keyed by their literal ends, each bucket highest order first."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, list[_Rule]]] = defaultdict(lambda: defaultdict(list))
        self.suffix_lengths: list[int] = []
        self.prefix_lengths: dict[str, list[int]] = {}

    def add(self, rule: _Rule, shape: _Shape) -> None:
        self.buckets[shape.suffix][shape.prefix].append(rule)

    def freeze(self) -> None:
        for bucket in self.buckets.values():
            for rules in bucket.values():
                rules.sort(key=lambda r: -r.order)
        self.suffix_lengths = sorted({len(s) for s in self.buckets})
        self.prefix_lengths = {s: sorted({len(p) for p in b}) for s, b in self.buckets.items()}

    def candidates(self, prefix: str, suffix: str, above: int | None = None) -> Iterator[_Rule]:
        """Rules whose literal suffix ends `suffix` and whose literal prefix starts `prefix`
        (both folded), optionally only those ordered above `above`."""
        for length in self.suffix_lengths:
            if length > len(suffix):
                break
            key = suffix[len(suffix) - length :]
            bucket = self.buckets.get(key)
            if bucket is None:
                continue
            for size in self.prefix_lengths[key]:
                if size > len(prefix):
                    break
                for rule in bucket.get(prefix[:size], ()):
                    if above is not None and rule.order <= above:
                        break
                    yield rule


class RuleIndex:
    """Rules by their literal ends. A pattern H can only contain (or match) R if H's literal
    suffix ends R's and H's literal prefix starts R's, so lookups touch only such H. Patterns
    with a single `%` are kept apart: for them fitting ends (and length) decide exactly."""

    def __init__(self, rules: Iterable[_Rule]) -> None:
        self.shapes: dict[int, _Shape] = {}
        self.literal: dict[str, list[_Rule]] = defaultdict(list)
        self.single, self.multi = _Buckets(), _Buckets()
        for rule in rules:
            shape = _shape(rule.expression)
            self.shapes[rule.order] = shape
            if not shape.wild:
                self.literal[shape.prefix].append(rule)
            else:
                (self.single if shape.single else self.multi).add(rule, shape)
        for rules_ in self.literal.values():
            rules_.sort(key=lambda r: -r.order)
        self.single.freeze()
        self.multi.freeze()

    def _fits(self, outer: _Rule, text: str) -> bool:
        """A single-`%` pattern whose ends fit a literal text matches it if it is long enough."""
        shape = self.shapes[outer.order]
        return len(text) >= len(shape.prefix) + len(shape.suffix)

    def matches(self, text: str, above: int | None = None) -> list[_Rule]:
        """Every rule `text LIKE expression` (above an order), highest first, as smtpd's query."""
        folded = _fold(text)
        found = [r for r in self.literal.get(folded, ()) if above is None or r.order > above]
        found += [r for r in self.single.candidates(folded, folded, above) if self._fits(r, text)]
        found += [
            r
            for r in self.multi.candidates(folded, folded, above)
            if patterns.like(text, r.expression)
        ]
        return sorted(found, key=lambda r: -r.order)

    def container(self, rule: _Rule) -> _Rule | None:
        """A higher-order rule matching every address `rule` matches, or None. Exact, cheap
        containers (equal literals, single `%`) are preferred, the highest of them first."""
        shape = self.shapes[rule.order]
        if not shape.wild:
            return self._literal_container(rule, shape)
        cheap = list(self.single.candidates(shape.prefix, shape.suffix, rule.order))
        if cheap:
            return max(cheap, key=lambda r: r.order)
        found = sorted(
            self.multi.candidates(shape.prefix, shape.suffix, rule.order), key=lambda r: -r.order
        )
        witnesses = _witnesses(rule.expression)
        for other in found:
            if all(patterns.like(w, other.expression) for w in witnesses) and patterns.contains(
                other.expression, rule.expression
            ):
                return other
        return None

    def _literal_container(self, rule: _Rule, shape: _Shape) -> _Rule | None:
        text = rule.expression
        cheap = [r for r in self.literal.get(shape.prefix, ()) if r.order > rule.order]
        cheap += [
            r
            for r in self.single.candidates(shape.prefix, shape.suffix, rule.order)
            if self._fits(r, text)
        ]
        if cheap:
            return max(cheap, key=lambda r: r.order)
        found = sorted(
            self.multi.candidates(shape.prefix, shape.suffix, rule.order), key=lambda r: -r.order
        )
        return next((r for r in found if patterns.like(text, r.expression)), None)


def _witnesses(expression: str) -> tuple[str, str]:
    """Two strings the pattern matches (`%` empty, then `%` one character). A pattern that
    misses either cannot contain it: this spares most of the exact automaton checks."""
    filler = "\x01"
    shortest = expression.replace("%", "").replace("_", filler)
    longer = expression.replace("%", filler).replace("_", filler)
    return shortest, longer


def shadow_findings(rules: list[_Rule], index: RuleIndex) -> Iterator[Finding]:
    """Rules that can never win: an exact duplicate or one higher pattern matches every
    address they match. `rules` comes highest order first."""
    first_seen: dict[str, _Rule] = {}
    for rule in rules:
        still = " (it still counts for smtpd's defined router)" if rule.router == "store" else ""
        twin = first_seen.setdefault(rule.expression, rule)
        if twin is not rule:
            yield Finding(
                "duplicate",
                WARNING,
                f"{rule.label} duplicates {twin.label} ({twin.router}), which comes first: "
                f"it never routes mail{still}.",
                rule.order,
            )
            continue
        winner = index.container(rule)
        if winner is not None:
            yield Finding(
                "shadowed",
                WARNING,
                f"{rule.label} is shadowed by {winner.label} ({winner.router}), which matches "
                f"every address it does: it never routes mail{still}.",
                rule.order,
            )


def _redirect_loops(rules: list[_Rule], index: RuleIndex) -> Iterator[Finding]:
    """Redirects with a fixed target that leads back to themselves through other redirects."""
    step: dict[int, _Rule] = {}
    for rule in rules:
        if _fixed_redirect(rule):
            matches = index.matches(rule.route)
            if matches and _fixed_redirect(matches[0]):
                step[rule.order] = matches[0]
    reported: set[int] = set()
    for start in step:
        cycle = _cycle_from(start, step)
        if cycle and min(cycle) not in reported:
            reported.add(min(cycle))
            by_order = {r.order: r for r in rules}
            chain = " → ".join(f"{by_order[o].label} → {by_order[o].route}" for o in cycle)
            yield Finding(
                "redirect-loop",
                ERROR,
                f"Redirect loop: {chain} → … ; the copies circle through the outbox for ever.",
                min(cycle),
            )


def _fixed_redirect(rule: _Rule) -> bool:
    return (
        rule.router == "redirect"
        and bool(rule.route)
        and not any(p in rule.route for p in PLACEHOLDERS)
    )


def _cycle_from(start: int, step: dict[int, _Rule]) -> list[int] | None:
    path: list[int] = []
    current: int | None = start
    while current is not None and current not in path:
        path.append(current)
        following = step.get(current)
        current = None if following is None else following.order
    if current is None:
        return None
    cycle = path[path.index(current) :]
    return cycle if start in cycle else None


# --- users, smtpd, popd ---------------------------------------------------------------------------


def _user_findings(snap: _Snapshot) -> Iterator[Finding]:
    yield from _alias_findings(snap.users)
    yield from _authdata_findings(snap.logins)
    yield from _sending_findings(snap)
    yield from _smtpd_findings(snap)
    yield from _pop_findings(snap)
    yield from _userdb_findings(snap.users)


def _alias_findings(users: dict[str, _User]) -> Iterator[Finding]:
    reported_cycles: set[frozenset[str]] = set()
    for user in users.values():
        if user.alias is None:
            continue
        cycle = _alias_cycle(user.name, users)
        if cycle is not None:
            if frozenset(cycle) not in reported_cycles:
                reported_cycles.add(frozenset(cycle))
                yield Finding(
                    "alias-cycle",
                    WARNING,
                    f"Alias cycle {' → '.join([*cycle, cycle[0]])}: each login acts as the next "
                    "account only (one level), which is confusing.",
                    user=cycle[0],
                )
            continue
        target = users.get(user.alias)
        if target is not None and target.alias is not None:
            yield Finding(
                "alias-chain",
                WARNING,
                f"Alias chain {user.name} → {target.name} → {target.alias}: logging in as "
                f"{user.name} acts as {target.name}, not {target.alias} (one level only).",
                user=user.name,
            )


def _alias_cycle(name: str, users: dict[str, _User]) -> list[str] | None:
    """The alias cycle through `name`, ordered from its smallest name, or None."""
    path = [name]
    current = users[name].alias
    while current is not None and current in users and current not in path:
        path.append(current)
        current = users[current].alias
    if current != name:
        return None
    first = path.index(min(path))
    return path[first:] + path[:first]


def _authdata_findings(logins: dict[str, passwords.AuthdataState]) -> Iterator[Finding]:
    for name, state in sorted(logins.items()):
        if state.status == "malformed":
            yield Finding(
                "authdata-malformed",
                WARNING,
                f"The password of {name} is malformed ({state.reason}): it can never log in.",
                user=name,
            )
        if state.shared_with:
            yield Finding(
                "authdata-shared",
                WARNING,
                f"{name} has the same authdata as {', '.join(state.shared_with)}: the same "
                "password logs into each of them.",
                user=name,
            )


def _sending_findings(snap: _Snapshot) -> Iterator[Finding]:
    """What each login may send: smtpd uses the row of the authorized identity (alias target)."""
    stored_to = {r.route for r in snap.rules if r.router == "store" and r.route}
    for user in snap.users.values():
        if snap.logins[user.name].status != "ok":
            continue
        identity = user.alias or user.name
        via = "" if identity == user.name else f" (it logs in as {identity})"
        row = snap.smtpd.get(identity)
        if row is None:
            yield Finding(
                "no-smtpd",
                INFO,
                f"{user.name}{via} can log in but cannot send: {identity} has no smtpd entry, "
                "so every MAIL FROM gets 551.",
                user=user.name,
            )
        elif row[0] == "defined" and identity not in stored_to:
            yield Finding(
                "defined-without-store",
                WARNING,
                f"{user.name}{via} cannot send from any address: the smtpd router of "
                f"{identity} is defined, but no store rule routes to {identity}.",
                user=user.name,
            )


def _smtpd_findings(snap: _Snapshot) -> Iterator[Finding]:
    for name, (router, route) in sorted(snap.smtpd.items()):
        user = snap.users.get(name)
        if user is not None and user.alias is not None:
            yield Finding(
                "smtpd-ignored",
                INFO,
                f"The smtpd entry of {name} ({router}) is ignored: {name} is an alias and "
                f"sends as {user.alias}.",
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


def _pop_findings(snap: _Snapshot) -> Iterator[Finding]:
    for name, lock, storage in snap.popd:
        if storage != "integer":
            yield Finding(
                "pop-lock-not-integer",
                ERROR,
                f"The POP lock of {name} is stored as {storage} {lock!r}: cmail compares it with "
                "the integer 0, so every POP login fails.",
                user=name,
            )
        elif lock != 0:
            yield Finding(
                "pop-locked",
                WARNING,
                f"The maildrop of {name} is locked: either a POP session is running or the lock "
                "is stale (left by a crash), and then every POP login fails until it is unlocked.",
                user=name,
            )
        user = snap.users.get(name)
        if user is not None and user.alias is not None:
            yield Finding(
                "pop-ignored",
                INFO,
                f"The POP entry of {name} is ignored: {name} is an alias and POP logins open "
                f"{user.alias}'s maildrop.",
                user=name,
            )


def _userdb_findings(users: dict[str, _User]) -> Iterator[Finding]:
    by_path: dict[str, list[str]] = defaultdict(list)
    for user in users.values():
        if user.database is not None:
            by_path[user.database].append(user.name)
    for path, names in sorted(by_path.items()):
        owners = ", ".join(sorted(names))
        problem = userdb_problem(path)
        relative = not os.path.isabs(path)
        if problem:
            where = " (a relative path, found from the daemons' working directory)" * relative
            yield Finding(
                "userdb-invalid",
                ERROR,
                f"The user database {path!r}{where} of {owners} {problem}: cmail-smtpd will not "
                "start, and POP logins of its users leave stale locks.",
                user=sorted(names)[0],
            )
        elif relative:
            yield Finding(
                "userdb-relative",
                WARNING,
                f"The user database {path!r} of {owners} is a relative path: it depends on the "
                "daemons' working directory.",
                user=sorted(names)[0],
            )


# --- rights ---------------------------------------------------------------------------------------


def _rights_findings(snap: _Snapshot) -> Iterator[Finding]:
    granted: dict[str, set[str]] = defaultdict(set)
    for name, permission in snap.permissions:
        granted[name].add(permission)
        if permission not in PERMISSIONS:
            yield Finding(
                "permission-unknown",
                WARNING,
                f"{name} has the permission {permission!r}, which means nothing to cmail.",
                user=name,
            )
    for name, held in sorted(granted.items()):
        known = sorted(held & set(PERMISSIONS))
        state = snap.logins.get(name)
        if state is not None and known and state.status != "ok":
            reason = state.reason
            yield Finding(
                "rights-without-login",
                WARNING,
                f"{name} holds {' and '.join(known)} rights but cannot log in ({reason}): "
                "remove the rights, or they return with any new password.",
                user=name,
            )
    yield from _delegation_findings(snap, granted)


def _delegation_findings(snap: _Snapshot, granted: dict[str, set[str]]) -> Iterator[Finding]:
    for name, expression in sorted(snap.expressions):
        if "_" in expression:
            yield Finding(
                "delegation-underscore",
                WARNING,
                f"The delegation {expression!r} of {name} contains _, which matches any one "
                "character (a literal % too, so the old API let such delegates widen it).",
                user=name,
            )
        if _UNANCHORED.search(expression):
            yield Finding(
                "delegation-unanchored",
                WARNING,
                f"The delegation {expression!r} of {name} is not anchored at @ or a dot: it "
                "also covers look-alike domains (evil-example.com for %example.com).",
                user=name,
            )
    delegating = {n for n, _ in snap.expressions} | {n for n, _ in snap.managed}
    for name in sorted(delegating):
        if "delegate" not in granted.get(name, set()):
            yield Finding(
                "delegation-unused",
                INFO,
                f"{name} has delegated users or addresses but not the delegate permission: "
                "they have no effect.",
                user=name,
            )
