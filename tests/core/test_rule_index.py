"""The side index of the rules' text (core.rule_index) and the quick search it gives
addresses.list_rules: quick pages equal exact pages, changes made behind the index's back are
caught by confirm(), and the master database is never changed."""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import passwords, rule_index
from core.access import Role, Session
from core.db import Database, create_master
from core.models import Address, DelegatedExpression, DelegatedUser, Permission, User
from core.services import addresses

ALPHABET = 'aAbBcCdxyz0123%_\\"@.- üÜéß'
USERS = ("u1", "u2", "u3", "dele")
DELEGATE = Session(user="dele", role=Role.DELEGATE)  # %@d1.example and a_%; manages u1, u2
PLAIN = Session(user="u3", role=Role.USER)
FIXED_TEXTS = (
    "%", "_", "\\", "%_", "a%b", "_@", "\\%", '"', '"x"', "ü", "Ü", "üb", "ÜB", "ß@",
    "a", "ab", "AB", "user", "USER1", "@D1.EXAMPLE", ".example", "no such text", "x\x00y",
    "zzzz", "ZZZZ", "zzz1", "zzzz@", "trap",
)  # fmt: skip
# Rules that make the index's answers hard to use: a text's trigrams all in rules that do not
# contain it ("zzz…" for "zzzz"), and rules in the delegate's SQL superset (a% LIKE a_%) that
# its exact check refuses (a% matches "a", which a_% does not).
TRAPS = [
    *((f"zzz{n}@d{n % 3}.example", "drop", None) for n in range(40)),
    *((f"zzzz{n}@d1.example", "store", "u1") for n in range(4)),
    ("a%", "redirect", "zzzz@trap.example"),
    ("A%%", "reject", "ZZZZ trap"),
    ("a%", "store", "u3"),
]


def _expression(rng: random.Random, number: int) -> str:
    if rng.random() < 0.5:
        name = rng.choice(("user", "User", "a", "ab_", "x%y", "ü", "Ülf", 'q"t'))
        return f"{name}{number % 37}@d{number % 3}.example"
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 18)))


def _route(rng: random.Random, expression: str) -> tuple[str, str | None]:
    pick = rng.random()
    if pick < 0.4:
        return "store", rng.choice(USERS)
    if pick < 0.7:
        return "redirect", expression.upper() if rng.random() < 0.5 else "ÜSER@other.example"
    return rng.choice((("drop", None), ("reject", "Go away %_\\")))


def _world(path: Path, rng: random.Random, rules: int) -> Database:
    """A master with random rules and the three kinds of reader: admin, delegate, plain user."""
    create_master(str(path))
    db = Database(str(path))
    with db.write():
        for name in USERS:
            User.insert(name=name, authdata=passwords.hash_password(name)).execute()
        Permission.insert(user="dele", permission="delegate").execute()
        DelegatedExpression.insert_many(
            [{"user": "dele", "expression": e} for e in ("%@d1.example", "a_%")]
        ).execute()
        DelegatedUser.insert_many(
            [{"user": "dele", "delegate": name} for name in ("u1", "u2")]
        ).execute()
        orders = rng.sample(range(1, rules * 5), rules + len(TRAPS))
        rows = [(e, *_route(rng, e)) for e in (_expression(rng, n) for n in range(rules))]
        rows += rng.sample(TRAPS, len(TRAPS))
        Address.insert_many(
            [
                {"order": order, "expression": expression, "router": router, "route": route}
                for order, (expression, router, route) in zip(orders, rows, strict=True)
            ]
        ).execute()
    return db


def _ready(db: Database) -> rule_index.RuleIndex:
    index = rule_index.for_database(db)
    assert index is not None
    index.start()
    assert index.wait(30), index.error
    return index


def _texts(rng: random.Random, db: Database, count: int) -> Iterator[str]:
    """Search texts: pieces of stored texts in mixed case, random strings, and fixed odd ones."""
    with db.read():
        stored = [
            text
            for row in Address.select(Address.expression, Address.route).tuples()
            for text in row
            if text
        ]
    yield from FIXED_TEXTS
    for _ in range(count):
        text = rng.choice(stored)
        start = rng.randrange(len(text))
        piece = text[start : start + rng.randint(1, 8)]
        yield "".join(c.swapcase() if rng.random() < 0.5 else c for c in piece)
        yield "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4)))


