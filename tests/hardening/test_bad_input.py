"""Bad input against every service (issue 6): property tests over the hostile catalogue.

Every call either succeeds and the value is stored exactly (read back through sqlite3, not
through the console), or raises a CmailError whose message is one sentence naming the field or
the rule, with the master database (and a user database it may touch) byte-for-byte unchanged.
Any other exception type fails the test. The audit trail is a separate file and may change.

Each example works on a fresh copy of a small seeded database, so examples do not depend on each
other and a failure reproduces with the printed example alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core import passwords, rule_index
from core.access import Role, Session
from core.db import Database
from core.errors import CmailError, Conflict, Denied, Invalid, NotFound
from core.services import addresses, mailbox, popd, rights, routing, smtpd, users
from core.validation import INBOUND_ROUTERS, OUTBOUND_ROUTERS
from tests.hardening.catalogue import (
    MARKUP,
    MARKUP_USER,
    MASTER_MAILS,
    PASSWORD,
    PLAIN,
    RULES,
    USERDB_MAILS,
    USERS,
    order_input,
    router_input,
    seed,
    text_input,
)

# Deterministic (same examples every run, no .hypothesis directory), and a budget that keeps
# this file well under a minute on a CI runner.
EXAMPLES = 150
CHEAP = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ORDERS_TAKEN = tuple(RULES)

# Words that would mean SQLite or Python, not the console, wrote the message.
RAW_WORDING = (
    "constraint failed",
    "unique constraint",
    "foreign key",
    "not null constraint",
    'near "',
    "syntax error",
    "no such table",
    "no such column",
    "datatype mismatch",
    "sqlite3",
    "integrityerror",
    "operationalerror",
    "traceback",
    "surrogates not allowed",
    "codec can't",
    "object has no attribute",
    "nonetype",
)
# A route is named by what it is for its router: cmail's own words for it.
FIELD_WORDS = {"route": ("handoff remote", "redirect target")}
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
ADMIN = Session.system()  # for explicit examples (never mutated: it has no user to rename)
COUNTS: Counter[str] = Counter()  # calls per service function
OUTCOMES: Counter[str] = Counter()  # "ok" or the error class


def _utf8(value: object) -> bool:
    try:
        if isinstance(value, str):
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class World:
    """A fixed working directory that every example resets from a template (carol's user
    database is stored by absolute path, so it must stay where the template says)."""

    def __init__(self, base: Path) -> None:
        self.work = base / "work"
        self.template = base / "template"
        self.work.mkdir()
        self.template.mkdir()
        self.master = self.work / "master.db3"
        self.userdb = self.work / "userdb.db3"
        seed(self.master, self.userdb)
        for path in (self.master, self.userdb):
            shutil.copyfile(path, self.template / path.name)
        self.db: Database | None = None
        self._before: tuple[str, str] = ("", "")

    def fresh(self) -> Database:
        for path in (self.master, self.userdb):
            shutil.copyfile(self.template / path.name, path)
        self.db = Database(str(self.master))
        return self.db

    def digests(self) -> tuple[str, str]:
        return _digest(self.master), _digest(self.userdb)

    def query(self, statement: str, *params: object, path: Path | None = None) -> list[tuple]:
        if not all(_utf8(p) for p in params):
            return []  # text that is not UTF-8 cannot be stored, so it matches no row
        connection = sqlite3.connect(path or self.master)
        try:
            return connection.execute(statement, params).fetchall()
        finally:
            connection.close()

    def call(self, fn: Callable[..., Any], session: Session, *args: Any, **kwargs: Any) -> Any:
        """Run one service call on the current copy. Returns the result, or the CmailError
        after checking its sentence and that neither database file changed."""
        assert self.db is not None
        COUNTS[f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"] += 1
        before = self.digests()
        try:
            result = fn(self.db, session, *args, **kwargs)
        except CmailError as error:
            check_sentence(error, [*args, *kwargs.values()])
            assert self.digests() == before, f"{fn.__name__} refused ({error}) but wrote"
            OUTCOMES[type(error).__name__] += 1
            return error
        OUTCOMES["ok"] += 1
        return result


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Every example commits and fsyncs; a RAM file system (where there is one) keeps the budget
    # in examples, not in disk waits.
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        base = Path(tempfile.mkdtemp(prefix="cmail-bad-input-", dir=shm))
        yield World(base)
        shutil.rmtree(base, ignore_errors=True)
    else:
        yield World(tmp_path_factory.mktemp("bad-input"))


def report(request: pytest.FixtureRequest, line: str) -> None:
    """A line in the test run's output, outside output capture (for the README's numbers)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def _report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """The numbers for the README: how many calls this run really tried (printed at the end
    of the module), and a check that the budget was not silently cut."""
    start = sum(COUNTS.values())
    yield
    tried = sum(COUNTS.values()) - start
    outcomes = ", ".join(f"{kind} {n}" for kind, n in OUTCOMES.most_common())
    report(
        request,
        f"bad input (services): {tried} calls over {len(COUNTS)} functions ({outcomes}); 0 escapes",
    )
    ran = [item for item in request.session.items if item.module is request.module]
    if request.session.testsfailed == 0:
        assert tried >= EXAMPLES * len(ran), f"only {tried} service calls were tried"


