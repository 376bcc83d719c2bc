"""An independent statement of the console's rights rules, for the rights property test.

Written from the rules of the core issue (reference §6.7 and the project's decisions listed
below), not from core/access.py, and it imports nothing from core: a bug in the rights code or in
core.patterns cannot hide by being copied here. It reads a plain description of one database (a
`World`) and answers, for one acting login and one service call, whether the call is allowed.

The rules, as written in the issue:
* admin (holds `admin`; also the file-system administrator, user None) may do everything, except
  that nobody deletes themselves or revokes their own login, and the last admin who can log in
  cannot be removed (delete, revoke login, empty password, revoke/set rights without admin);
* a delegate (holds `delegate`, not `admin`) sees itself and its delegated users; it may create
  users (without rights or an alias), and set passwords of, delete, and edit the smtpd and POP
  rows and mail of its delegated users, never of one who holds a permission of its own, never
  itself (its own password and POP row it handles as any user does); it never changes rights,
  aliases, delegations, user databases or names; it may write address rules whose stored and new
  expressions lie inside one of its delegated patterns, storing only into its own or its
  delegated users' mailboxes;
* a plain user sees its own records, changes its own password (giving the current one) and
  edits its own POP row and mail;
* everything else is denied.
Where the issue says nothing, the oracle reads it so: changing one's own password needs the
current one for admins too (a left-open console must not take over its login); a trace of an
inbound address is for admins, delegates whose pattern matches the address, and whoever the
winning rule stores for. Aliases: cmail's daemons log an alias in *as its target*, so a delegate
never acts on a managed user that is an alias of anyone but itself or another of its managed
users who holds no permission (else setting that alias's password would let it act as, say, an
admin: found by this test, then decided for the project).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

# --- LIKE, decided from scratch -------------------------------------------------------------------


def fold(text: str) -> str:
    """SQLite's LIKE folds ASCII letters only."""
    return "".join(c.lower() if c.isascii() else c for c in text)


@lru_cache(maxsize=65536)
def like(value: str, pattern: str) -> bool:
    """`value LIKE pattern`: `%` any run, `_` one character, no escape, ASCII case folded.
    Dynamic programming over prefixes: reach[j] says pattern[:j] matches the value so far."""
    value, pattern = fold(value), fold(pattern)
    reach = [True] + [False] * len(pattern)
    for j, token in enumerate(pattern):
        reach[j + 1] = reach[j] and token == "%"
    for char in value:
        new = [False] * (len(pattern) + 1)
        for j, token in enumerate(pattern):
            if token == "%":
                new[j + 1] = new[j] or reach[j + 1]
            elif token == "_" or token == char:
                new[j + 1] = reach[j]
        reach = new
    return reach[-1]


@lru_cache(maxsize=65536)
def contains(outer: str, inner: str) -> bool:
    """Whether every string matching `inner` matches `outer` (LIKE-pattern containment).

    Brute force over a finite set of strings that is provably enough:
    1. Fill every wildcard of `inner` with one character F that is no literal of `outer` (after
       folding). If such a filled string t matches `outer`, each F in t is consumed by a `_` or
       `%` of `outer` (F equals no literal), so the same alignment accepts every string that
       differs from t only at those positions: all strings of `inner` with the same `%` lengths.
       Hence containment holds iff every such F-filling matches `outer`.
    2. The length of each `%` filling only matters up to len(outer) + 1: a run of more than
       len(outer) F's cannot be consumed by the at most len(outer) one-character tokens of
       `outer` alone, so one of its `%` consumes part of the run and can take one F more or one
       fewer. The answer for every length >= len(outer) + 1 is that for len(outer) + 1.
    So we try every `%` length from 0 to len(outer) + 1, which for our patterns (a few tokens)
    is at most a few thousand strings."""
    outer_folded, inner_folded = fold(outer), fold(inner)
    literals = set(outer_folded) - set("%_")
    filler = next(c for c in "~#!^*+=" if c not in literals)
    runs = inner_folded.count("%")
    for lengths in itertools.product(range(len(outer_folded) + 2), repeat=runs):
        parts, run = [], iter(lengths)
        for token in inner_folded:
            if token == "%":
                parts.append(filler * next(run))
            elif token == "_":
                parts.append(filler)
            else:
                parts.append(token)
        if not like("".join(parts), outer_folded):
            return False
    return True


