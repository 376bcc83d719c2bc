"""Routing insight: where does mail to an address go, and may a user send as an address.

The trace replays cmail-smtpd's own decisions (reference §3, §4): the rules are matched by SQLite
itself with cmail's query, redirect targets are expanded byte for byte as `route.c` does (its
`(from-domain)` bug included), and every hop says what the client and the daemons would see.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

from core import passwords, patterns, userdb
from core.access import Role, Scope, Session, load_scope
from core.db import Database
from core.errors import NotFound
from core.models import Address, Popd, Smtpd, User
from core.services.common import case_twins
from core.validation import handoff_problem

MAX_HOPS = 20
PATH_BUFFER = 300  # smtpd's path buffers: 299 bytes and the terminating NUL
NOT_ALLOWED = "User not allowed to use this path"
NO_MAIL = "User does not accept mail"
HIDDEN = "a rule you cannot see"
CRASH = "cmail-smtpd crashes on this MAIL FROM (a store rule without a route matches it)."


@dataclass(frozen=True)
class Rule:
    """One `addresses` row."""

    order: int
    expression: str
    router: str
    route: str | None

    @property
    def label(self) -> str:
        route = "" if self.route is None else f" {self.route}"
        return f"#{self.order} {self.expression} → {self.router}{route}"


@dataclass(frozen=True)
class Mailbox:
    """The owner of a `store` rule, as far as the actor may see it."""

    user: str
    exists: bool
    alias_of: str | None = None
    database: str | None = None
    database_problem: str | None = None
    pop: bool | None = None
    pop_locked: bool = False


@dataclass(frozen=True)
class Hop:
    """One address looked up in the routing table and what its winning rule does with it."""

    address: str
    rule: Rule | None  # None when the winner is hidden from the actor
    hidden: bool
    shadowed: tuple[Rule, ...]
    action: str  # the router, "hidden", or "drop" for an unknown router
    target: str | None
    reply: str
    failed: bool
    notes: tuple[str, ...] = ()
    mailbox: Mailbox | None = None


@dataclass(frozen=True)
class InboundTrace:
    recipient: str
    sender: str | None
    hops: tuple[Hop, ...]
    outcome: str  # store, redirect, handoff, reject, drop, no-match, loop, hidden
    target: str | None
    reason: str
    reply: str
    failed: bool


@dataclass(frozen=True)
class OutboundTrace:
    user: str
    address: str
    identity: str
    allowed: bool
    router: str | None
    rule: Rule | None
    reason: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expansion:
    target: str | None  # None: the expansion does not fit smtpd's buffer (554)
    notes: tuple[str, ...] = ()


# --- paths and placeholders ---------------------------------------------------------------------


def parse_path(text: str) -> str:
    """The minimal part of cmail's path_parse: spaces and the optional `<>` go; `<>` is ''."""
    path = text.strip()
    if path.startswith("<"):
        path = path[1:]
    if path.endswith(">"):
        path = path[:-1]
    return path.strip()


def _delimiter(path: bytes) -> int:
    """path_parse remembers the first `@`; without one the delimiter is the end of the path."""
    at = path.find(b"@")
    return at if at > 0 else len(path)


def _replace(buffer: bytes, variable: bytes, replacement: bytes) -> bytes | None:
    """common_strrepl: every occurrence, left to right, with its (over-strict) size check."""
    offset = 0
    while (position := buffer.find(variable, offset)) >= 0:
        if position + len(replacement) + len(buffer) - len(variable) >= PATH_BUFFER:
            return None
        buffer = buffer[:position] + replacement + buffer[position + len(variable) :]
        offset = position + len(replacement)
    return buffer