# --- the sentence check -------------------------------------------------------------------------
def _strings(values: list[Any]) -> list[str]:
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list | tuple):
            found += _strings(list(value))
    return found


def check_sentence(error: CmailError, inputs: list[Any]) -> None:
    """One sentence of the console's own: a single line ending in '.', naming the field of an
    Invalid, with no SQLite or Python wording. A caller's value quoted raw inside it (a user
    name with a newline) is not the sentence's line break: front ends escape quoted values
    (cli.output.printable, tui.text.sentence), so such values are cut out before the check."""
    assert isinstance(error, Invalid | NotFound | Conflict | Denied), (
        f"bad input gave {type(error).__name__}: {error}"
    )
    message = str(error)
    assert message == error.message
    own = message
    for value in sorted(set(_strings(inputs)), key=len, reverse=True):
        if LINE_BREAKS.intersection(value):
            own = own.replace(value, "<value>")
    assert own.strip(), f"empty message: {message!r}"
    assert not LINE_BREAKS.intersection(own), f"not one line: {message!r}"
    assert own.endswith("."), f"not a sentence: {message!r}"
    lowered = own.lower()
    for wording in RAW_WORDING:
        assert wording not in lowered, f"raw wording {wording!r} in {message!r}"
    if isinstance(error, Invalid):
        names = (error.field.lower(), *FIELD_WORDS.get(error.field, ()))
        assert any(name in lowered for name in names), (
            f"Invalid({error.field!r}) does not name its field: {message!r}"
        )


# --- what "stored exactly" means ----------------------------------------------------------------
def expected_order(value: object) -> int | None:
    """The integer an order input must be stored as, or None when it must be refused: ASCII
    decimal digits (surrounding whitespace ignored) or a Python int, in 64 bits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", stripped):
            return None
        value = int(stripped)
    if not isinstance(value, int) or not -(2**63) <= value < 2**63:
        return None
    return value


def controls(text: str) -> bool:
    """C0, DEL and C1 controls (Unicode category Cc): the console refuses to store them, so
    no name or rule it writes can drive a terminal of cmail's own tools."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def inbound_route(router: str, route: str | None) -> str | None:
    return None if router == "drop" or not route else route


def outbound_route(router: str, route: str | None) -> str | None:
    return None if router in ("any", "defined", "drop") or not route else route


def rules_of(world: World) -> dict[int, tuple[str, str, str | None]]:
    rows = world.query(
        "SELECT address_order, address_expression, address_router, address_route FROM addresses"
    )
    return {order: (expression, router, route) for order, expression, router, route in rows}


def user_row(world: World, name: str) -> tuple | None:
    rows = world.query(
        "SELECT user_authdata, user_database, user_alias FROM users WHERE user_name = ?", name
    )
    return rows[0] if rows else None


def held(world: World, name: str) -> set[str]:
    return {
        p for (p,) in world.query("SELECT api_permission FROM api_access WHERE api_user = ?", name)
    }


# --- strategies ---------------------------------------------------------------------------------
def sessions() -> st.SearchStrategy[Session]:
    """Mostly the file-system admin (so values reach the rules), sometimes a delegate or a
    plain user (so refusals quote hostile names too). Built per example: sessions mutate."""
    return st.integers(0, 5).map(
        lambda pick: _session(("deleg", "bob")[pick] if pick < 2 else "admin")
    )


