"""Inbound routing: the `addresses` table (reference §3).

cmail-smtpd routes a recipient by the rule with the highest `address_order` whose expression
matches it under SQLite LIKE. Order is therefore both a rule's identity and its priority, and
every write here says how it changes which rule wins: which rules a rule now shadows (hides
completely) or stops shadowing, and, for partial overlaps, an example address whose
destination changes.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial, reduce
from typing import Any

import peewee as pw

from core import audit, patterns, rule_index, validation
from core.access import Role, Scope, Session, load_scope
from core.db import Database
from core.errors import Conflict, Invalid, NotFound
from core.models import Address, Smtpd, User
from core.records import Change, Page, as_dict
from core.services.common import IN_BATCH, case_twins, like_filter, page_size, search_filter

MIN_ORDER = -(2**63)
MAX_ORDER = 2**63 - 1
MAX_SHIFT_WARNINGS = 10  # beyond this, warnings summarise; Change.data keeps every shift
MAX_ANALYSED = 200  # overlapping rules checked exactly per query; beyond it the Change says so
_BATCH = 1000  # most rows read per round while a delegate's list is filtered by Scope
# Candidates of the side index checked for one quick page before the rest is left to the scan
# (a text whose trigrams are all common finds mostly rules that do not contain it).
MAX_CANDIDATES = 20_000

# What a reorder does to one pair of rules (the moved rule and one it passes).
SHADOWS = "shadows"  # the moved rule now hides the other completely
STOPS_SHADOWING = "stops-shadowing"
SHADOWED_BY = "shadowed-by"  # the moved rule is now hidden completely by the other
UNSHADOWED_BY = "unshadowed-by"
TAKES_OVERLAP = "takes-overlap"  # addresses both match now go to the moved rule
YIELDS_OVERLAP = "yields-overlap"
DUPLICATES = "duplicates"  # a new expression matches exactly what an existing rule matches


@dataclass(frozen=True)
class AddressRule:
    order: int
    expression: str
    router: str
    route: str | None


@dataclass(frozen=True)
class Shift:
    """How one pair of rules changes precedence. Orders are those before the change."""

    rule: int  # the rule that is added, moved, changed or deleted
    other: int
    effect: str
    example: str | None  # an address both match (omitted when `other` is hidden from you)
    before: int | None  # the rule that routes `example` before the change (None: no rule)
    after: int | None  # ... and after it (the new order for a moved or added rule)
    changes_destination: bool | None  # None: not routed (beyond the warnings shown)
    sentence: str


@dataclass(frozen=True)
class ReorderPreview:
    """What a move or swap would change, shown before it is committed."""

    kind: str  # "move" or "swap"
    rule: AddressRule
    new_order: int
    partner: AddressRule | None  # the rule swapped with (it gets rule.order)
    shifts: tuple[Shift, ...]
    sentences: tuple[str, ...]


# --- reading rows ---------------------------------------------------------------------------
_COLUMNS = (Address.order, Address.expression, Address.router, Address.route)


def _rule(row: tuple[int, str, str, str | None]) -> AddressRule:
    return AddressRule(order=row[0], expression=row[1], router=row[2], route=row[3])


def _rules(query: pw.ModelSelect) -> list[AddressRule]:
    return [_rule(r) for r in query.tuples()]


def _select() -> pw.ModelSelect:
    return Address.select(*_COLUMNS)


def _find(order: int) -> AddressRule | None:
    row = _select().where(Address.order == order).tuples().first()
    return _rule(row) if row is not None else None


def _require_rule(order: int) -> AddressRule:
    rule = _find(order)
    if rule is None:
        raise NotFound(f"No address rule has the order {order}.")
    return rule


def _matches(path: str) -> list[AddressRule]:
    """cmail-smtpd's own query (database.c:167): the path is the value, expressions the patterns."""
    query = _select().where(pw.Value(path) ** Address.expression).order_by(Address.order.desc())
    return _rules(query)


# --- describing rules -----------------------------------------------------------------------
def destination(rule: AddressRule) -> str:
    """Where a rule sends mail, in cmail's words."""
    if rule.router == "store":
        return f"store for {rule.route}"
    if rule.router == "redirect":
        return f"redirect to {rule.route}"
    if rule.router == "handoff":
        return f"handoff to {rule.route}"
    if rule.router == "reject":
        return f"reject ({rule.route})" if rule.route else "reject"
    return rule.router


def _viewable(scope: Scope, rule: AddressRule) -> bool:
    return scope.may_view_address(rule.expression, rule.router, rule.route)


def _name(scope: Scope, rule: AddressRule) -> str:
    """A rule in a sentence; rules the actor may not see are named by order only."""
    if _viewable(scope, rule):
        return f"rule {rule.order} ({rule.expression})"
    return f"rule {rule.order} (one you may not see)"