def expand_redirect(route: str, recipient: str, sender: str) -> Expansion:
    """The new envelope recipient smtpd queues for a redirect rule (route.c), bug for bug."""
    to = recipient.encode("utf-8")
    frm = sender.encode("utf-8")
    to_at, from_at = _delimiter(to), _delimiter(frm)
    to_has_domain = to_at < len(to)
    # The bug: whether to skip the sender's `@` is decided by looking at the recipient.
    from_skip = 1 if to_has_domain else 0
    steps = (
        (b"(to-local)", to[:to_at]),
        (b"(to-domain)", to[to_at + (1 if to_has_domain else 0) :]),
        (b"(from-local)", frm[:from_at]),
        (b"(from-domain)", frm[from_at + from_skip :]),
    )
    notes = []
    encoded = route.encode("utf-8")
    if len(encoded) >= PATH_BUFFER:
        notes.append(f"smtpd copies only the first {PATH_BUFFER - 1} bytes of the route.")
    buffer: bytes | None = encoded[: PATH_BUFFER - 1]
    for variable, replacement in steps:
        buffer = _replace(buffer, variable, replacement)
        if buffer is None:
            notes.append(f"The expansion of {variable.decode()} does not fit in 299 bytes.")
            return Expansion(None, tuple(notes))
    if b"(from-domain)" in encoded:
        if not to_has_domain and from_at < len(frm):
            notes.append("(from-domain) keeps the @: the recipient has no domain (cmail bug).")
        elif to_has_domain and from_at == len(frm) and frm:
            notes.append(
                "(from-domain) reads past the end of a sender without a domain (cmail bug; "
                "usually empty)."
            )
    return Expansion(buffer.decode("utf-8", "replace"), tuple(notes))


# --- database lookups ---------------------------------------------------------------------------


def matching_rules(path: str) -> list[Rule]:
    """cmail-smtpd's own query: `? LIKE address_expression ORDER BY address_order DESC`."""
    query = (
        Address.select(Address.order, Address.expression, Address.router, Address.route)
        .where(pw.SQL("? LIKE address_expression", (path,)))
        .order_by(Address.order.desc())
        .tuples()
    )
    return [Rule(*row) for row in query]


# --- rights -------------------------------------------------------------------------------------


def _in_delegation(scope: Scope, address: str) -> bool:
    return scope.role is Role.DELEGATE and any(
        patterns.like(address, expression) for expression in scope.expressions
    )


def _may_trace(scope: Scope, address: str, winner: Rule | None) -> bool:
    """Admins trace anything; delegates their delegated addresses; everyone their own mailbox."""
    if scope.is_admin or _in_delegation(scope, address):
        return True
    return (
        winner is not None
        and winner.router == "store"
        and winner.route is not None
        and scope.is_self(winner.route)
    )


def _visible(scope: Scope, rule: Rule) -> bool:
    return scope.may_view_address(rule.expression, rule.router, rule.route)


# --- inbound ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Action:
    """What a router does with one address: the hop's verdict and where mail goes next."""

    action: str
    target: str | None
    reply: str
    failed: bool
    notes: tuple[str, ...] = ()
    mailbox: Mailbox | None = None
    follow: str | None = None  # a redirect target to trace next


ACCEPT = "250 at RCPT"
FAIL_AFTER_DATA = "250 at RCPT, 554 after DATA"


def _store(scope: Scope, route: str | None, master: str) -> _Action:
    if route is None:
        return _Action(
            "store",
            None,
            FAIL_AFTER_DATA,
            True,
            (
                "A store rule without a route refuses every message with 554, and an "
                "authenticated MAIL FROM matching it crashes cmail-smtpd.",
            ),
        )
    if route == "":
        return _Action(
            "store", "", FAIL_AFTER_DATA, True, ("An empty store route refuses mail with 554.",)
        )
    row = User.select(User.authdata, User.database, User.alias).where(User.name == route).first()
    if row is None:
        return _missing_user(route)
    mailbox, notes = _mailbox_notes(scope, route, row, master)
    return _Action("store", route, "250 at RCPT, 250 after DATA", False, notes, mailbox)


def _missing_user(route: str) -> _Action:
    notes = [f"No user named {route!r} exists (exact case): smtpd refuses the message with 554."]
    other = next(iter(case_twins(route.lower())), None)
    if other is not None:
        notes.append(f"A user {other!r} exists; store routes are case-sensitive.")
    return _Action("store", route, FAIL_AFTER_DATA, True, tuple(notes), Mailbox(route, False))