def _pages(db: Database, session: Session, text: str, quick: bool, limit: int) -> Iterator:
    after = None
    while True:
        page = addresses.list_rules(db, session, search=text, after=after, limit=limit, quick=quick)
        yield page
        if not page.has_more:
            return
        after = page.cursor


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Candidates read a few at a time and the scan taking over soon; counts the takeovers."""
    monkeypatch.setattr(rule_index, "FIRST_BATCH", 3)
    monkeypatch.setattr(rule_index, "BATCH", 5)
    monkeypatch.setattr(addresses, "IN_BATCH", 4)
    monkeypatch.setattr(addresses, "MAX_CANDIDATES", 9)
    takeovers = [0]
    exact = addresses._exact_rows

    def counted(*args, **kwargs):
        takeovers[0] += 1
        return exact(*args, **kwargs)

    monkeypatch.setattr(addresses, "_exact_rows", counted)
    return takeovers


# --- quick pages are exact ------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_quick_pages_equal_exact_pages(tmp_path, seed):
    rng = random.Random(seed)
    db = _world(tmp_path / "master.db3", rng, 300)
    index = _ready(db)
    answered = 0
    for text in _texts(rng, db, 25):
        for session in (Session.system(), DELEGATE, PLAIN):
            quick = list(_pages(db, session, text, True, 7))
            exact = list(_pages(db, session, text, False, 7))
            assert quick == exact, (text, session.user)
            indexed = rule_index.match_query(text) is not None
            assert all((page.confirm is not None) == indexed for page in quick), text
            answered += indexed and any(page.rows for page in quick)
            if indexed:
                assert quick[0].confirm() == exact[0]
    assert answered > 20  # the index really answered, with rows
    assert index.ready and index.generation == 0  # no confirm found a difference


@pytest.mark.parametrize("seed", range(2))
def test_quick_pages_are_exact_when_the_scan_takes_over(tmp_path, seed, tiny_batches):
    rng = random.Random(100 + seed)
    db = _world(tmp_path / "master.db3", rng, 200)
    _ready(db)
    for text in _texts(rng, db, 10):
        for session in (Session.system(), DELEGATE):
            exact = list(_pages(db, session, text, False, 4))
            before = tiny_batches[0]
            assert list(_pages(db, session, text, True, 4)) == exact, (text, session.user)
            tiny_batches[0] = before
    assert tiny_batches[0] > 0  # quick pages handed over to the scan


def test_quick_pages_keep_the_pattern_filter(tmp_path):
    db = _world(tmp_path / "master.db3", random.Random(7), 300)
    _ready(db)
    for pattern in ("%@d1.example", "user%", "a_%", "%"):
        for session in (Session.system(), DELEGATE):
            kwargs = {"search": "ser", "limit": 5}
            quick = addresses.list_rules(db, session, pattern, quick=True, **kwargs)
            assert quick.confirm is not None
            assert quick == addresses.list_rules(db, session, pattern, **kwargs)


def test_not_quick_never_touches_the_index(tmp_path):
    db = _world(tmp_path / "master.db3", random.Random(1), 50)
    addresses.list_rules(db, Session.system(), search="user")
    assert rule_index.existing(db) is None


def test_index_not_built_yet_starts_and_answers_exactly(tmp_path):
    db = _world(tmp_path / "master.db3", random.Random(2), 100)
    first = addresses.list_rules(db, Session.system(), search="user", quick=True)
    assert first.confirm is None  # exact: the index was not there yet
    assert first == addresses.list_rules(db, Session.system(), search="user")
    index = rule_index.existing(db)
    assert index is not None and index.wait(30)
    assert addresses.list_rules(db, Session.system(), search="user", quick=True).confirm


# --- changes ---------------------------------------------------------------------------------
def test_changes_behind_the_index_are_confirmed_and_rebuilt(tmp_path):
    path = tmp_path / "master.db3"
    db = _world(path, random.Random(3), 200)
    index = _ready(db)
    with sqlite3.connect(path) as other:  # e.g. cmail-admin-address, another process
        other.execute(
            "INSERT INTO addresses (address_order, address_expression, address_router, "
            "address_route) VALUES (999999, 'Needle@d1.example', 'store', 'u1')"
        )
    sessions = (Session.system(), DELEGATE)
    provisional = [addresses.list_rules(db, s, search="needle", quick=True) for s in sessions]
    assert all(page.rows == [] and page.confirm is not None for page in provisional)
    for session, page in zip(sessions, provisional, strict=True):
        confirmed = page.confirm()
        assert [r.order for r in confirmed.rows] == [999999]
        assert confirmed == addresses.list_rules(db, session, search="needle")
    assert index.generation == 1  # one rebuild, though two confirms differed
    assert index.wait(30)
    again = addresses.list_rules(db, DELEGATE, search="NEEDLE", quick=True)
    assert [r.order for r in again.rows] == [999999] and again.confirm is not None
    assert again.confirm() == again and index.generation == 1


def test_a_rule_changed_behind_the_index_is_never_shown_stale(tmp_path):
    path = tmp_path / "master.db3"
    db = _world(path, random.Random(4), 100)
    _ready(db)
    with sqlite3.connect(path) as other:
        other.execute("UPDATE addresses SET address_expression = 'gone', address_route = NULL")
    page = addresses.list_rules(db, Session.system(), search="user", quick=True)
    assert page.rows == []  # the candidates are checked against the database


def test_console_writes_invalidate_the_index(tmp_path):
    db = _world(tmp_path / "master.db3", random.Random(5), 100)
    index = _ready(db)
    admin = Session.system()
    addresses.add_rule(db, admin, "haystack@d1.example", "store", "u1", order=777777)
    assert index.generation == 1
    assert index.wait(30)
    page = addresses.list_rules(db, admin, search="haySTACK", quick=True)
    assert [r.order for r in page.rows] == [777777] and page.confirm is not None
    steps = (
        lambda: addresses.update_rule(db, admin, 777777, "drop", expression="hay2@d1.example"),
        lambda: addresses.move_rule(db, admin, 777777, 777778),
        lambda: addresses.swap_rules(db, admin, 777778, 777777, move_if_free=True),
        lambda: addresses.step_rule(db, admin, 777777, "down"),
        lambda: addresses.delete_rule(db, admin, page.rows[0].order),
    )
    for number, step in enumerate(steps, start=2):
        step()
        assert index.generation == number
    assert index.wait(30)


def test_invalidations_during_reads_never_give_a_wrong_page(tmp_path, monkeypatch):
    monkeypatch.setattr(rule_index, "FIRST_BATCH", 2)
    monkeypatch.setattr(rule_index, "BATCH", 2)
    db = _world(tmp_path / "master.db3", random.Random(6), 300)
    index = _ready(db)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            index.invalidate()
            index.wait(5)

    exact = addresses.list_rules(db, DELEGATE, search="ser", limit=30)
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(200):
            page = addresses.list_rules(db, DELEGATE, search="ser", limit=30, quick=True)
            assert page == exact
    finally:
        stop.set()
        worker.join()
    assert index.generation > 0


# --- without the index -------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["MODULE", "TOKENIZER"])
def test_without_fts5_or_trigram_every_search_scans(tmp_path, monkeypatch, missing):
    monkeypatch.setattr(rule_index, missing, "no_such_thing")
    db = _world(tmp_path / "master.db3", random.Random(8), 100)
    assert not rule_index.supported() and rule_index.for_database(db) is None
    for session in (Session.system(), DELEGATE):
        quick = addresses.list_rules(db, session, search="user", quick=True, limit=5)
        assert quick.confirm is None
        assert quick == addresses.list_rules(db, session, search="user", limit=5)
    assert rule_index.existing(db) is None
    assert not any(t.name == "rule-index" for t in threading.enumerate())


def test_a_master_the_index_cannot_read_leaves_searches_to_the_scan(tmp_path):
    index = rule_index.RuleIndex(str(tmp_path / "missing.db3"))
    index.start()
    assert not index.wait(30)
    assert index.error and index.candidates("user") is None


def test_match_query():
    assert rule_index.match_query("ab") is None
    assert rule_index.match_query("a\x00bc") is None
    assert rule_index.match_query("\udcff" * 4) is None  # not UTF-8
    assert rule_index.match_query('a"bc') == '"a""b" AND """bc"'
    assert rule_index.match_query("aaaa") == '"aaa"'
    many = rule_index.match_query("".join(chr(65 + i) for i in range(40)))
    assert many is not None and many.count(" AND ") == rule_index.MAX_TRIGRAMS - 1
    assert many.startswith('"ABC"') and many.endswith('"fgh"')  # both ends kept