def _session(who: str) -> Session:
    if who == "admin":
        return Session.system()
    return Session(user=who, role=Role.DELEGATE if who == "deleg" else Role.USER)


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any] | None = None):
    """Three draws in four from `valid`: the other arguments of a call usually pass, so the
    hostile one reaches its own rule (or is stored)."""
    other = text_input() if hostile is None else hostile
    return st.integers(0, 3).flatmap(lambda pick: other if pick == 0 else valid)


def user_names() -> st.SearchStrategy[str]:
    """A name to look up: an existing user (often) or anything from the catalogue."""
    return mostly(st.sampled_from(USERS))


def passwords_in() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.just(PASSWORD), text_input())


def taken_orders() -> st.SearchStrategy[object]:
    """Orders of existing rules, as numbers and as typed text, or anything."""
    return mostly(st.sampled_from((*ORDERS_TAKEN, " 10 ", "+20", "030", "60")), order_input())


def free_orders() -> st.SearchStrategy[object]:
    free = (7, "100", " 5 ", "-1", "0", "+0", str(2**63 - 1), -(2**63), "-9223372036854775808")
    return mostly(st.sampled_from(free), order_input())


def inbound_routers() -> st.SearchStrategy[str]:
    return mostly(st.sampled_from(INBOUND_ROUTERS), router_input(INBOUND_ROUTERS))


def outbound_routers() -> st.SearchStrategy[str]:
    return mostly(st.sampled_from(OUTBOUND_ROUTERS), router_input(OUTBOUND_ROUTERS))


def inbound_routes() -> st.SearchStrategy[str | None]:
    """Routes that fit some router (markup, wildcards and odd names included), or anything."""
    valid = (
        "bob", "carol", "Bob", MARKUP_USER, "007", "(to-local)@other.example",
        "[b](from-local)[/b]@x", "%@x", "mx.example", "u:p@mx.example:25/tls", "go away",
        "(to-nothing)@x", *MARKUP,
    )  # fmt: skip
    return st.one_of(st.none(), st.sampled_from(valid), st.sampled_from(valid), text_input())


def outbound_routes() -> st.SearchStrategy[str | None]:
    valid = ("mx.example", "u:p@mx.example:25", "no sending, see [b]policy[/b]", *MARKUP)
    return st.one_of(st.none(), st.sampled_from(valid), text_input())


def expressions() -> st.SearchStrategy[str]:
    return mostly(
        st.sampled_from(("new@example.org", "y@deleg.example", "%@deleg.example", *PLAIN[1:])),
    )


def permissions_in() -> st.SearchStrategy[str]:
    return mostly(
        st.sampled_from(("admin", "delegate")), st.sampled_from(("Admin", "ADMIN", "admin ", ""))
    )


# --- users --------------------------------------------------------------------------------------
@CHEAP
@given(
    who=sessions(),
    name=st.one_of(text_input(), st.sampled_from(USERS)),
    password=passwords_in(),
    rights_=st.one_of(st.just([]), st.lists(permissions_in(), max_size=2)),
    alias=st.one_of(st.none(), user_names()),
)
@example(who=ADMIN, name="\x9b31m", password=None, rights_=[], alias=None)
@example(who=ADMIN, name="\udcff", password=None, rights_=[], alias=None)
def test_add_user(world: World, who: Session, name, password, rights_, alias) -> None:
    world.fresh()
    result = world.call(users.add_user, who, name, password, rights=rights_, alias=alias)
    if isinstance(result, CmailError):
        return
    assert not controls(name), f"a name with control characters was stored: {name!r}"
    row = user_row(world, name)
    assert row is not None, f"{name!r} was reported added but is not stored under that name"
    authdata, _, stored_alias = row
    if password:
        assert passwords.verify(authdata, password)
    else:
        assert authdata is None
    assert stored_alias == (None if alias in (None, "", name) else alias)
    assert held(world, name) == set(rights_)


@CHEAP
@given(who=sessions(), name=user_names(), password=passwords_in())
@example(who=ADMIN, name="bob", password="\udcff")
@example(who=ADMIN, name="\udcff", password=None)
def test_set_password(world: World, who: Session, name, password) -> None:
    world.fresh()
    result = world.call(users.set_password, who, name, password, current=PASSWORD)
    if isinstance(result, CmailError):
        return
    authdata = user_row(world, name)[0]
    if password:
        assert passwords.verify(authdata, password)
        assert len(authdata.partition(":")[0]) == passwords.SALT_LENGTH
    else:
        assert authdata is None