def found(search: str, rule: Rule) -> bool:
    """The rule filter: a literal substring of expression or route, ASCII case folded."""
    texts = (rule.expression, rule.route) if rule.route is not None else (rule.expression,)
    return any(fold(search) in fold(text) for text in texts)


# --- the database, as plain data ------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    login: str  # "ok" (a working salt:hash), "none" (NULL), "malformed"
    password: str | None  # the clear text, for logins that are "ok"
    # user_authdata is a function of (login, password): equal pairs share one password entry.
    alias: str | None = None


@dataclass(frozen=True)
class Rule:
    order: int
    expression: str
    router: str
    route: str | None


@dataclass(frozen=True)
class World:
    accounts: tuple[Account, ...]
    rights: tuple[tuple[str, str], ...]  # api_access (user, permission)
    manages: tuple[tuple[str, str], ...]  # api_user_delegates (manager, managed)
    patterns: tuple[tuple[str, str], ...]  # api_address_delegates (manager, expression)
    rules: tuple[Rule, ...]
    smtpd: tuple[tuple[str, str, str | None], ...]  # (user, router, route)
    popd: tuple[tuple[str, int], ...]  # (user, lock)
    mails: tuple[str, ...]  # mail_user of mail ids 1, 2, …

    @property
    def users(self) -> dict[str, Account]:
        return {a.name: a for a in self.accounts}

    def held(self, name: str) -> frozenset[str]:
        return frozenset(p for user, p in self.rights if user == name)

    def rule(self, order: object) -> Rule | None:
        return next((r for r in self.rules if r.order == order), None)


@dataclass(frozen=True)
class Call:
    """One service call: `service.function`, its positional and keyword arguments."""

    name: str
    args: tuple[object, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()

    def __str__(self) -> str:
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(shown)})"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    missing: bool = False  # the call names a user or rule that does not exist
    protected: bool = False  # rights allow it, but the last-usable-admin rule must refuse it


LIST_CALLS = (
    "users.list_users",
    "users.list_names",
    "users.user_lines",
    "users.user_links",
    "users.mail_totals",
    "rights.user_rights",
    "rights.list_permissions",
    "rights.list_delegations",
    "addresses.list_rules",
    "addresses.matching_rules",
    "smtpd.list_entries",
    "popd.list_entries",
    "mailbox.mail_counts",
)