def _where(scope: Scope, rule: AddressRule | None) -> str:
    if rule is None:
        return "nowhere (no rule matches; unauthenticated senders get 551)"
    if not _viewable(scope, rule):
        return f"rule {rule.order} (one you may not see)"
    return f"{destination(rule)} (rule {rule.order})"


# --- the rights a rule needs ----------------------------------------------------------------
def _require_write(scope: Scope, rule: AddressRule, what: str) -> None:
    # Name the expression only to someone who may see the rule: a refusal must not reveal it.
    shown = f" ({rule.expression})" if _viewable(scope, rule) else ""
    scope.require(
        scope.may_write_address(rule.expression),
        f"{what} rule {rule.order}{shown}: it lies outside your delegated expressions",
    )


def _require_expression(scope: Scope, expression: str) -> None:
    scope.require(
        scope.may_write_address(expression),
        f"write rules for {expression}: it does not lie inside one of your delegated expressions",
    )


def _require_store_target(scope: Scope, router: str, route: str | None) -> None:
    if router == "store" and route is not None:
        scope.require(
            scope.may_store_to(route),
            f"store mail for {route}: you may only store into your own or your users' mailboxes",
        )


def _visibility_parts(scope: Scope) -> list[pw.Expression]:
    """A SQL superset of what Scope.may_view_address allows (to a non-admin), as parts each
    read in its own way: the store rules of the actor and its users, through idx_addr_router;
    and for a delegate the rules matching its patterns, by a scan. Sound because an
    expression's own text always matches itself, so `E inside P` implies `E LIKE P`."""
    owners = sorted(n for n in {scope.user, *scope.managed} if n)
    if scope.role is not Role.DELEGATE:
        owners = [scope.user] if scope.user else []
    parts = [(Address.router == "store") & Address.route.in_(owners)]
    if scope.role is Role.DELEGATE and scope.expressions:
        parts.append(reduce(operator.or_, (Address.expression**p for p in scope.expressions)))
    return parts


# --- input checks that need the database ----------------------------------------------------
def _check_store_target(route: str) -> list[str]:
    """A store route names an existing user by exact name; aliases and login-less users get
    mail nobody can fetch."""
    row = User.select(User.name, User.authdata, User.alias).where(User.name == route).first()
    if row is None:
        similar = next(iter(case_twins(route.lower())), None)
        hint = f" (did you mean {similar!r}? names are case-sensitive)" if similar else ""
        raise Invalid(
            "route",
            f"The store route must name an existing user, exact case; there is no user "
            f"{route!r}{hint}.",
        )
    warnings = []
    if row.alias_id is not None:
        warnings.append(
            f"{route} is an alias of {row.alias_id}: mail stored for {route} cannot be fetched "
            f"by POP (a login as {route} opens {row.alias_id}'s maildrop); route to "
            f"{row.alias_id} instead."
        )
    if row.authdata is None:
        warnings.append(f"{route} has no login (no password): nobody can fetch this mail yet.")
    return warnings


def _expression_warnings(expression: str) -> list[str]:
    warnings = []
    if "_" in expression:
        warnings.append(
            f"The expression {expression} contains _, which LIKE reads as any one character "
            "(there is no escape): it also matches that address with another character there."
        )
    if expression.startswith("<") or expression.endswith(">"):
        warnings.append(
            f"The expression {expression} has angle brackets; cmail matches recipients without "
            "them, so it probably never matches."
        )
    return warnings


def _route_warnings(expression: str, router: str, given: object, route: str | None) -> list[str]:
    warnings = []
    if router == "drop" and given not in (None, ""):
        warnings.append("The drop router ignores its route; none was stored.")
    if (
        router == "redirect"
        and route is not None
        and "(from-domain)" in route
        and not patterns.contains("%@%", expression)
    ):
        warnings.append(
            "(from-domain) is expanded wrongly by cmail for recipients without a domain part "
            "(it keeps the @), and this expression matches such recipients."
        )
    return warnings


def _validated(expression: object, router: object, route: object) -> tuple[str, str, str | None]:
    checked = validation.expression(expression)
    router = validation.inbound_router(router)
    return checked, router, validation.inbound_route(router, route)


def _sender_warnings(old: AddressRule, new_route: str | None) -> list[str]:
    """Removing the last store rule of a `defined` sender takes away every sender address."""
    if old.router != "store" or old.route is None or old.route == new_route:
        return []
    if not Smtpd.select().where((Smtpd.user == old.route) & (Smtpd.router == "defined")).exists():
        return []
    others = Address.select().where(
        (Address.router == "store") & (Address.route == old.route) & (Address.order != old.order)
    )
    if others.exists():
        return []
    return [
        f"{old.route} sends with the defined router and has no other store rule: "
        f"{old.route} can no longer send from any address."
    ]


