"""The streamed lint: each step reads one table in keyset chunks, each chunk in its own short
read unit, and yields what that chunk shows before reading the next.

A chunk's cross-table questions (does the store route's user exist, is it an alias, does the
login's identity have an smtpd entry) are joins through cmail's own indexes. Questions that
compare rows with every other row (equal rule texts, equal passwords, where a redirect's target
leads, which wildcard rule contains a rule) go through the scratch pad (scratch.py, and
shadow.py's PadIndex). So the lint never holds a read transaction for long (the daemons share
the file and a long reader delays their commits) and never holds a table in memory.

Cheap, common checks come first (POP locks, smtpd entries, rights, users, rules); those that
can only answer once every rule or user has been seen come last. A chunk sees the database as it
is then: a change made meanwhile shows up in the chunks read after it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import peewee

from core.access import PERMISSIONS, Session, load_scope
from core.db import Database
from core.passwords import classify
from core.patterns import fold
from core.services.lint import checks
from core.services.lint.checks import StoreTarget
from core.services.lint.model import SEVERITIES, Finding, LintBatch, LintReport, sort_key
from core.services.lint.scratch import Literal, Scratch
from core.services.lint.shadow import (
    PadIndex,
    _Rule,
    _shape,
    duplicate,
    is_wild,
    shadowed,
)

CHUNK = 500  # rows per read unit: ~1 ms each; the rows of a unit are what the lint holds at once
_FIRST_CHUNK = 250  # rows of a step's first unit
_KNOWN = ", ".join(f"'{p}'" for p in PERMISSIONS)  # constants, so they may stand in the SQL
_MAX_CASE_VARIANTS = 16  # user names that differ from a route only in case, searched at most

# Each query holds {where}: nothing for the first chunk, then the keyset condition.
_RIGHTS = f"""
SELECT a.rowid, CAST(a.api_user AS TEXT), CAST(a.api_permission AS TEXT), a.api_user,
       u.rowid IS NOT NULL, CAST(u.user_authdata AS TEXT),
       a.api_permission IN ({_KNOWN}) AND NOT EXISTS (
           SELECT 1 FROM api_access b WHERE b.api_user = a.api_user
           AND b.api_permission IN ({_KNOWN}) AND b.api_permission < a.api_permission)
FROM api_access a LEFT JOIN users u ON u.user_name = a.api_user {{where}}"""
_EXPRESSIONS = """
SELECT d.rowid, CAST(d.api_user AS TEXT), CAST(d.api_expression AS TEXT),
       NOT EXISTS (SELECT 1 FROM api_address_delegates e
                   WHERE e.api_user = d.api_user AND e.api_expression < d.api_expression)
       AND NOT EXISTS (SELECT 1 FROM api_access a
                       WHERE a.api_user = d.api_user AND a.api_permission = 'delegate')
FROM api_address_delegates d {where}"""
_MANAGED = """
SELECT m.rowid, CAST(m.api_user AS TEXT),
       NOT EXISTS (SELECT 1 FROM api_user_delegates n
                   WHERE n.api_user = m.api_user AND n.api_delegate < m.api_delegate)
       AND NOT EXISTS (SELECT 1 FROM api_address_delegates e WHERE e.api_user = m.api_user)
       AND NOT EXISTS (SELECT 1 FROM api_access a
                       WHERE a.api_user = m.api_user AND a.api_permission = 'delegate')
FROM api_user_delegates m {where}"""
# The raw lock and its storage class: text such as 'false' must show up as text.
_POPD = """
SELECT p.rowid, CAST(p.pop_user AS TEXT), p.pop_lock, typeof(p.pop_lock), CAST(u.user_alias AS TEXT)
FROM popd p LEFT JOIN users u ON u.user_name = p.pop_user {where}"""
_SMTPD = """
SELECT s.rowid, CAST(s.smtpd_user AS TEXT), CAST(s.smtpd_router AS TEXT),
       CAST(s.smtpd_route AS TEXT), CAST(u.user_alias AS TEXT)