def _mailbox_notes(
    scope: Scope, name: str, row: User, master: str
) -> tuple[Mailbox, tuple[str, ...]]:
    """Whether the owner can actually read what is stored; details only for visible users.
    `master`: the master database's path (a user database must be another file)."""
    if not scope.may_view_user(name):
        return Mailbox(name, True), ()
    notes = []
    alias = row.alias_id
    if alias is not None:
        notes.append(
            f"{name} is an alias of {alias}: the mail is stored for {name} itself, and nobody "
            f"can read it via POP (logging in as {name} opens {alias}'s maildrop)."
        )
    problem = None
    if row.database is not None:
        problem = userdb.problem(row.database, master)
        if problem is None:
            notes.append(f"Stored in the user database {row.database}.")
        elif problem.stops_smtpd:
            notes.append(
                f"The user database {row.database} {problem}: cmail-smtpd will not start with "
                "it; if it runs, the mail falls back to the master mailbox."
            )
        else:
            notes.append(f"The user database {row.database} {problem}.")
    pop = Popd.select(Popd.lock).where(Popd.user == name).tuples().first()
    locked = pop is not None and pop[0] != 0
    if alias is None:
        notes.extend(_pop_notes(name, row.authdata, pop is not None, locked))
    reason = None if problem is None else problem.reason
    mailbox = Mailbox(name, True, alias, row.database, reason, pop is not None, locked)
    return mailbox, tuple(notes)


def _pop_notes(name: str, authdata: str | None, pop: bool, locked: bool) -> list[str]:
    if not pop:
        return [f"{name} has no POP entry: the mail cannot be fetched via POP."]
    notes = []
    state = passwords.classify(authdata)
    if state.status != "ok":
        notes.append(f"{name} cannot log in ({state.reason}), so POP cannot fetch the mail.")
    if locked:
        notes.append(f"The maildrop of {name} is locked (possibly a stale lock): POP logins fail.")
    return notes


def _redirect(route: str | None, address: str, sender: str | None) -> _Action:
    if route is None:
        return _Action(
            "redirect", None, FAIL_AFTER_DATA, True, ("A redirect rule without a route: 554.",)
        )
    notes = []
    if sender is None and "(from-" in route:
        notes.append("No sender given: (from-local) and (from-domain) are expanded as for <>.")
    expansion = expand_redirect(route, address, sender or "")
    notes.extend(expansion.notes)
    if expansion.target is None:
        return _Action("redirect", None, FAIL_AFTER_DATA, True, tuple(notes))
    target = expansion.target
    notes.append(
        "The copy is queued in the outbox and delivered by cmail-dispatchd via MX, "
        "even when the new address is local."
    )
    if "@" not in target:
        notes.append(f"{target!r} has no domain: cmail-dispatchd can never deliver or bounce it.")
    # dispatchd hands the target to an SMTP server, which parses it as a path again.
    return _Action("redirect", target, ACCEPT, False, tuple(notes), follow=parse_path(target))


def _handoff(route: str | None) -> _Action:
    if route is None:
        return _Action(
            "handoff", None, FAIL_AFTER_DATA, True, ("A handoff rule without a route: 554.",)
        )
    problem = handoff_problem(route)
    if problem:
        note = f"cmail-dispatchd skips this remote (it {problem}): the mail stays queued for ever."
        return _Action("handoff", route, ACCEPT, True, (note,))
    return _Action("handoff", route, ACCEPT, False, (f"Queued for the smarthost {route}.",))


def _act(scope: Scope, rule: Rule, address: str, sender: str | None, master: str) -> _Action:
    router, route = rule.router, rule.route
    if router == "store":
        return _store(scope, route, master)
    if router == "redirect":
        return _redirect(route, address, sender)
    if router == "handoff":
        return _handoff(route)
    if router == "reject":
        return _Action("reject", None, f"551 {NO_MAIL if route is None else route}", True)
    if router == "drop":
        return _Action("drop", None, ACCEPT, False, ("Accepted and discarded.",))
    note = f"Unknown router {router!r} (names are case-sensitive): accepted and silently discarded."
    return _Action("drop", None, ACCEPT, True, (note,))


def _hop(
    scope: Scope, address: str, rules: list[Rule], sender: str | None, master: str
) -> tuple[Hop, _Action]:
    winner = rules[0]
    shadowed = tuple(r for r in rules[1:] if _visible(scope, r))
    if not _visible(scope, winner):
        action = _Action("hidden", None, "", False, (f"Decided by {HIDDEN}.",))
        return Hop(address, None, True, shadowed, "hidden", None, "", False, action.notes), action
    action = _act(scope, winner, address, sender, master)
    hop = Hop(
        address,
        winner,
        False,
        shadowed,
        action.action,
        action.target,
        action.reply,
        action.failed,
        action.notes,
        action.mailbox,
    )
    return hop, action