# --- how a change moves precedence ----------------------------------------------------------
def _literal_ends(expression: str) -> tuple[str, str]:
    """The literal text before the first wildcard and after the last one."""
    wild = [i for i, char in enumerate(expression) if char in "%_"]
    return expression[: wild[0]], expression[wild[-1] + 1 :]


def _head(length: int) -> pw.Node:
    """A stored expression's first `length` characters as a pattern, cut after its first %."""
    first = pw.fn.instr(Address.expression, "%")
    return pw.Case(
        None,
        [(first.between(1, length), pw.fn.substr(Address.expression, 1, first))],
        pw.fn.substr(Address.expression, 1, length),
    )


def _tail(length: int) -> pw.Node:
    """A stored expression's last `length` characters as a pattern, from its last % on."""
    tail = pw.fn.substr(Address.expression, -length)
    # rtrim by every non-% character of the tail leaves it up to its last %.
    last = pw.fn.length(pw.fn.rtrim(tail, pw.fn.replace(tail, "%", "")))
    return pw.Case(None, [(last == 0, tail)], pw.Value("%").concat(pw.fn.substr(tail, last + 1)))


def _may_overlap(expression: str) -> pw.Expression | None:
    """A cheap SQL superset of the rules sharing an address with `expression` (None: any rule
    may). Exact for a literal expression; otherwise the stored pattern must be able to start
    with the expression's literal prefix and end with its literal suffix."""
    if not patterns.has_wildcards(expression):
        return pw.Value(expression) ** Address.expression
    prefix, suffix = _literal_ends(expression)
    conditions = []
    if prefix:
        conditions.append(pw.Value(prefix) ** _head(len(prefix)))
    if suffix:
        conditions.append(pw.Value(suffix) ** _tail(len(suffix)))
    return reduce(operator.and_, conditions) if conditions else None


def _effect(moved: AddressRule, other: AddressRule, above: bool, was_above: bool | None) -> str:
    """The pairwise consequence of `moved` ending above (or below) `other`. `was_above` is None
    for a rule that did not exist before. Returns '' when nothing changes for the pair."""
    if was_above is not None and was_above == above:
        return ""
    upper, lower = (moved, other) if above else (other, moved)
    if patterns.contains(upper.expression, lower.expression):
        return SHADOWS if above else SHADOWED_BY
    if was_above is None:
        # A new rule only takes addresses from the rules below it.
        overlap = above and patterns.overlaps(moved.expression, other.expression)
        return TAKES_OVERLAP if overlap else ""
    if patterns.contains(lower.expression, upper.expression):
        return UNSHADOWED_BY if above else STOPS_SHADOWING
    if patterns.overlaps(moved.expression, other.expression):
        return TAKES_OVERLAP if above else YIELDS_OVERLAP
    return ""


_EFFECT_TEXT = {
    SHADOWS: "{m} shadows {o} completely, so that rule gets no mail any more",
    STOPS_SHADOWING: "{m} no longer shadows {o}, so that rule gets mail again",
    SHADOWED_BY: "{m} is shadowed completely by {o} and gets no mail",
    UNSHADOWED_BY: "{m} is no longer shadowed by {o} and gets mail again",
    TAKES_OVERLAP: "{m} takes over the addresses it shares with {o}",
    YIELDS_OVERLAP: "{m} leaves the addresses it shares with {o} to that rule",
    DUPLICATES: "{m} matches exactly the same addresses as {o} and {how}",
}


def _destination_key(rule: AddressRule | None) -> tuple[str, str | None] | None:
    return None if rule is None else (rule.router, rule.route)