@CHEAP
@given(who=sessions(), name=user_names(), target=st.one_of(st.none(), user_names()))
@example(who=ADMIN, name="alice", target="\udcff")
def test_set_alias(world: World, who: Session, name, target) -> None:
    world.fresh()
    result = world.call(users.set_alias, who, name, target)
    if isinstance(result, CmailError):
        return
    assert user_row(world, name)[2] == (None if target in (None, "", name) else target)


@CHEAP
@given(who=sessions(), name=user_names(), choice=st.integers(0, 6), typed=text_input())
def test_set_user_database(world: World, who: Session, name, choice, typed) -> None:
    world.fresh()
    # Real files of every kind, then whatever the catalogue types.
    path = {
        0: str(world.userdb),
        1: "userdb.db3",
        2: str(world.master),
        3: str(world.work),
        4: "/nonexistent/user.db3",
        5: "/etc/hostname",
    }.get(choice, typed)
    result = world.call(users.set_user_database, who, name, path)
    if isinstance(result, CmailError):
        return
    assert user_row(world, name)[1] == (path or None)


@CHEAP
@given(who=sessions(), old=user_names(), new=st.one_of(text_input(), st.sampled_from(USERS)))
@example(who=ADMIN, old="%", new="%")
def test_rename_user(world: World, who: Session, old, new) -> None:
    world.fresh()
    routes = world.query(
        "SELECT address_order FROM addresses WHERE address_router = 'store' AND address_route = ?",
        old,
    )
    result = world.call(users.rename_user, who, old, new)
    if isinstance(result, CmailError):
        return
    assert user_row(world, old) is None and user_row(world, new) is not None
    moved = world.query(
        "SELECT address_order FROM addresses WHERE address_router = 'store' AND address_route = ?",
        new,
    )
    assert sorted(moved) == sorted(routes)


@CHEAP
@given(
    who=sessions(),
    name=user_names(),
    store_rules=st.one_of(st.none(), st.builds(users.SettledRules, st.none() | user_names())),
)
@example(who=ADMIN, name="bob", store_rules=users.SettledRules("carol"))
@example(who=ADMIN, name="bob", store_rules=users.SettledRules())
def test_delete_user(world: World, who: Session, name, store_rules) -> None:
    world.fresh()
    routes = (
        "SELECT address_order FROM addresses WHERE address_router = 'store' AND address_route = ?"
    )
    orders = sorted(order for (order,) in world.query(routes, name))
    result = world.call(users.delete_user, who, name, store_rules=store_rules)
    if isinstance(result, CmailError):
        return
    assert user_row(world, name) is None
    if store_rules is not None and store_rules.to is not None:
        assert sorted(order for (order,) in world.query(routes, store_rules.to)) >= orders
    if store_rules is not None:
        assert world.query(routes, name) == []


# --- rights -------------------------------------------------------------------------------------
@CHEAP
@given(who=sessions(), user=user_names(), permission=permissions_in())
def test_grant(world: World, who: Session, user, permission) -> None:
    world.fresh()
    result = world.call(rights.grant, who, user, permission)
    if isinstance(result, CmailError):
        return
    assert permission in held(world, user)


@CHEAP
@given(
    who=sessions(),
    user=user_names(),
    names=st.one_of(st.none(), st.lists(permissions_in(), max_size=3)),
)
def test_revoke(world: World, who: Session, user, names) -> None:
    world.fresh()
    before = held(world, user)
    result = world.call(rights.revoke, who, user, names)
    if isinstance(result, CmailError):
        return
    assert held(world, user) == (set() if names is None else before - set(names))


@CHEAP
@given(who=sessions(), user=user_names(), wanted=st.lists(permissions_in(), max_size=3))
def test_set_permissions(world: World, who: Session, user, wanted) -> None:
    world.fresh()
    result = world.call(rights.set_permissions, who, user, wanted)
    if isinstance(result, CmailError):
        return
    assert held(world, user) == set(wanted)