@dataclass
class Oracle:
    world: World
    actor: str | None  # None: the file-system administrator
    held: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.held = frozenset({"admin"}) if self.actor is None else self.world.held(self.actor)
        self.admin = "admin" in self.held
        self.delegate = not self.admin and "delegate" in self.held
        self.managed = (
            {b for a, b in self.world.manages if a == self.actor} if self.delegate else set()
        )
        self.scopes = (
            [e for a, e in self.world.patterns if a == self.actor] if self.delegate else []
        )
        self.users = self.world.users

    # --- the rules ------------------------------------------------------------------------------
    def me(self, name: object) -> bool:
        return self.actor is not None and name == self.actor

    def sees_user(self, name: object) -> bool:
        return self.admin or self.me(name) or (self.delegate and name in self.managed)

    def acts_on(self, name: object) -> bool:
        """Delete, revoke, set the password of, edit smtpd/POP rows and mail of *another* user."""
        if self.admin:
            return True
        return (
            self.delegate
            and name in self.managed
            and not self.me(name)
            and not self.world.held(str(name))  # holds any permission of its own
            and self._alias_is_harmless(str(name))
        )

    def _alias_is_harmless(self, name: str) -> bool:
        """Logging in as `name` acts as its alias target: that must be someone we may be."""
        user = self.world.users.get(name)
        target = user.alias if user is not None else None
        if target is None:
            return True
        return self.me(target) or (target in self.managed and not self.world.held(target))

    def inside(self, expression: str) -> bool:
        return self.admin or any(contains(scope, expression) for scope in self.scopes)

    def may_store_to(self, name: object) -> bool:
        return self.admin or self.me(name) or (self.delegate and name in self.managed)

    def sees_rule(self, rule: Rule) -> bool:
        if self.admin:
            return True
        mailbox = rule.route if rule.router == "store" else None
        if mailbox is not None and self.may_store_to(mailbox):
            return True  # a store rule into its own or a delegated user's mailbox
        return self.delegate and self.inside(rule.expression)

    def last_admin(self, name: object) -> bool:
        usable = {
            user
            for user, permission in self.world.rights
            if permission == "admin" and user in self.users and self.users[user].login == "ok"
        }
        return usable == {name}

    # --- what a call may do ---------------------------------------------------------------------
    def decide(self, call: Call) -> Verdict:
        handler = getattr(self, "_" + call.name.replace(".", "_"))
        return handler(*call.args, **dict(call.kwargs))

    def _user_verdict(self, allowed: bool, name: object, reason: str, **extra: bool) -> Verdict:
        return Verdict(allowed, reason, missing=name not in self.users, **extra)

    def _admin_only(self, what: str, *names: object) -> Verdict:
        missing = any(n not in self.users for n in names)
        return Verdict(self.admin, f"only admins {what}", missing=missing)

    # users
    def _users_list_users(self) -> Verdict:
        return Verdict(True, "anyone lists what they see")

    _users_list_names = _users_list_users
    _users_user_lines = _users_list_users

    def _users_get_user(self, name: str) -> Verdict:
        return self._user_verdict(self.sees_user(name), name, "sees self and delegated users")

    _users_user_links = _users_get_user

    def _users_mail_totals(self, names: list[str]) -> Verdict:
        missing = any(n not in self.users for n in names)
        return Verdict(all(self.sees_user(n) for n in names), "counts of visible users", missing)

    def _users_add_user(
        self, name: str, password: str | None, *, rights: tuple[str, ...], alias: str | None
    ) -> Verdict:
        plain = not rights and alias in (None, "", name)
        if self.admin:
            return Verdict(True, "admin")
        return Verdict(self.delegate and plain, "delegates create users without rights or alias")

    def _users_delete_preview(self, name: str) -> Verdict:
        return self._user_verdict(self.acts_on(name), name, "deletion preview: may delete")

    def _users_delete_user(
        self, name: str, *, store_rules: tuple[str, ...] | None = None
    ) -> Verdict:
        """`store_rules`: ("delete",) or ("to", user): the user's store rules go with it, each
        only where the actor may write that rule (and store into `user`)."""
        if self.me(name):
            return Verdict(False, "nobody deletes themselves")
        allowed = self.acts_on(name)
        if store_rules is not None:
            rules = [r for r in self.world.rules if r.router == "store" and r.route == name]
            allowed = allowed and all(self._writes(r) for r in rules)
            if store_rules[0] == "to":
                allowed = allowed and self.may_store_to(store_rules[1])
        return self._user_verdict(allowed, name, "delete", protected=self.last_admin(name))

    def _users_set_password(
        self, name: str, password: str | None, *, current: str | None
    ) -> Verdict:
        empty = password in (None, "")
        if self.me(name):
            account = self.users[name]
            knows = account.login == "ok" and current == account.password
            if empty:
                return Verdict(False, "nobody revokes their own login")
            return Verdict(knows, "own password needs the current one")
        return self._user_verdict(
            self.acts_on(name),
            name,
            "set another user's password",
            protected=empty and self.last_admin(name),
        )

    def _users_revoke_login(self, name: str) -> Verdict:
        if self.me(name):
            return Verdict(False, "nobody revokes their own login")
        return self._user_verdict(
            self.acts_on(name), name, "revoke a login", protected=self.last_admin(name)
        )

    def _users_set_alias(self, name: str, target: str | None) -> Verdict:
        return self._admin_only("change aliases", name)

    def _users_set_user_database(self, name: str, path: str | None) -> Verdict:
        return self._admin_only("change user databases", name)

    def _users_rename_user(self, old: str, new: str) -> Verdict:
        return self._admin_only("rename users", old)

    # rights
    def _rights_list_permissions(self) -> Verdict:
        return Verdict(True, "anyone lists what they see")

    def _rights_list_delegations(self) -> Verdict:
        return Verdict(True, "anyone lists what they see")

    def _rights_user_rights(self, user: str) -> Verdict:
        return Verdict(True, "anyone asks; it shows what the lists would")

    def _rights_grant(self, user: str, permission: str) -> Verdict:
        return self._admin_only("grant rights", user)

    def _rights_revoke(self, user: str, permissions: list[str] | None) -> Verdict:
        held = self.world.held(user)
        removes_admin = "admin" in held and (permissions is None or "admin" in permissions)
        verdict = self._admin_only("revoke rights", user)
        return Verdict(
            verdict.allowed,
            verdict.reason,
            verdict.missing,
            protected=removes_admin and self.last_admin(user),
        )

    def _rights_set_permissions(self, user: str, permissions: list[str]) -> Verdict:
        removes_admin = "admin" in self.world.held(user) and "admin" not in permissions
        verdict = self._admin_only("set rights", user)
        return Verdict(
            verdict.allowed,
            verdict.reason,
            verdict.missing,
            protected=removes_admin and self.last_admin(user),
        )

    def _rights_add_delegated_user(self, manager: str, managed: str) -> Verdict:
        return self._admin_only("change delegations", manager, managed)

    def _rights_remove_delegated_user(self, manager: str, managed: str) -> Verdict:
        return self._admin_only("change delegations", manager, managed)

    def _rights_add_delegated_expression(self, manager: str, expression: str) -> Verdict:
        return self._admin_only("change delegations", manager)

    def _rights_remove_delegated_expression(self, manager: str, expression: str) -> Verdict:
        return self._admin_only("change delegations", manager)

    # addresses
    def _addresses_list_rules(self, *, search: str | None = None, quick: bool = False) -> Verdict:
        return Verdict(True, "anyone lists what they see")

    def _addresses_matching_rules(self, path: str) -> Verdict:
        return Verdict(True, "anyone tests what they see")

    def _addresses_get_rule(self, order: int) -> Verdict:
        rule = self.world.rule(order)
        if rule is None:
            return Verdict(self.admin, "no such rule", missing=True)
        return Verdict(self.sees_rule(rule), "sees rules inside its scope or storing to its users")

    def _writes(self, rule: Rule | None) -> bool:
        return rule is not None and self.inside(rule.expression)

    def _store_ok(self, router: str, route: str | None) -> bool:
        return router != "store" or route in (None, "") or self.may_store_to(route)

    def _addresses_add_rule(
        self, expression: str, router: str, route: str | None, order: int | None
    ) -> Verdict:
        allowed = self.inside(expression) and self._store_ok(router, route)
        return Verdict(allowed, "new expression inside a delegation, store only to own users")

    def _addresses_update_rule(
        self, order: int, router: str, route: str | None, *, expression: str | None
    ) -> Verdict:
        old = self.world.rule(order)
        if old is None:
            return Verdict(self.admin, "no such rule", missing=True)
        new = old.expression if expression is None else expression
        allowed = self._writes(old) and self.inside(new) and self._store_ok(router, route)
        return Verdict(allowed, "stored and new expression inside, store only to own users")

    def _addresses_delete_rule(self, order: int) -> Verdict:
        rule = self.world.rule(order)
        return Verdict(self._writes(rule) or self.admin, "stored expression", rule is None)

    def _addresses_move_rule(self, order: int, new_order: int) -> Verdict:
        rule = self.world.rule(order)
        return Verdict(self._writes(rule) or self.admin, "stored expression", rule is None)

    def _addresses_swap_rules(self, a: int, b: int, *, move_if_free: bool) -> Verdict:
        first, second = self.world.rule(a), self.world.rule(b)
        if first is None or (second is None and not move_if_free):
            return Verdict(self.admin, "no such rule", missing=True)
        allowed = self._writes(first) and (second is None or self._writes(second))
        return Verdict(allowed or self.admin, "both rows of a swap")

    def _neighbour(self, rule: Rule, direction: str) -> Rule | None:
        if direction == "up":
            higher = [r for r in self.world.rules if r.order > rule.order]
            return min(higher, key=lambda r: r.order) if higher else None
        lower = [r for r in self.world.rules if r.order < rule.order]
        return max(lower, key=lambda r: r.order) if lower else None

    def _addresses_step_rule(self, order: int, direction: str) -> Verdict:
        rule = self.world.rule(order)
        if rule is None:
            return Verdict(self.admin, "no such rule", missing=True)
        partner = self._neighbour(rule, direction)
        allowed = self._writes(rule) and (partner is None or self._writes(partner))
        return Verdict(allowed or self.admin, "both rows of a step")

    def _addresses_reorder_preview(self, order: int, target: int | str) -> Verdict:
        rule = self.world.rule(order)
        if rule is None:
            return Verdict(self.admin, "no such rule", missing=True)
        if target in ("up", "down"):
            partner = self._neighbour(rule, str(target))
        else:
            partner = self.world.rule(target)
        allowed = self._writes(rule) and (partner is None or self._writes(partner))
        return Verdict(allowed or self.admin, "both rows of a reorder")

    # smtpd: managed (non-privileged) users only; plain users not even their own row
    def _smtpd_list_entries(self) -> Verdict:
        return Verdict(True, "anyone lists what they see")

    def _smtpd_get(self, user: str) -> Verdict:
        return self._user_verdict(self.sees_user(user), user, "sees own and delegated rows")

    def _smtpd_enable(self, user: str, router: str | None = None) -> Verdict:
        return self._user_verdict(self.acts_on(user), user, "smtpd rows of delegated users")

    def _smtpd_update(self, user: str, router: str, route: str | None = None) -> Verdict:
        return self._user_verdict(self.acts_on(user), user, "smtpd rows of delegated users")

    def _smtpd_disable(self, user: str) -> Verdict:
        return self._user_verdict(self.acts_on(user), user, "smtpd rows of delegated users")

    # popd: anyone their own row, delegates their users' rows
    def _popd_list_entries(self) -> Verdict:
        return Verdict(True, "anyone lists what they see")

    def _popd_get(self, user: str) -> Verdict:
        return self._user_verdict(self.sees_user(user), user, "sees own and delegated rows")

    def _pop(self, user: str) -> Verdict:
        return self._user_verdict(
            self.me(user) or self.acts_on(user), user, "own POP row or a delegated user's"
        )

    _popd_enable = _pop
    _popd_disable = _pop
    _popd_unlock = _pop

    # mailbox
    def _mail(self, user: str, *rest: object) -> Verdict:
        return self._user_verdict(
            self.me(user) or self.acts_on(user), user, "own mail or a delegated user's"
        )

    _mailbox_list_mails = _mail
    _mailbox_mark_read = _mail
    _mailbox_delete_mail = _mail

    def _mailbox_mail_counts(self, users: list[str]) -> Verdict:
        if not users:
            return Verdict(True, "counts of everyone visible")
        missing = any(u not in self.users for u in users)
        return Verdict(all(self.sees_user(u) for u in users), "counts of visible users", missing)

    # routing
    def winner(self, address: str) -> Rule | None:
        found = [r for r in self.world.rules if like(address, r.expression)]
        return max(found, key=lambda r: r.order) if found else None

    def _routing_trace_inbound(self, recipient: str) -> Verdict:
        winner = self.winner(recipient)
        own = winner is not None and winner.router == "store" and self.me(winner.route)
        delegated = self.delegate and any(like(recipient, s) for s in self.scopes)
        return Verdict(self.admin or delegated or own, "own mailbox or a delegated address")

    def _routing_trace_outbound(self, user: str, address: str) -> Verdict:
        return self._user_verdict(self.sees_user(user), user, "what a visible user may send")

    def _lint_lint(self) -> Verdict:
        return Verdict(self.admin, "only admins lint everything")

    def _audit_list_entries(self) -> Verdict:
        return Verdict(self.admin, "only admins read the audit trail")

    # --- what lists may show --------------------------------------------------------------------
    def expected_rows(self, call: Call) -> set[object]:
        """Exactly the rows an unfiltered list call must return (keys as the test reads them)."""
        w = self.world
        if call.name in ("users.list_users", "users.list_names"):
            return {n for n in self.users if self.sees_user(n)}
        if call.name == "users.user_lines":
            return {self._user_line(n) for n in self.users if self.sees_user(n)}
        if call.name == "users.user_links":
            (name,) = call.args
            return self._links(str(name))
        if call.name == "users.mail_totals":
            (names,) = call.args
            return {(n, w.mails.count(n)) for n in names}
        if call.name == "rights.user_rights":
            (user,) = call.args
            return self._rights_of(str(user))
        if call.name == "rights.list_permissions":
            return {(u, p) for u, p in w.rights if self.sees_user(u)}
        if call.name == "rights.list_delegations":
            users = {("user", m, u) for m, u in w.manages if self.admin or self.actor in (m, u)}
            exprs = {("address", m, e) for m, e in w.patterns if self.admin or self.me(m)}
            return users | exprs
        if call.name == "addresses.list_rules":
            search = str(dict(call.kwargs).get("search") or "")
            return {r.order for r in w.rules if self.sees_rule(r) and found(search, r)}
        if call.name == "addresses.matching_rules":
            (path,) = call.args
            return {r.order for r in w.rules if like(str(path), r.expression) and self.sees_rule(r)}
        if call.name == "smtpd.list_entries":
            return {u for u, _, _ in w.smtpd if self.sees_user(u)}
        if call.name == "popd.list_entries":
            return {u for u, _ in w.popd if self.sees_user(u)}
        if call.name == "mailbox.mail_counts":
            (users,) = call.args
            return set(users) if users else {n for n in self.users if self.sees_user(n)}
        raise KeyError(call.name)

    def _user_line(self, name: str) -> tuple[object, ...]:
        """cmail-admin-user's columns: name, can log in, alias, store routes, master mails,
        user database (none here)."""
        account = self.users[name]
        stores = sum(1 for r in self.world.rules if r.router == "store" and r.route == name)
        can_login = int(account.login != "none")
        return (name, can_login, account.alias or "", stores, self.world.mails.count(name), "")

    def _links(self, name: str) -> set[object]:
        """Who shares the user's password entry (as far as the actor sees) and, whole, who is
        an alias of it: logging in as an alias acts as this user, so that belongs to its
        record."""
        account = self.users[name]
        secret = account.login, account.password
        shared = {
            ("shared", a.name)
            for a in self.world.accounts
            if a.name != name
            and a.login != "none"
            and (a.login, a.password) == secret
            and self.sees_user(a.name)
        }
        return shared | {("alias", a.name) for a in self.world.accounts if a.alias == name}

    def _rights_of(self, user: str) -> set[object]:
        """What list_permissions and list_delegations show of `user`'s own rows."""
        w = self.world
        held = {("permission", p) for u, p in w.rights if u == user and self.sees_user(u)}
        managed = {
            ("managed", m)
            for u, m in w.manages
            if u == user and (self.admin or self.actor in (u, m))
        }
        own = self.admin or self.me(user)
        patterns = {("expression", e) for u, e in w.patterns if u == user and own}
        return held | managed | patterns