def _no_match(address: str, first: bool) -> tuple[str, str, str, bool]:
    """(outcome, reason, reply, failed) for an address no rule matches."""
    if not first:
        if "@" not in address:
            reason = f"{address!r} has no domain: cmail-dispatchd can never deliver or bounce it."
            return "redirect", reason, "", True
        reason = f"{address} matches no rule: cmail-dispatchd delivers it via the MX of its domain."
        return "redirect", reason, "", False
    if "@" not in address:
        reply = "551 Non-local paths need domain part"
        return "no-match", f"No rule matches: {reply}.", reply, True
    reason = (
        "No rule matches: 551 Unknown user for unauthenticated senders; an authenticated "
        "sender's mail is accepted and queued for delivery via MX."
    )
    return "no-match", reason, "551 Unknown user", True


def trace_inbound(
    db: Database, session: Session, recipient: str, sender: str | None = None
) -> InboundTrace:
    """Follow mail for `recipient` rule by rule until it is stored, leaves, or is refused."""
    address = parse_path(recipient)
    source = None if sender is None else parse_path(sender)
    with db.read():
        scope = load_scope(session)
        rules = matching_rules(address)
        scope.require(_may_trace(scope, address, rules[0] if rules else None), f"trace {address!r}")
        return _follow(scope, address, source, rules, db.path)


def _follow(
    scope: Scope, address: str, sender: str | None, rules: list[Rule], master: str
) -> InboundTrace:
    """Trace hop after hop while redirects stay local, stopping at loops and at MAX_HOPS.
    `master`: the master database's path."""
    recipient = address
    hops: list[Hop] = []
    seen = {address}

    def done(outcome: str, target: str | None, reason: str, failed: bool) -> InboundTrace:
        # The client only ever sees the first hop's reply; later hops happen in the queue.
        reply = hops[0].reply if hops else no_match_reply
        return InboundTrace(recipient, sender, tuple(hops), outcome, target, reason, reply, failed)

    no_match_reply = ""
    while True:
        if not rules:
            outcome, reason, no_match_reply, failed = _no_match(address, not hops)
            return done(outcome, address if hops else None, reason, failed)
        hop, action = _hop(scope, address, rules, sender, master)
        hops.append(hop)
        if action.follow is None:
            reason = _reason(hop)
            if len(hops) > 1 and action.failed:
                reason += " cmail-dispatchd bounces the redirected copy to the sender."
            return done(action.action, action.target, reason, action.failed)
        address = action.follow
        if address in seen:
            reason = f"Redirect loop: {address} was traced before; the copy circles for ever."
            return done("loop", address, reason, True)
        if len(hops) >= MAX_HOPS:
            return done("loop", address, f"Stopped after {MAX_HOPS} redirects.", True)
        seen.add(address)
        rules = matching_rules(address)
        if rules and not _may_trace(scope, address, rules[0]):
            reason = f"Redirected to {address}, which lies outside what you may trace."
            return done("redirect", address, reason, False)


def _reason(hop: Hop) -> str:
    """The final hop's verdict as one sentence."""
    if hop.hidden or hop.rule is None:
        return f"{hop.address} is decided by {HIDDEN}."
    if hop.action == "store" and not hop.failed:
        box = hop.mailbox
        if box is not None and box.alias_of is not None:
            return (
                f"Stored for {hop.target}, an alias of {box.alias_of}: nobody can read it via POP."
            )
        return f"Stored in the mailbox of {hop.target}."
    if hop.action == "reject":
        return f"Refused at RCPT: {hop.reply}."
    if hop.action == "handoff" and not hop.failed:
        return f"Queued for the smarthost {hop.target}."
    if hop.action == "drop" and hop.rule.router == "drop":
        return "Accepted and discarded (drop)."
    if hop.action == "redirect" and hop.target is None:
        return (hop.notes[-1] if hop.notes else "The redirect fails.") + " The message gets 554."
    return hop.notes[0] if hop.notes else f"Handled by the {hop.rule.router} router."


# --- outbound -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Walk:
    """smtpd's MAIL FROM walk for an authenticated identity (path.c)."""

    accepted: Rule | None
    crash: Rule | None


def _walk(rules: list[Rule], identity: str) -> _Walk:
    """All matching rows, highest order first; the first `store` row routing to the identity
    wins. A `store` row with a NULL route met before that makes smtpd compare against NULL."""
    for rule in rules:
        if rule.router != "store":
            continue
        if rule.route is None:
            return _Walk(None, rule)
        if rule.route == identity:
            return _Walk(rule, None)
    return _Walk(None, None)