@CHEAP
@given(
    who=sessions(),
    verb=st.sampled_from(("add-user", "remove-user", "add-expression", "remove-expression")),
    manager=user_names(),
    target=st.one_of(user_names(), expressions()),
)
@example(who=ADMIN, verb="add-user", manager="alice", target="alice")
def test_delegations(world: World, who: Session, verb, manager, target) -> None:
    world.fresh()
    table, column = (
        ("api_user_delegates", "api_delegate")
        if verb.endswith("user")
        else ("api_address_delegates", "api_expression")
    )
    fn = {
        "add-user": rights.add_delegated_user,
        "remove-user": rights.remove_delegated_user,
        "add-expression": rights.add_delegated_expression,
        "remove-expression": rights.remove_delegated_expression,
    }[verb]
    result = world.call(fn, who, manager, target)
    if isinstance(result, CmailError):
        return
    present = world.query(
        f"SELECT 1 FROM {table} WHERE api_user = ? AND {column} = ?", manager, target
    )
    assert bool(present) == verb.startswith("add")


# --- addresses ----------------------------------------------------------------------------------
@CHEAP
@given(
    who=sessions(),
    expression=expressions(),
    router=inbound_routers(),
    route=inbound_routes(),
    order=st.one_of(st.none(), free_orders()),
)
@example(who=ADMIN, expression="\x85@x", router="drop", route=None, order=None)
def test_add_rule(world: World, who: Session, expression, router, route, order) -> None:
    world.fresh()
    before = rules_of(world)
    result = world.call(addresses.add_rule, who, expression, router, route, order)
    if isinstance(result, CmailError):
        return
    assert not controls(expression) and not controls(route or ""), "control characters stored"
    after = rules_of(world)
    added = {o: r for o, r in after.items() if o not in before}
    assert len(added) == 1 and len(after) == len(before) + 1, "not exactly one rule added"
    (stored_order, stored), = added.items()  # fmt: skip
    assert stored == (expression, router, inbound_route(router, route))
    if order is None:
        assert stored_order > max(before)
    else:
        assert stored_order == expected_order(order), f"order {order!r} stored as {stored_order}"


@CHEAP
@given(
    who=sessions(),
    order=taken_orders(),
    router=inbound_routers(),
    route=inbound_routes(),
    expression=st.one_of(st.none(), expressions()),
)
def test_update_rule(world: World, who: Session, order, router, route, expression) -> None:
    world.fresh()
    before = rules_of(world)
    result = world.call(addresses.update_rule, who, order, router, route, expression=expression)
    if isinstance(result, CmailError):
        return
    number = expected_order(order)
    assert number in before, f"order {order!r} updated, but it names no rule"
    after = rules_of(world)
    kept = before[number][0] if expression is None else expression
    assert after[number] == (kept, router, inbound_route(router, route))
    assert {o: r for o, r in after.items() if o != number} == {
        o: r for o, r in before.items() if o != number
    }


@CHEAP
@given(who=sessions(), order=taken_orders())
def test_delete_rule(world: World, who: Session, order) -> None:
    world.fresh()
    before = rules_of(world)
    result = world.call(addresses.delete_rule, who, order)
    if isinstance(result, CmailError):
        return
    number = expected_order(order)
    after = rules_of(world)
    assert number in before and number not in after
    assert len(after) == len(before) - 1


@CHEAP
@given(who=sessions(), order=taken_orders(), new_order=free_orders())
@example(who=ADMIN, order=10, new_order="\u0663")
def test_move_rule(world: World, who: Session, order, new_order) -> None:
    world.fresh()
    before = rules_of(world)
    result = world.call(addresses.move_rule, who, order, new_order)
    if isinstance(result, CmailError):
        return
    old, new = expected_order(order), expected_order(new_order)
    assert old in before and new is not None and new not in before
    after = rules_of(world)
    assert after[new] == before[old] and old not in after and len(after) == len(before)


@CHEAP
@given(
    who=sessions(),
    a=taken_orders(),
    b=st.one_of(taken_orders(), free_orders()),
    move_if_free=st.booleans(),
)
@example(who=ADMIN, a=10, b=" 10 ", move_if_free=False)
def test_swap_rules(world: World, who: Session, a, b, move_if_free) -> None:
    world.fresh()
    before = rules_of(world)
    result = world.call(addresses.swap_rules, who, a, b, move_if_free=move_if_free)
    if isinstance(result, CmailError):
        return
    first, second = expected_order(a), expected_order(b)
    after = rules_of(world)
    assert after[second] == before[first] and len(after) == len(before)
    if second in before:
        assert after[first] == before[second]
    else:
        assert move_if_free and first not in after