class _Analysis:
    """The precedence changes of one write, pair by pair. Candidates come from a SQL prefilter
    and at most MAX_ANALYSED per query are checked exactly, so the cost stays bounded on big
    tables; only the shifts that become warnings get their example routed through the table."""

    def __init__(self, scope: Scope, removed: Iterable[int], added: Iterable[AddressRule]) -> None:
        self.scope = scope
        self.removed = frozenset(removed)
        self.added = tuple(added)
        self.shifts: list[Shift] = []
        self.truncated = False

    def candidates(self, expression: str, where: pw.Expression) -> list[AddressRule]:
        query = _select().where(where)
        condition = _may_overlap(expression)
        if condition is not None:
            query = query.where(condition)
        found = _rules(query.order_by(Address.order.desc()).limit(MAX_ANALYSED + 1))
        if len(found) > MAX_ANALYSED:
            self.truncated = True
        return found[:MAX_ANALYSED]

    def winners(self, path: str) -> tuple[AddressRule | None, AddressRule | None]:
        """Which rule routes `path` now, and which after the change."""
        now = _matches(path)
        later = [r for r in now if r.order not in self.removed]
        later += [r for r in self.added if patterns.like(path, r.expression)]
        best_later = max(later, key=lambda r: r.order) if later else None
        return (now[0] if now else None), best_later

    def pair(
        self,
        moved: AddressRule,
        other: AddressRule,
        above: bool,
        was_above: bool | None,
        label: str,
    ) -> None:
        effect = _effect(moved, other, above, was_above)
        if effect:
            self.record(moved, other, effect, label)

    def record(
        self, moved: AddressRule, other: AddressRule, effect: str, label: str, how: str = ""
    ) -> None:
        scope = self.scope
        sentence = _EFFECT_TEXT[effect].format(m=label, o=_name(scope, other), how=how)
        example = None
        if _viewable(scope, other):
            example = patterns.example(moved.expression, other.expression)
        before = after = changed = None
        if example is not None and len(self.shifts) < MAX_SHIFT_WARNINGS:
            now, later = self.winners(example)
            before, after = (now.order if now else None), (later.order if later else None)
            changed = _destination_key(now) != _destination_key(later)
            if changed:
                sentence += f"; e.g. mail to {example} goes to {_where(scope, later)}"
                sentence += f" instead of {_where(scope, now)}"
            else:
                sentence += f" (mail to {example} goes to {_where(scope, later)} either way)"
        self.shifts.append(
            Shift(moved.order, other.order, effect, example, before, after, changed, sentence)
        )

    def sentences(self) -> list[str]:
        texts = [s.sentence[0].upper() + s.sentence[1:] + "." for s in self.shifts]
        if len(texts) > MAX_SHIFT_WARNINGS:
            rest = len(texts) - MAX_SHIFT_WARNINGS
            texts = [*texts[:MAX_SHIFT_WARNINGS], f"… and {rest} more such changes."]
        if self.truncated:
            texts.append(
                f"More than {MAX_ANALYSED} rules overlap it; only the {MAX_ANALYSED} highest "
                "were analysed."
            )
        return texts

    def data(self, rule: AddressRule, **extra: Any) -> dict[str, Any]:
        shifts = [as_dict(s) for s in self.shifts]
        return {"rule": as_dict(rule), "shifts": shifts, "truncated": self.truncated, **extra}


def _range(low: int, high: int) -> pw.Expression:
    return (Address.order > min(low, high)) & (Address.order < max(low, high))


def _placement(scope: Scope, new: AddressRule) -> _Analysis:
    """A rule appearing at `new.order` (added, or re-expressed in place) against all others."""
    analysis = _Analysis(scope, {new.order}, (new,))
    label = f"the rule {new.expression}"
    for other in analysis.candidates(new.expression, Address.order != new.order):
        above = new.order > other.order
        if patterns.contains(new.expression, other.expression) and patterns.contains(
            other.expression, new.expression
        ):
            how = "shadows it" if above else "is shadowed by it"
            analysis.record(new, other, DUPLICATES, label, how)
        else:
            analysis.pair(new, other, above, None, label)
    return analysis


def _moving(scope: Scope, rule: AddressRule, new_order: int) -> _Analysis:
    moved = AddressRule(new_order, rule.expression, rule.router, rule.route)
    analysis = _Analysis(scope, {rule.order}, (moved,))
    up = new_order > rule.order
    label = _name(scope, rule)
    for other in analysis.candidates(rule.expression, _range(rule.order, new_order)):
        analysis.pair(rule, other, up, not up, label)
    return analysis


def _swapping(scope: Scope, a: AddressRule, b: AddressRule) -> _Analysis:
    new_a = AddressRule(b.order, a.expression, a.router, a.route)
    new_b = AddressRule(a.order, b.expression, b.router, b.route)
    analysis = _Analysis(scope, {a.order, b.order}, (new_a, new_b))
    a_up = b.order > a.order
    analysis.pair(a, b, a_up, not a_up, _name(scope, a))
    for rule, up in ((a, a_up), (b, not a_up)):
        label = _name(scope, rule)
        for other in analysis.candidates(rule.expression, _range(a.order, b.order)):
            analysis.pair(rule, other, up, not up, label)
    return analysis


def _deleting(scope: Scope, rule: AddressRule) -> _Analysis:
    """Rules below a deleted rule that it shadowed or overlapped get their addresses back."""
    analysis = _Analysis(scope, {rule.order}, ())
    label = _name(scope, rule)
    for other in analysis.candidates(rule.expression, Address.order < rule.order):
        if patterns.contains(rule.expression, other.expression):
            analysis.record(rule, other, STOPS_SHADOWING, label)
        elif patterns.overlaps(rule.expression, other.expression):
            analysis.record(rule, other, YIELDS_OVERLAP, label)
    return analysis