def trace_outbound(db: Database, session: Session, user: str, address: str) -> OutboundTrace:
    """May `user`, logged in over SMTP AUTH, use `address` as its MAIL FROM (reference §4)?"""
    path = parse_path(address)
    with db.read():
        scope = load_scope(session)
        scope.require(scope.may_view_user(user), f"trace what {user} may send")
        row = User.select(User.authdata, User.alias).where(User.name == user).first()
        if row is None:
            raise NotFound(f"No user named {user!r} exists.")
        identity = row.alias_id or user
        notes = _identity_notes(user, identity)
        smtpd = Smtpd.select(Smtpd.router, Smtpd.route).where(Smtpd.user == identity).first()
        router = None if smtpd is None else smtpd.router
        rules = matching_rules(path)
        walk = _walk(rules, identity)
        if smtpd is not None and walk.crash is not None:
            notes.append(_crash_note(scope, walk.crash, path))
        if router == "defined":
            allowed, reason, rule = _defined(scope, identity, path, rules, walk, notes)
        else:
            allowed, reason, rule = _decide(identity, smtpd, walk)
        shown = rule if rule is not None and _visible(scope, rule) else None
    login = passwords.classify(row.authdata)
    if login.status != "ok":
        reason = f"{user} cannot log in ({login.reason}); if it could: {reason}"
        allowed = False
    return OutboundTrace(user, path, identity, allowed, router, shown, reason, tuple(notes))


def _identity_notes(user: str, identity: str) -> list[str]:
    if identity == user:
        return []
    notes = [f"{user} is an alias: it logs in as {identity}, and {identity}'s rules apply."]
    if Smtpd.select().where(Smtpd.user == user).exists():
        notes.append(f"The smtpd entry of {user} itself is ignored.")
    further = User.select(User.alias).where(User.name == identity).tuples().first()
    if further is not None and further[0] is not None:
        notes.append(
            f"{identity} is itself an alias of {further[0]}, but only one level is followed."
        )
    return notes


def _decide(identity: str, smtpd: Smtpd | None, walk: _Walk) -> tuple[bool, str, None]:
    """(allowed, reason, rule) at MAIL FROM for every smtpd router but `defined`."""
    if smtpd is None:
        return False, f"551 {NOT_ALLOWED}: {identity} has no smtpd entry.", None
    router, route = smtpd.router, smtpd.route
    if router == "reject":
        return False, f"551 {NOT_ALLOWED if route is None else route} (router reject).", None
    if walk.crash is not None:
        return False, CRASH, None
    if router == "any":
        return True, f"The smtpd router of {identity} is any: every sender is accepted.", None
    if router == "handoff":
        if route is None:
            return (
                True,
                "Accepted, but a handoff without a remote queues nothing (like drop).",
                None,
            )
        return True, f"Accepted; every recipient, local ones too, is queued for {route}.", None
    if router == "drop":
        return True, "Accepted, but nothing is stored or queued (router drop).", None
    return True, f"Unknown smtpd router {router!r}: treated like any, every sender accepted.", None


def _defined(
    scope: Scope, identity: str, path: str, rules: list[Rule], walk: _Walk, notes: list[str]
) -> tuple[bool, str, Rule | None]:
    """`defined`: some store rule matching the sender, shadowed or not, routes to the identity."""
    if walk.crash is not None:
        return False, CRASH, None
    rule = walk.accepted
    if rule is None:
        reason = f"551 {NOT_ALLOWED}: no store rule matching {path!r} routes to {identity}."
        return False, reason, None
    label = _label(scope, rule)
    if rules[0].order != rule.order:
        notes.append(
            f"Inbound mail to {path!r} is decided by a higher rule; {label} still counts "
            "for defined."
        )
    return True, f"{label} stores to {identity}, so the sender is accepted (defined).", rule


def _label(scope: Scope, rule: Rule) -> str:
    return rule.label if _visible(scope, rule) else HIDDEN


def _crash_note(scope: Scope, rule: Rule, path: str) -> str:
    return (
        f"{_label(scope, rule)} is a store rule without a route matching {path!r}: an "
        "authenticated MAIL FROM with it crashes cmail-smtpd."
    )