@CHEAP
@given(
    who=sessions(),
    order=taken_orders(),
    direction=mostly(st.sampled_from(("up", "down")), st.sampled_from(("Up", "UP", "up ", ""))),
)
def test_step_rule(world: World, who: Session, order, direction) -> None:
    world.fresh()
    before = rules_of(world)
    result = world.call(addresses.step_rule, who, order, direction)
    if isinstance(result, CmailError):
        return
    number = expected_order(order)
    ranked = sorted(before)
    neighbour = ranked[ranked.index(number) + (1 if direction == "up" else -1)]
    after = rules_of(world)
    assert after[number] == before[neighbour] and after[neighbour] == before[number]


# --- smtpd and popd -----------------------------------------------------------------------------
def smtpd_row(world: World, user: str) -> tuple | None:
    rows = world.query("SELECT smtpd_router, smtpd_route FROM smtpd WHERE smtpd_user = ?", user)
    return rows[0] if rows else None


@CHEAP
@given(
    who=sessions(),
    user=user_names(),
    router=st.one_of(st.none(), outbound_routers()),
    route=outbound_routes(),
)
def test_smtpd_enable(world: World, who: Session, user, router, route) -> None:
    world.fresh()
    result = world.call(smtpd.enable, who, user, router, route)
    if isinstance(result, CmailError):
        return
    router = router or "drop"
    assert smtpd_row(world, user) == (router, outbound_route(router, route))


@CHEAP
@given(
    who=sessions(),
    user=user_names(),
    router=outbound_routers(),
    route=outbound_routes(),
)
def test_smtpd_update(world: World, who: Session, user, router, route) -> None:
    world.fresh()
    result = world.call(smtpd.update, who, user, router, route)
    if isinstance(result, CmailError):
        return
    assert smtpd_row(world, user) == (router, outbound_route(router, route))


@CHEAP
@given(
    who=sessions(),
    verb=st.sampled_from(("smtpd-disable", "pop-enable", "pop-disable", "pop-unlock")),
    user=user_names(),
)
def test_row_switches(world: World, who: Session, verb, user) -> None:
    world.fresh()
    fn = {
        "smtpd-disable": smtpd.disable,
        "pop-enable": popd.enable,
        "pop-disable": popd.disable,
        "pop-unlock": popd.unlock,
    }[verb]
    result = world.call(fn, who, user)
    if isinstance(result, CmailError):
        return
    if verb == "smtpd-disable":
        assert smtpd_row(world, user) is None
        return
    lock = world.query("SELECT typeof(pop_lock), pop_lock FROM popd WHERE pop_user = ?", user)
    # pop_lock is written as the integer 0, never text or a boolean cmail might misread.
    assert lock == ([] if verb == "pop-disable" else [("integer", 0)])


# --- mailbox ------------------------------------------------------------------------------------
@CHEAP
@given(
    who=sessions(),
    owner=mostly(
        st.sampled_from((("bob", "master"), ("carol", "userdb"))),
        st.tuples(
            user_names(),
            mostly(st.sampled_from(("master", "userdb")), st.sampled_from(("Master", "master "))),
        ),
    ),
    mail_id=mostly(st.sampled_from((*MASTER_MAILS, *USERDB_MAILS, " 2 ", "+1")), order_input()),
    read=st.one_of(st.none(), st.booleans()),
)
@example(who=ADMIN, owner=("bob", "master"), mail_id="\u0663", read=True)
@example(who=ADMIN, owner=("\udcff", "master"), mail_id=1, read=None)
def test_mailbox_writes(world: World, who: Session, owner, mail_id, read) -> None:
    user, source = owner
    world.fresh()
    source = str(world.userdb) if source == "userdb" else source
    if read is None:
        result = world.call(mailbox.delete_mail, who, user, source, mail_id)
    else:
        result = world.call(mailbox.mark_read, who, user, source, mail_id, read)
    if isinstance(result, CmailError):
        return
    number = expected_order(mail_id)
    assert number is not None, f"mail id {mail_id!r} was accepted"
    path = world.master if source == "master" else world.userdb
    flags = world.query(
        "SELECT mail_read FROM mailbox WHERE mail_id = ? AND mail_user = ?", number, user, path=path
    )
    assert flags == ([] if read is None else [(int(read),)])