# --- the master and the side file ---------------------------------------------------------------
def _schema(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()


def test_the_master_file_is_unchanged(tmp_path):
    path = tmp_path / "master.db3"
    db = _world(path, random.Random(9), 200)
    schema, content, files = _schema(path), path.read_bytes(), sorted(os.listdir(tmp_path))
    index = _ready(db)
    for text in ("user", "ü1@", "%_x"):
        addresses.list_rules(db, DELEGATE, search=text, quick=True).confirm()
    index.invalidate()
    assert index.wait(30)
    rule_index.discard(db)
    assert _schema(path) == schema and "fts5" not in str(schema)
    assert path.read_bytes() == content
    assert sorted(os.listdir(tmp_path)) == files  # no journal, no side file next to it


def _side_files() -> set[str]:
    """SQLite's private temporary files this process holds (deleted from their directory at
    once, they live until closed)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.add(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("how", ["discard", "collected"])
def test_the_side_file_is_gone_after_close(tmp_path, how):
    path = tmp_path / "master.db3"
    create_master(str(path))
    with sqlite3.connect(path) as connection:  # enough text that the index leaves the cache
        connection.executemany(
            "INSERT INTO addresses (address_expression, address_router) VALUES (?, 'drop')",
            (
                (f"user{n:07d}.{n * 7919 % 100003:06d}@domain{n % 997}.example",)
                for n in range(8000)
            ),
        )
    before = _side_files()
    db = Database(str(path))
    _ready(db)
    assert _side_files() - before  # the index is on disk, unlinked
    if how == "discard":
        rule_index.discard(db)
    else:
        del db
        gc.collect()
    assert _side_files() == before