# --- orders ---------------------------------------------------------------------------------
def _sequence(db_pw: pw.SqliteDatabase) -> int:
    row = db_pw.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = 'addresses'").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _next_auto_order(db_pw: pw.SqliteDatabase) -> int:
    """What AUTOINCREMENT will give: one past the larger of sqlite_sequence and the top order."""
    top = Address.select(pw.fn.MAX(Address.order)).scalar()
    highest = max(_sequence(db_pw), top if top is not None else 0)
    if highest >= MAX_ORDER:
        raise Conflict(
            "No automatic order is left (the highest order is the largest 64-bit number); "
            "give an explicit order."
        )
    return highest + 1


def _require_free(scope: Scope, order: int) -> None:
    holder = _find(order)
    if holder is not None:
        raise Conflict(
            f"The order {order} is already taken by {_name(scope, holder)}; "
            "orders are unique, choose a free one."
        )


def _temporary_order() -> int:
    """A free order to park a row on during a swap (the column is UNIQUE)."""
    low = Address.select(pw.fn.MIN(Address.order)).scalar()
    if low is not None and low > MIN_ORDER:
        return low - 1
    high = Address.select(pw.fn.MAX(Address.order)).scalar()
    if high is not None and high < MAX_ORDER:
        return high + 1
    raise Conflict("No free order is left to swap through; nothing was changed.")


def _set_order(old: int, new: int) -> None:
    Address.update({Address.order: new}).where(Address.order == old).execute()