FROM smtpd s LEFT JOIN users u ON u.user_name = s.smtpd_user {where}"""
# smtpd uses the row of the identity a login acts as: its alias target, if any.
_IDENTITY = "coalesce(nullif(u.user_alias, ''), u.user_name)"
_USERS = f"""
SELECT u.rowid, CAST(u.user_name AS TEXT), CAST(u.user_authdata AS TEXT),
       CAST(u.user_database AS TEXT), CAST(u.user_alias AS TEXT),
       t.rowid IS NOT NULL, CAST(t.user_alias AS TEXT),
       s.rowid IS NOT NULL, CAST(s.smtpd_router AS TEXT),
       s.smtpd_router = 'defined' AND EXISTS (
           SELECT 1 FROM addresses WHERE address_router = 'store'
           AND address_route = {_IDENTITY} AND address_route <> '')
FROM users u
LEFT JOIN users t ON t.user_name = u.user_alias
LEFT JOIN smtpd s ON s.smtpd_user = {_IDENTITY} {{where}}"""
_RULES = """
SELECT a.address_order, CAST(a.address_expression AS TEXT), CAST(a.address_router AS TEXT),
       CAST(a.address_route AS TEXT), u.rowid IS NOT NULL, CAST(u.user_alias AS TEXT)
FROM addresses a
LEFT JOIN users u ON a.address_router = 'store' AND u.user_name = a.address_route {where}"""


def scan(db: Database, session: Session, chunk: int = CHUNK) -> Iterator[LintBatch]:
    """The lint as it goes (admins only): one batch per chunk of rows checked, with the findings
    of that chunk (unsorted) and the progress so far. Close the generator to stop early."""
    run = _Scan(db, session, max(1, chunk))
    try:
        yield from run.steps()
    finally:
        run.close()


def lint(db: Database, session: Session) -> LintReport:
    """Every finding about the whole configuration (admins only), errors first."""
    findings: list[Finding] = []
    rules = users = 0
    for batch in scan(db, session):
        findings.extend(batch.findings)
        rules, users = batch.rules, batch.users
    findings.sort(key=sort_key)
    counts = {severity: 0 for severity in SEVERITIES}
    counts.update(Counter(f.severity for f in findings))
    kinds = dict(sorted(Counter(f.kind for f in findings).items()))
    return LintReport(tuple(findings), counts, kinds, rules, users)


class _Scan:
    def __init__(self, db: Database, session: Session, chunk: int) -> None:
        self.db, self.session, self.chunk = db, session, chunk
        self.scratch = Scratch()
        self.wildcards = PadIndex(self.scratch)  # the wildcard rules seen so far: all above
        self.fixed_wildcards = 0  # wildcard redirects to one address, kept in the scratch pad
        self.rules = self.users = 0

    def close(self) -> None:
        self.scratch.close()

    def steps(self) -> Iterator[LintBatch]:
        yield from self._popd()
        yield from self._smtpd()
        yield from self._rights()
        yield from self._delegations()
        yield from self._users()
        yield from self._rules()
        yield from self._homes()
        yield from self._shared_logins()
        yield from self._redirect_loops()

    # --- reading ---------------------------------------------------------------------------------
    @contextmanager
    def _unit(self) -> Iterator[peewee.SqliteDatabase]:
        """One short read unit; rights are checked in each, as in every service call."""
        with self.db.read() as conn:
            load_scope(self.session).require_admin("lint the whole configuration")
            yield conn

    def _chunks(
        self, select: str, key: str, table: str, *, descending: bool = False
    ) -> Iterator[tuple[list[tuple], int | None]]:
        """`select`'s rows in keyset chunks on `key` (its first column), each chunk read in its
        own unit, with the number of rows of `table` (None until the second unit counts them:
        the first chunk is small and counts nothing, so the first findings come at once)."""
        after: object = None
        total: int | None = None
        while True:
            first = after is None
            limit = min(self.chunk, _FIRST_CHUNK) if first else self.chunk
            where = "" if first else f"WHERE {key} {'<' if descending else '>'} ?"
            sql = select.replace("{where}", where)
            sql += f" ORDER BY {key}{' DESC' if descending else ''} LIMIT ?"
            with self._unit() as conn:
                if not first and total is None:
                    total = conn.execute_sql(f"SELECT count(*) FROM {table}").fetchone()[0]
                rows = conn.execute_sql(sql, (limit,) if first else (after, limit)).fetchall()
            if first and len(rows) < limit:
                total = len(rows)  # that was all of it
            yield rows, total
            if len(rows) < limit:
                return
            after = rows[-1][0]

    def _batch(
        self, findings: Sequence[Finding], step: str, done: int, total: int | None
    ) -> LintBatch:
        return LintBatch(tuple(findings), step, done, total, self.rules, self.users)

    # --- rights ----------------------------------------------------------------------------------
    def _rights(self) -> Iterator[LintBatch]:
        done = 0
        for rows, total in self._chunks(_RIGHTS, "a.rowid", "api_access"):
            findings: list[Finding] = []
            locked_out = []  # holders of rights whose login does not work
            for _, name, permission, raw_name, exists, authdata, first_known in rows:
                findings += checks.permission_unknown(name, permission)
                if first_known and exists and classify(authdata).status != "ok":
                    locked_out.append((name, raw_name, authdata))
            if locked_out:
                with self._unit() as conn:
                    for name, raw_name, authdata in locked_out:
                        known = sorted(
                            permission
                            for (permission,) in conn.execute_sql(
                                "SELECT CAST(api_permission AS TEXT) FROM api_access "
                                f"WHERE api_user = ? AND api_permission IN ({_KNOWN})",
                                (raw_name,),
                            )
                        )
                        findings += checks.rights_without_login(name, known, classify(authdata))
            done += len(rows)
            yield self._batch(findings, "rights", done, total)

    def _delegations(self) -> Iterator[LintBatch]:
        done = 0
        for rows, total in self._chunks(_EXPRESSIONS, "d.rowid", "api_address_delegates"):
            findings: list[Finding] = []
            for _, name, expression, unused in rows:
                findings += checks.delegation_findings(name, expression)
                if unused:
                    findings.append(checks.delegation_unused(name))
            done += len(rows)
            yield self._batch(findings, "delegations", done, total)
        done = 0
        for rows, total in self._chunks(_MANAGED, "m.rowid", "api_user_delegates"):
            findings = [checks.delegation_unused(name) for _, name, unused in rows if unused]
            done += len(rows)
            yield self._batch(findings, "delegated users", done, total)

    # --- POP and smtpd entries -------------------------------------------------------------------
    def _popd(self) -> Iterator[LintBatch]:
        done = 0
        for rows, total in self._chunks(_POPD, "p.rowid", "popd"):
            findings: list[Finding] = []
            for _, name, lock, storage, alias in rows:
                findings += checks.pop_findings(name, lock, storage, alias)
            done += len(rows)
            yield self._batch(findings, "POP entries", done, total)

    def _smtpd(self) -> Iterator[LintBatch]:
        done = 0
        for rows, total in self._chunks(_SMTPD, "s.rowid", "smtpd"):
            findings: list[Finding] = []
            for _, name, router, route, alias in rows:
                findings += checks.smtpd_findings(name, router, route, alias)
            done += len(rows)
            yield self._batch(findings, "smtpd entries", done, total)

    # --- users -----------------------------------------------------------------------------------
    def _users(self) -> Iterator[LintBatch]:
        for rows, total in self._chunks(_USERS, "u.rowid", "users"):
            findings: list[Finding] = []
            logins, homes, chained = [], [], []
            for row in rows:
                seq, name, authdata, database, alias, target, target_alias = row[:7]
                has_smtpd, smtpd_router, stored_to = row[7:]
                state = classify(authdata)
                findings += checks.authdata_malformed(name, state)
                if authdata:
                    logins.append((authdata, seq, name))
                if database is not None:
                    homes.append((database, name))
                if alias is not None and (alias == name or (target and target_alias is not None)):
                    chained.append((name, alias, target_alias))
                if state.status == "ok":
                    router = smtpd_router if has_smtpd else None
                    identity = alias or name
                    findings += checks.sending_findings(name, identity, router, bool(stored_to))
            if chained:
                findings += self._alias_findings(chained)
            if logins:
                self.scratch.add_logins(logins)
            if homes:
                self.scratch.add_homes(homes)
            self.users += len(rows)
            yield self._batch(findings, "users", self.users, total)

    def _alias_findings(self, chained: list[tuple[str, str, str | None]]) -> Iterator[Finding]:
        """Aliases whose target is an alias too: a cycle (reported by its smallest name, once)
        or a chain."""
        with self._unit() as conn:
            for name, alias, target_alias in chained:
                cycle = _alias_cycle(conn, name, alias)
                if cycle is not None:
                    if cycle[0] == name:
                        yield checks.alias_cycle(cycle)
                elif target_alias is not None:
                    yield checks.alias_chain(name, alias, target_alias)

    # --- rules -----------------------------------------------------------------------------------
    def _rules(self) -> Iterator[LintBatch]:
        for rows, total in self._chunks(_RULES, "a.address_order", "addresses", descending=True):
            rules = [
                _Rule(order, expression, router, route)
                for order, expression, router, route, *_ in rows
            ]
            findings = self._router_findings(rules, rows)
            findings += self._shadow_findings(rules)
            self.rules += len(rows)
            yield self._batch(findings, "rules", self.rules, total)

    def _router_findings(self, rules: list[_Rule], rows: list[tuple]) -> list[Finding]:
        targets: dict[int, StoreTarget] = {}
        missing: set[str] = set()
        for rule, row in zip(rules, rows, strict=True):
            if rule.router == "store":
                targets[rule.order] = StoreTarget(bool(row[4]), row[5])
                if rule.route and not row[4]:
                    missing.add(rule.route)
        other: dict[str, str | None] = {}
        if missing:  # rare: look for a name that differs only in case, for the hint
            with self._unit() as conn:
                other = {route: _other_case(conn, route) for route in missing}
        findings: list[Finding] = []
        for rule in rules:
            target = targets.get(rule.order)
            if target is not None and not target.exists and rule.route in other:
                target = StoreTarget(False, None, other[rule.route])
            findings += checks.router_findings(rule, target)
        return findings

    def _shadow_findings(self, rules: list[_Rule]) -> list[Finding]:
        """Rules that never win. `rules` come highest order first, after every rule above them
        (earlier chunks), so each is checked against all rules above it, through the scratch
        pad: literal texts there, wildcards in its PadIndex."""
        findings: list[Finding] = []
        literals = []  # (rule, folded text, its wildcard container, whether that is cheap)
        fixed = []  # wildcard redirects to one address
        for rule in rules:
            if not is_wild(rule.expression):
                key = fold(rule.expression)
                literals.append((rule, key, *self.wildcards.literal_container(rule, key)))
                continue
            shape = _shape(rule.expression)
            twin, container = self.wildcards.twin_or_container(rule, shape)
            if twin is not None:
                findings.append(duplicate(rule, twin))
            elif container is not None:
                findings.append(shadowed(rule, container))
            self.wildcards.add(rule, shape)
            if checks.fixed_redirect(rule.router, rule.route):
                fixed.append((rule.order, rule.expression, rule.router, rule.route))
        if literals:
            findings += self._literal_findings(literals)
        self.wildcards.flush()  # the next chunk's rules are all below this one's
        if fixed:
            self.scratch.add_fixed(fixed)
            self.fixed_wildcards += len(fixed)
        return findings

    def _literal_findings(
        self, literals: list[tuple[_Rule, str, _Rule | None, bool]]
    ) -> Iterator[Finding]:
        """A literal rule loses to the highest rule above with the same exact text (duplicate),
        else to the highest above with the same text up to ASCII case or a cheap wildcard
        container, whichever is higher, else to its other wildcard container."""
        tops = self.scratch.tops(list({key for _, key, _, _ in literals}))
        seen = Counter(key for _, key, _, _ in literals)
        maybe_twins = [r.expression for r, key, _, _ in literals if key in tops or seen[key] > 1]
        twins = self.scratch.twins(maybe_twins) if maybe_twins else {}
        new_tops: dict[str, Literal] = {}
        new_twins: dict[str, Literal] = {}
        for rule, key, container, cheap in literals:
            top = new_tops.get(key) or tops.get(key)
            if top is None:
                tkey = fold(rule.route) if checks.fixed_redirect(rule.router, rule.route) else None
                new_tops[key] = Literal(key, rule.order, rule.expression, rule.router, tkey)
                if container is not None:
                    yield shadowed(rule, container)
                continue
            if top.text == rule.expression:
                yield duplicate(rule, _as_rule(top))
                continue
            twin = new_twins.get(rule.expression) or twins.get(rule.expression)
            if twin is not None:
                yield duplicate(rule, _as_rule(twin))
                continue
            new_twins[rule.expression] = Literal(key, rule.order, rule.expression, rule.router)
            winner = _as_rule(top)
            if container is not None and cheap and container.order > winner.order:
                winner = container
            yield shadowed(rule, winner)
        if new_tops:
            self.scratch.add_tops(new_tops.values())
        if new_twins:
            self.scratch.add_twins(new_twins.values())

    # --- what needs every row --------------------------------------------------------------------
    def _homes(self) -> Iterator[LintBatch]:
        findings: list[Finding] = []
        for path, names in self.scratch.homes():
            findings += checks.userdb_findings(path, names, self.db.path)
        yield self._batch(findings, "user databases", 0, None)

    def _shared_logins(self) -> Iterator[LintBatch]:
        findings = [
            checks.authdata_shared(name, [other for other in names if other != name])
            for names in self.scratch.shared_logins()
            for name in names
        ]
        yield self._batch(findings, "passwords", 0, None)

    def _redirect_loops(self) -> Iterator[LintBatch]:
        """Fixed redirects whose target leads back to them through other fixed redirects. Only
        the highest rule of a text can be a target, so only those are followed."""
        step: dict[int, int] = {}  # order → the order of the rule its target reaches first
        after: str | None = None
        to_fixed_only = not self.fixed_wildcards  # then only a literal redirect can be next
        while True:
            rows = self.scratch.redirect_steps(after, self.chunk, to_fixed_only=to_fixed_only)
            for _, order, tkey, top, top_fixed in rows:
                target = self._next_hop(tkey, top, bool(top_fixed))
                if target is not None:
                    step[order] = target
            if len(rows) < self.chunk:
                break
            after = rows[-1][0]
        before: int | None = None
        while sources := [_Rule(*row) for row in self.scratch.fixed(before, self.chunk)]:
            tops = self.scratch.tops([fold(rule.route or "") for rule in sources])
            for rule in sources:
                top = tops.get(fold(rule.route or ""))
                top_order = None if top is None else top.order
                target = self._next_hop(fold(rule.route or ""), top_order, bool(top and top.tkey))
                if target is not None:
                    step[rule.order] = target
            before = sources[-1].order
        yield self._batch(self._loop_findings(step), "redirect loops", 0, None)

    def _next_hop(self, tkey: str, top: int | None, top_fixed: bool) -> int | None:
        """The fixed redirect that mail to `tkey` reaches first, or None: the highest wildcard
        matching it above the highest literal rule of that text (`top`), else that rule."""
        above = self.wildcards.wildcard_matches(tkey, above=top)
        if above:
            first = max(above, key=lambda rule: rule.order)
            return first.order if checks.fixed_redirect(first.router, first.route) else None
        return top if top is not None and top_fixed else None

    def _loop_findings(self, step: dict[int, int]) -> list[Finding]:
        cycles: list[list[int]] = []
        reported: set[int] = set()
        for start in sorted(step, reverse=True):  # each loop told from its highest rule
            cycle = checks.cycle_from(start, step)
            if cycle and min(cycle) not in reported:
                reported.add(min(cycle))
                cycles.append(cycle)
        if not cycles:
            return []
        orders = sorted({order for cycle in cycles for order in cycle})
        rules = {row[0]: _Rule(*row) for row in self.scratch.fixed_in(orders)}
        wanted = [order for order in orders if order not in rules]
        with self._unit() as conn:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ", ".join("?" * len(part))
                for row in conn.execute_sql(
                    "SELECT address_order, CAST(address_expression AS TEXT), "
                    "CAST(address_router AS TEXT), CAST(address_route AS TEXT) FROM addresses "
                    f"WHERE address_order IN ({marks})",
                    part,
                ):
                    rules[row[0]] = _Rule(*row)
        # A rule deleted since it was read ends its loop: nothing to report then.
        return [
            checks.redirect_loop([rules[order] for order in cycle])
            for cycle in cycles
            if all(order in rules for order in cycle)
        ]


def _as_rule(literal: Literal) -> _Rule:
    return _Rule(literal.order, literal.text, literal.router, None)


def _alias_cycle(conn: peewee.SqliteDatabase, name: str, alias: str) -> list[str] | None:
    """The alias cycle through `name`, ordered from its smallest name, or None."""
    path, on_path = [name], {name}
    current: str | None = alias
    while current is not None and current not in on_path:
        row = conn.execute_sql(
            "SELECT CAST(user_alias AS TEXT) FROM users WHERE user_name = ?", (current,)
        ).fetchone()
        if row is None:
            break
        path.append(current)
        on_path.add(current)
        current = row[0]
    if current != name:
        return None
    first = path.index(min(path))
    return path[first:] + path[:first]


def _other_case(conn: peewee.SqliteDatabase, route: str) -> str | None:
    """A user name equal to `route` up to ASCII case (and not `route` itself), or None. cmail's
    schema has no case-insensitive index on names, so the case variants of the route are walked
    letter by letter through the name index, dropping prefixes no name starts with."""
    prefixes = [""]
    for char in route:
        if not ("a" <= char <= "z" or "A" <= char <= "Z"):
            prefixes = [prefix + char for prefix in prefixes]
            continue
        prefixes = [
            prefix + variant
            for prefix in prefixes
            for variant in (char.upper(), char.lower())
            if _some_name_starts(conn, prefix + variant)
        ]
        if not prefixes or len(prefixes) > _MAX_CASE_VARIANTS:
            return None
    variants = [name for name in prefixes if name != route]
    if not variants:
        return None
    # Several variants: the one added last, as a lookup by folded name always said.
    marks = ", ".join("?" * len(variants))
    row = conn.execute_sql(
        f"SELECT CAST(user_name AS TEXT) FROM users WHERE user_name IN ({marks}) "
        "ORDER BY rowid DESC LIMIT 1",
        variants,
    ).fetchone()
    return None if row is None else row[0]


def _some_name_starts(conn: peewee.SqliteDatabase, prefix: str) -> bool:
    """Whether a user name starts with `prefix` (which ends in an ASCII letter)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    row = conn.execute_sql(
        "SELECT 1 FROM users WHERE user_name >= ? AND user_name < ? LIMIT 1", (prefix, end)
    ).fetchone()
    return row is not None