# --- reads -------------------------------------------------------------------------------------
SEARCHES = ("b", "B", "x[", "\x1b", "Ü", "ü", "ÜN", "%", "_", "0", "[b]", "bo")


def _ascii_lower(text: str) -> str:
    """SQLite's lower(): ASCII letters only."""
    return "".join(c.lower() if c.isascii() else c for c in text)


def _like(world: World, table: str, column: str, pattern: str | None) -> list[str]:
    """cmail-admin's filter, asked of SQLite directly."""
    if pattern is None:
        return sorted(v for (v,) in world.query(f"SELECT {column} FROM {table}"))
    rows = world.query(f"SELECT {column} FROM {table} WHERE {column} LIKE ?", pattern)
    return sorted(v for (v,) in rows)


def _search(names: list[str], search: str | None) -> list[str]:
    if not search:
        return names
    return [n for n in names if _ascii_lower(search) in _ascii_lower(n)]


@wraps(users.user_lines)
def _user_lines(db: Database, session: Session, pattern: str | None) -> list[users.UserLine]:
    """user_lines read to the end: its checks run as the chunks are read."""
    return [line for chunk in users.user_lines(db, session, pattern) for line in chunk]


def _quick_rules(world: World, who: Session, pattern: str | None, search: str | None) -> Any:
    """The filter-as-you-type path: the first call starts the rules' side index; once it is
    built, as new as the database, its provisional page must be the exact page."""
    world.call(addresses.list_rules, who, pattern, search=search, quick=True)
    index = rule_index.existing(world.db)
    if index is not None:
        index.wait(5)
    page = world.call(addresses.list_rules, who, pattern, search=search, quick=True)
    if not isinstance(page, CmailError) and page.confirm is not None:
        assert page == page.confirm()
    return page


LISTERS = ("users", "names", "lines", "smtpd", "popd", "rules", "quick rules")


@CHEAP
@given(
    who=sessions(),
    lister=st.sampled_from((*LISTERS, "permissions", "delegations")),
    pattern=st.one_of(st.none(), st.sampled_from(USERS), text_input()),
    search=st.one_of(st.none(), st.sampled_from(SEARCHES), text_input()),
)
# A literal search for a non-ASCII letter as stored (SQLite's lower() folds ASCII only).
@example(who=ADMIN, lister="users", pattern=None, search="Ü")
@example(who=ADMIN, lister="popd", pattern=None, search="Ü")
@example(who=ADMIN, lister="users", pattern="%\\_%", search=None)
# FTS5 query syntax, which the side index must take as text.
@example(who=ADMIN, lister="quick rules", pattern=None, search='ple" OR "bob')
@example(who=ADMIN, lister="quick rules", pattern=None, search="(to-local)")
@example(who=ADMIN, lister="quick rules", pattern=None, search="[/b]@EXAMPLE")
def test_list_filters(world: World, who: Session, lister, pattern, search) -> None:
    """Filters run, and for an admin return exactly what SQLite's LIKE and a literal
    case-insensitive substring give: nothing more, nothing less."""
    world.fresh()
    if lister == "users":
        page = world.call(users.list_users, who, pattern, search=search)
        expected = ("users", "user_name", [r.name for r in getattr(page, "rows", [])])
    elif lister == "names":
        page = world.call(users.list_names, who, pattern, search=search)
        expected = ("users", "user_name", [r.name for r in getattr(page, "rows", [])])
    elif lister == "lines":  # cmail-admin-user list: the LIKE filter only
        page = world.call(_user_lines, who, pattern)
        names = [line.name for line in page] if isinstance(page, list) else []
        expected = ("users", "user_name", _search(names, search))
    elif lister == "smtpd":
        page = world.call(smtpd.list_entries, who, pattern, search=search)
        expected = ("smtpd", "smtpd_user", None)
    elif lister == "popd":
        page = world.call(popd.list_entries, who, pattern, search=search)
        expected = ("popd", "pop_user", [r.user for r in getattr(page, "rows", [])])
    elif lister == "rules":
        page = world.call(addresses.list_rules, who, pattern, search=search)
        expected = ("addresses", "address_expression", None)
    elif lister == "quick rules":
        page = _quick_rules(world, who, pattern, search)
        expected = ("addresses", "address_expression", None)
    elif lister == "permissions":
        page = world.call(rights.list_permissions, who, pattern, search)
        expected = ("api_access", "api_user", None)
    else:
        page = world.call(rights.list_delegations, who, pattern, search)
        expected = ("api_user_delegates", "api_user", None)
    if isinstance(page, CmailError) or who.user is not None:
        return
    table, column, got = expected
    if got is not None:
        assert sorted(got) == _search(_like(world, table, column, pattern), search)