# --- queries --------------------------------------------------------------------------------
def list_rules(
    db: Database,
    session: Session,
    pattern: str | None = None,
    *,
    search: str | None = None,
    after: int | None = None,
    limit: int | None = None,
    quick: bool = False,
) -> Page[AddressRule]:
    """Rules in routing order (highest order first) that the actor may see. `pattern` is
    cmail-admin's LIKE filter on expressions; `search` a literal substring of expression or
    route; `after` the last order seen.

    `quick` (filter-as-you-type): a search is answered from the console's side index of the
    rules' text when it is built (core.rule_index), instead of a scan. That page is
    provisional, as the index may lag behind the database: its `confirm()` runs the exact query
    and rebuilds the index if the answers differ. An index not built yet starts building and
    the page is the exact one."""
    size = page_size(limit)
    index = rule_index.for_database(db) if quick and search else None
    if index is not None and not index.ready:
        index.start()
        index = None
    generation = index.generation if index is not None else 0
    with db.read():
        scope = load_scope(session)
        filters = [c for c in (like_filter(Address.expression, pattern), _search(search)) if c]
        rows = None
        if index is not None and search:
            rows = _quick_rows(index, scope, filters, search, after, size + 1)
        provisional = rows is not None
        if rows is None:
            rows = _exact_rows(scope, filters, after, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    cursor = rows[-1].order if rows else None
    if not provisional:
        return Page(rows, cursor, more)
    exact = partial(list_rules, db, session, pattern, search=search, after=after, limit=limit)
    confirm = partial(_confirm, exact, rows, more, index, generation)
    return Page(rows, cursor, more, confirm=confirm)


def _exact_rows(
    scope: Scope, filters: list[pw.Expression], after: int | None, wanted: int
) -> list[AddressRule]:
    if not scope.is_admin:
        return _visible_page(scope, filters, after, wanted)
    query = _select().order_by(Address.order.desc())
    query = query.where(*filters) if filters else query
    bounded = query.where(Address.order < after) if after is not None else query
    return _rules(bounded.limit(wanted))


def _quick_rows(
    index: rule_index.RuleIndex,
    scope: Scope,
    filters: list[pw.Expression],
    text: str,
    after: int | None,
    wanted: int,
) -> list[AddressRule] | None:
    """The first `wanted` rules after the cursor among the index's candidates for `text`, each
    re-read from the database and passed through the same filters and visibility check as the
    exact query; None when the index cannot answer this text. Candidates that run long without
    filling the page (MAX_CANDIDATES), or an index invalidated meanwhile, leave the rest to the
    exact query from the last candidate checked on: every rule above it that matches the
    search was a candidate."""
    candidates = index.candidates(text, after)
    if candidates is None:
        return None
    # A non-admin's rows are first narrowed by SQL, as the exact query does, then checked.
    conditions = list(filters)
    if not scope.is_admin:
        conditions.append(reduce(operator.or_, _visibility_parts(scope)))
    found: list[AddressRule] = []
    checked, last, size = 0, after, min(wanted, IN_BATCH)
    try:
        while checked < MAX_CANDIDATES:
            batch = list(itertools.islice(candidates, size))
            if not batch:
                return found
            query = _select().where(Address.order.in_(batch), *conditions)
            for rule in _rules(query.order_by(Address.order.desc())):
                if scope.is_admin or _viewable(scope, rule):
                    found.append(rule)
                    if len(found) >= wanted:
                        return found
            checked, last, size = checked + len(batch), batch[-1], min(size * 2, IN_BATCH)
    except rule_index.IndexGone:
        pass
    return found + _exact_rows(scope, filters, last, wanted - len(found))


def _confirm(
    exact: Callable[[], Page[AddressRule]],
    rows: list[AddressRule],
    more: bool,
    index: rule_index.RuleIndex,
    generation: int,
) -> Page[AddressRule]:
    """The exact page for a provisional one; a different answer means the index has fallen
    behind the database (a change made elsewhere), so it is rebuilt."""
    page = exact()
    if page.rows != rows or page.has_more != more:
        index.invalidate(generation)
    return page


def _search(text: str | None) -> pw.Expression | None:
    on_expression = search_filter(Address.expression, text)
    if on_expression is None:
        return None
    # A NULL route does not match, as '' would not: the search text is never empty here.
    return on_expression | search_filter(Address.route, text)


def _visible_page(
    scope: Scope, filters: list[pw.Expression], after: int | None, wanted: int
) -> list[AddressRule]:
    """The first `wanted` rules passing `filters` after the cursor that the exact Scope check
    lets a non-admin see: each part of the SQL superset is read lazily in routing order (its
    test first, the filters after it), the parts are merged, and the rows pass the check one by
    one. The store-rule part never scans, so a delegate's page reads the table only as far as
    its patterns' rules need."""
    streams = [
        _stream(_select().where(part, *filters).order_by(Address.order.desc()), after, wanted)
        for part in _visibility_parts(scope)
    ]
    found: list[AddressRule] = []
    last = None
    for rule in heapq.merge(*streams, key=lambda r: -r.order):
        if rule.order == last:
            continue  # in both parts
        last = rule.order
        if _viewable(scope, rule):
            found.append(rule)
            if len(found) >= wanted:
                break
    return found


def _stream(query: pw.ModelSelect, after: int | None, first: int) -> Iterator[AddressRule]:
    """The rules of `query` after the cursor, read in batches as they are consumed: the first
    batch is a page (the superset rarely holds rules the exact check refuses), later ones grow."""
    cursor, size = after, first
    while True:
        bounded = query.where(Address.order < cursor) if cursor is not None else query
        batch = _rules(bounded.limit(size))
        yield from batch
        if len(batch) < size:
            return
        cursor = batch[-1].order
        size = min(size * 2, _BATCH)


def get_rule(db: Database, session: Session, order: int | str) -> AddressRule:
    order = validation.order(order)
    with db.read():
        scope = load_scope(session)
        rule = _require_rule(order)
        scope.require(_viewable(scope, rule), f"see address rule {order}")
    return rule


def matching_rules(db: Database, session: Session, path: str) -> list[AddressRule]:
    """cmail-admin `address test`: every rule matching `path`, the winner (what cmail-smtpd
    uses) first, limited to the rules the actor may see."""
    path = validation.text("path", path, allow_empty=True)
    with db.read():
        scope = load_scope(session)
        return [r for r in _matches(path) if _viewable(scope, r)]


# --- writes ---------------------------------------------------------------------------------
def add_rule(
    db: Database,
    session: Session,
    expression: str,
    router: str,
    route: str | None = None,
    order: int | str | None = None,
) -> Change:
    """Add a rule. Without an order it gets AUTOINCREMENT's next value and so outranks every
    existing rule; the Change says so and lists what it shadows or takes over."""
    given = route
    expression, router, route = _validated(expression, router, route)
    explicit = None if order is None else validation.order(order)
    warnings = _expression_warnings(expression) + _route_warnings(expression, router, given, route)
    with db.write(target=f"new rule {expression}") as db_pw:
        scope = load_scope(session)
        _require_expression(scope, expression)
        _require_store_target(scope, router, route)
        if router == "store":
            warnings += _check_store_target(route)
        if explicit is not None:
            _require_free(scope, explicit)
        new_order = _next_auto_order(db_pw) if explicit is None else explicit
        rule = AddressRule(new_order, expression, router, route)
        analysis = _placement(scope, rule)
        values = {Address.expression: expression, Address.router: router, Address.route: route}
        if explicit is not None:
            values[Address.order] = explicit
        # Without an order SQLite's AUTOINCREMENT picks it, keeping sqlite_sequence right.
        inserted = Address.insert(values).execute()
        if inserted != new_order:
            raise Conflict(f"The rule got order {inserted}, not {new_order}; nothing was changed.")
        audit.note(target=f"rule {new_order}", after=as_dict(rule))
    rule_index.rules_changed(db)
    message = f"Added rule {new_order}: {expression} → {destination(rule)}."
    if explicit is None:
        message += (
            f" It got the automatic order {new_order}, so it takes priority over every "
            "existing rule."
        )
    return Change(message, (*warnings, *analysis.sentences()), analysis.data(rule))


def update_rule(
    db: Database,
    session: Session,
    order: int | str,
    router: str,
    route: str | None = None,
    *,
    expression: str | None = None,
) -> Change:
    """Set a rule's router and route (and, optionally, its expression). A delegate needs
    rights on the stored expression and on the new one (B-A8)."""
    order = validation.order(order)
    given = route
    router = validation.inbound_router(router)
    route = validation.inbound_route(router, route)
    if expression is not None:
        expression = validation.expression(expression)
    with db.write(target=f"rule {order}"):
        scope = load_scope(session)
        old = _require_rule(order)
        _require_write(scope, old, "change")
        new_expression = old.expression if expression is None else expression
        _require_expression(scope, new_expression)
        _require_store_target(scope, router, route)
        warnings = _route_warnings(new_expression, router, given, route)
        if router == "store":
            warnings += _check_store_target(route)
        warnings += _sender_warnings(old, route if router == "store" else None)
        rule = AddressRule(order, new_expression, router, route)
        analysis = _Analysis(scope, (), ())
        if new_expression != old.expression:
            warnings += _expression_warnings(new_expression)
            analysis = _placement(scope, rule)
        Address.update(
            {Address.expression: new_expression, Address.router: router, Address.route: route}
        ).where(Address.order == order).execute()
        audit.note(before=as_dict(old), after=as_dict(rule))
    rule_index.rules_changed(db)
    message = f"Rule {order} ({new_expression}) now routes to {destination(rule)}"
    message += f" (was {destination(old)})." if destination(old) != destination(rule) else "."
    if new_expression != old.expression:
        message += f" Its expression was {old.expression}."
    data = analysis.data(rule, previous=as_dict(old))
    return Change(message, (*warnings, *analysis.sentences()), data)


def delete_rule(db: Database, session: Session, order: int | str) -> Change:
    order = validation.order(order)
    with db.write(target=f"rule {order}"):
        scope = load_scope(session)
        rule = _require_rule(order)
        _require_write(scope, rule, "delete")
        warnings = _sender_warnings(rule, None)
        analysis = _deleting(scope, rule)
        Address.delete().where(Address.order == order).execute()
        audit.note(before=as_dict(rule))
    rule_index.rules_changed(db)
    message = f"Deleted rule {order}: {rule.expression} → {destination(rule)}."
    return Change(message, (*warnings, *analysis.sentences()), analysis.data(rule))


def settle_store_rules(scope: Scope, user: str, to: str | None) -> list[str]:
    """Inside the write unit that deletes `user`: its store rules are deleted (`to` None) or
    made to store into `to`; returns their warnings. Each rule is checked as deleting or
    changing it alone would be, all before the first write, so one refusal leaves every rule
    as it was. The caller tells the side index (rule_index.rules_changed) after the commit."""
    rules = _rules(
        _select()
        .where(Address.router == "store", Address.route == user)
        .order_by(Address.order.desc())
    )
    warnings: list[str] = []
    if to is not None:
        warnings = _store_target_for(scope, user, to, rules)
    for rule in rules:
        _require_write(scope, rule, "delete" if to is None else "change")
    orders = [rule.order for rule in rules]
    for start in range(0, len(orders), IN_BATCH):
        chosen = Address.order.in_(orders[start : start + IN_BATCH])
        if to is None:
            Address.delete().where(chosen).execute()
        else:
            Address.update({Address.route: to}).where(chosen).execute()
    return warnings


def _store_target_for(scope: Scope, user: str, to: str, rules: list[AddressRule]) -> list[str]:
    """The user that a deleted user's store rules move to: as a store route names it."""
    validation.inbound_route("store", to)
    if to == user:
        raise Invalid(
            "store rules", f"The store rules of {user} cannot go to {user}, the user being deleted."
        )
    _require_store_target(scope, "store", to)
    return _check_store_target(to) + _gained_senders(to, rules)


def _gained_senders(user: str, rules: list[AddressRule]) -> list[str]:
    """A `defined` sender may send from the addresses of its store rules: new ones widen it."""
    if (
        not rules
        or not Smtpd.select().where((Smtpd.user == user) & (Smtpd.router == "defined")).exists()
    ):
        return []
    return [
        f"{user} sends with the defined router: {user} may now also send from "
        f"{', '.join(rule.expression for rule in rules)}."
    ]


def _move(scope: Scope, rule: AddressRule, new_order: int) -> Change:
    """Move inside an open write unit: rights, a free target, then one UPDATE."""
    _require_write(scope, rule, "move")
    if new_order == rule.order:
        raise Conflict(f"Rule {rule.order} already has the order {new_order}; nothing changed.")
    _require_free(scope, new_order)
    analysis = _moving(scope, rule, new_order)
    _set_order(rule.order, new_order)
    moved = AddressRule(new_order, rule.expression, rule.router, rule.route)
    audit.note(target=f"rule {rule.order}", before=as_dict(rule), after=as_dict(moved))
    direction = "up" if new_order > rule.order else "down"
    message = f"Moved rule {rule.order} ({rule.expression}) {direction} to order {new_order}."
    data = analysis.data(moved, previous_order=rule.order)
    return Change(message, tuple(analysis.sentences()), data)


def _swap(scope: Scope, a: AddressRule, b: AddressRule) -> Change:
    """Swap inside an open write unit, through a temporary order (the column is UNIQUE)."""
    _require_write(scope, a, "swap")
    _require_write(scope, b, "swap")
    analysis = _swapping(scope, a, b)
    temporary = _temporary_order()
    _set_order(a.order, temporary)
    _set_order(b.order, a.order)
    _set_order(temporary, b.order)
    message = (
        f"Swapped rules {a.order} ({a.expression}) and {b.order} ({b.expression}): "
        f"{a.expression} now has order {b.order}, {b.expression} order {a.order}."
    )
    rule = AddressRule(b.order, a.expression, a.router, a.route)
    audit.note(
        target=f"rules {a.order} and {b.order}",
        before=[as_dict(a), as_dict(b)],
        after=[as_dict(rule), as_dict(AddressRule(a.order, b.expression, b.router, b.route))],
    )
    data = analysis.data(rule, swapped_with=a.order)
    return Change(message, tuple(analysis.sentences()), data)


def move_rule(db: Database, session: Session, order: int | str, new_order: int | str) -> Change:
    """Give a rule a free order (cmail-admin `swap` with a free second order does this)."""
    order, new_order = validation.order(order), validation.order(new_order, "new order")
    with db.write(target=f"rule {order}"):
        scope = load_scope(session)
        change = _move(scope, _require_rule(order), new_order)
    rule_index.rules_changed(db)
    return change


def swap_rules(
    db: Database, session: Session, a: int | str, b: int | str, *, move_if_free: bool = False
) -> Change:
    """Exchange the orders of two rules in one transaction. With `move_if_free`, a free `b`
    moves rule `a` there instead, as cmail-admin-address `swap` does; the check and the write
    share one unit so nothing can take `b` in between."""
    a, b = validation.order(a, "first order"), validation.order(b, "second order")
    if a == b:
        raise Invalid("second order", "The second order must differ from the first one.")
    with db.write(target=f"rules {a} and {b}"):
        scope = load_scope(session)
        first = _require_rule(a)
        second = _find(b)
        if second is None and not move_if_free:
            raise NotFound(f"No address rule has the order {b}.")
        change = _move(scope, first, b) if second is None else _swap(scope, first, second)
    rule_index.rules_changed(db)
    return change


def _neighbour(rule: AddressRule, direction: str) -> AddressRule:
    if direction not in ("up", "down"):
        raise Invalid("direction", f"The direction must be up or down, not {direction!r}.")
    query = _select()
    if direction == "up":
        query = query.where(Address.order > rule.order).order_by(Address.order.asc())
    else:
        query = query.where(Address.order < rule.order).order_by(Address.order.desc())
    row = query.tuples().first()
    if row is None:
        place = "highest" if direction == "up" else "lowest"
        raise Conflict(f"Rule {rule.order} already has the {place} priority; nothing changed.")
    return _rule(row)


def step_rule(db: Database, session: Session, order: int | str, direction: str) -> Change:
    """Swap a rule with the next rule above ("up") or below ("down") in the whole table;
    the actor must be allowed to write both."""
    order = validation.order(order)
    with db.write(target=f"rule {order} {direction}"):
        scope = load_scope(session)
        rule = _require_rule(order)
        # Rights first: "already the highest" must not describe a rule the actor may not touch.
        _require_write(scope, rule, "move")
        change = _swap(scope, rule, _neighbour(rule, direction))
    rule_index.rules_changed(db)
    return change


def reorder_preview(
    db: Database, session: Session, order: int | str, target: int | str
) -> ReorderPreview:
    """What moving or swapping rule `order` would change, before doing it. `target` is an
    order (taken: a swap; free: a move) or "up"/"down" (a swap with the neighbour)."""
    order = validation.order(order)
    with db.read():
        scope = load_scope(session)
        rule = _require_rule(order)
        _require_write(scope, rule, "reorder")
        if target in ("up", "down"):
            partner: AddressRule | None = _neighbour(rule, str(target))
            new_order = partner.order
        else:
            new_order = validation.order(target, "new order")
            if new_order == order:
                raise Conflict(f"Rule {order} already has the order {new_order}.")
            partner = _find(new_order)
        if partner is None:
            analysis = _moving(scope, rule, new_order)
        else:
            _require_write(scope, partner, "swap with")
            analysis = _swapping(scope, rule, partner)
    kind = "move" if partner is None else "swap"
    sentences = tuple(analysis.sentences()) or ("No rule changes precedence against it.",)
    return ReorderPreview(kind, rule, new_order, partner, tuple(analysis.shifts), sentences)