@CHEAP
@given(
    who=sessions(),
    lister=st.sampled_from(("users", "names", "smtpd", "popd", "rules")),
    after=st.one_of(st.none(), user_names(), order_input()),
    limit=st.one_of(st.none(), order_input()),
    sort=mostly(st.just("name")),
)
@example(who=ADMIN, lister="users", after=None, limit="", sort="name")
def test_list_paging(world: World, who: Session, lister, after, limit, sort) -> None:
    """Keyset cursors and page sizes as a caller might pass them: a page or a sentence."""
    world.fresh()
    if lister == "users":
        world.call(users.list_users, who, after=after, limit=limit, sort=sort)
    elif lister == "names":
        world.call(users.list_names, who, after=after, limit=limit, sort=sort)
    elif lister == "smtpd":
        world.call(smtpd.list_entries, who, after=after, limit=limit)
    elif lister == "popd":
        world.call(popd.list_entries, who, after=after, limit=limit)
    else:
        world.call(addresses.list_rules, who, after=after, limit=limit)


@CHEAP
@given(
    who=sessions(),
    reader=st.sampled_from(
        (
            *("user", "links", "preview", "rights", "smtpd", "popd", "rule"),
            *("matching", "reorder", "mails", "counts", "totals"),
        )
    ),
    name=user_names(),
    order=taken_orders(),
    target=st.one_of(taken_orders(), free_orders(), st.sampled_from(("up", "down"))),
)
def test_gets(world: World, who: Session, reader, name, order, target) -> None:
    """A get names exactly the stored row it asked for, or refuses with a sentence."""
    world.fresh()
    if reader == "user":
        found = world.call(users.get_user, who, name)
        assert isinstance(found, CmailError) or found.name == name
    elif reader == "links":
        found = world.call(users.user_links, who, name)
        assert isinstance(found, CmailError) or found.name == name
    elif reader == "rights":
        found = world.call(rights.user_rights, who, name)
        assert isinstance(found, CmailError) or found.user == name
    elif reader == "preview":
        found = world.call(users.delete_preview, who, name)
        assert isinstance(found, CmailError) or found.name == name
    elif reader == "smtpd":
        found = world.call(smtpd.get, who, name)
        assert isinstance(found, CmailError) or smtpd_row(world, name) == (
            found.router,
            found.route,
        )
    elif reader == "popd":
        found = world.call(popd.get, who, name)
        assert isinstance(found, CmailError) or found.user == name
    elif reader == "rule":
        found = world.call(addresses.get_rule, who, order)
        if not isinstance(found, CmailError):
            number = expected_order(order)
            assert found.order == number and rules_of(world)[number] == (
                found.expression, found.router, found.route
            )  # fmt: skip
    elif reader == "matching":
        world.call(addresses.matching_rules, who, name)
    elif reader == "reorder":
        world.call(addresses.reorder_preview, who, order, target)
    elif reader == "mails":
        found = world.call(mailbox.list_mails, who, name)
        assert isinstance(found, CmailError) or found.user == name
    elif reader == "counts":
        found = world.call(mailbox.mail_counts, who, [name])
        assert isinstance(found, CmailError) or list(found) == [name]
    else:
        found = world.call(users.mail_totals, who, [name])
        assert isinstance(found, CmailError) or list(found) == [name]


@CHEAP
@given(
    who=sessions(),
    outbound=st.booleans(),
    user=user_names(),
    address=st.one_of(st.sampled_from(("bob@example.org", "<x@deleg.example>")), text_input()),
    sender=st.one_of(st.none(), text_input()),
)
@example(who=ADMIN, outbound=False, user="bob", address="x@example.org", sender="\udcff")
def test_traces(world: World, who: Session, outbound, user, address, sender) -> None:
    world.fresh()
    if outbound:
        found = world.call(routing.trace_outbound, who, user, address)
        assert isinstance(found, CmailError) or found.user == user
    else:
        world.call(routing.trace_inbound, who, address, sender)
