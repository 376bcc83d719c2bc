"""The index-backed paths of the list services (issue 5): prefix ranges, prefix-first search,
whole-table printing in chunks, and mail counts for many users. Each is checked against the
plain answer it must equal, on data where case, wildcards and odd characters matter."""

from __future__ import annotations

import random
import re
import sqlite3
from functools import partial
from pathlib import Path

import pytest

from core.access import Session
from core.db import Database
from core.services import common, mailbox, popd, smtpd, users

ALPHABET = ["a", "A", "b", "B", "u", "U", "s", "e", "r", "0", "9", "_", "%", "\\", "é", "É", " "]
SEARCHES = [None, "a", "A", "us", "USER", "b0", "%", "_", "\\", "é", "É", "9", "a%", "x"]
SEARCHES += ["abuserab", "ABUSERA", "aaaaaaa"]  # more letters than MAX_CASE_LETTERS
PATTERNS = [None, "%", "a%", "A%", "u%a%", "%b", "_", "us_r%", "é%", "%\\%", "aaaaaaa%"]


def _fold(text: str) -> str:
    """SQLite's folding, written here rather than taken from core: ASCII letters only."""
    return "".join(c.lower() if c.isascii() else c for c in text)


def _like(value: str, pattern: str | None) -> bool:
    if pattern is None:
        return True
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(_fold(regex), _fold(value), re.S) is not None


def _expected(pool: list[str], text: str | None, pattern: str | None, descending=False, extra=()):
    pool = [name for name in pool if _like(name, pattern)]
    if not text:
        return sorted(pool, reverse=descending)
    first = [n for n in pool if _fold(n).startswith(_fold(text))]
    rest = [n for n in pool if n not in first and (_fold(text) in _fold(n) or n in extra)]
    return sorted(first, reverse=descending) + sorted(rest, reverse=descending)


def _walk(fetch, key) -> list[str]:
    found, cursor = [], None
    for _ in range(2000):
        page = fetch(cursor)
        found += [key(row) for row in page.rows]
        if not page.has_more:
            return found
        cursor = page.cursor
    raise AssertionError("the pages never ended")


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, list[str], dict[str, str]]:
    """Names in every ASCII case, with wildcards, backslashes and non-ASCII letters."""
    from core.db import create_master

    path = tmp_path_factory.mktemp("odd") / "master.db3"
    create_master(str(path))
    rnd = random.Random(5)
    names = {"aaaaaaab", "AaAaAaAaX", "xubaseurz", "USERAB", "abuserab9"}
    while len(names) < 300:
        names.add("".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 10))))
    names = sorted(names)
    routes = {n: rnd.choice([None, "mx.example", "Ub%x"]) for n in names[::2]}
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany("INSERT INTO users (user_name) VALUES (?)", [(n,) for n in names])
        connection.executemany(
            "INSERT INTO smtpd (smtpd_user, smtpd_router, smtpd_route) VALUES (?, 'handoff', ?)",
            list(routes.items()),
        )
        connection.executemany(
            "INSERT INTO popd (pop_user, pop_lock) VALUES (?, 0)", [(n,) for n in names[::3]]
        )
    connection.close()
    return Database(str(path)), names, routes


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("limit", [1, 3, 50])
def test_users_search_and_pattern_page_through_exactly(odd, descending: bool, limit: int) -> None:
    db, names, _ = odd
    admin = Session.system()
    for text in SEARCHES:
        for pattern in PATTERNS:
            options = {"search": text, "descending": descending, "limit": limit}
            fetch = partial(users.list_users, db, admin, pattern, **options)
            got = _walk(lambda after, fetch=fetch: fetch(after=after), lambda row: row.name)
            assert got == _expected(names, text, pattern, descending), (text, pattern)


@pytest.mark.parametrize("limit", [2, 50])
def test_smtpd_and_popd_search_page_through_exactly(odd, limit: int) -> None:
    db, names, routes = odd
    admin = Session.system()
    for text in SEARCHES:
        for pattern in PATTERNS:
            by_route = [n for n, r in routes.items() if text and r and _fold(text) in _fold(r)]
            fetch = partial(smtpd.list_entries, db, admin, pattern, search=text, limit=limit)
            got = _walk(lambda after, fetch=fetch: fetch(after=after), lambda row: row.user)
            assert got == _expected(list(routes), text, pattern, extra=by_route), (text, pattern)
            fetch = partial(popd.list_entries, db, admin, pattern, search=text, limit=limit)
            got = _walk(lambda after, fetch=fetch: fetch(after=after), lambda row: row.user)
            assert got == _expected(names[::3], text, pattern), (text, pattern)


def test_search_puts_names_that_start_with_the_text_first(sample_db: Database, admin) -> None:
    # "te" starts test, and is inside nulltest: the prefix match comes first, and alone, so a
    # list shows it at the cost of the index range; the next page is the scan for the others.
    first = users.list_users(sample_db, admin, search="te")
    assert [u.name for u in first.rows] == ["test"] and first.has_more
    rest = users.list_users(sample_db, admin, search="te", after=first.cursor)
    assert [u.name for u in rest.rows] == ["nulltest", "postmaster"] and not rest.has_more


def test_a_search_without_prefix_matches_scans_in_the_first_call(sample_db, admin) -> None:
    found = users.list_users(sample_db, admin, search="ulltes")
    assert [u.name for u in found.rows] == ["nulltest"] and not found.has_more


def test_prefix_ranges_cover_every_case_and_stay_in_order() -> None:
    ranges = common.prefix_ranges("ab1")
    assert ranges == [
        ("AB1", "AB2"),
        ("Ab1", "Ab2"),
        ("aB1", "aB2"),
        ("ab1", "ab2"),
    ]
    assert len(common.prefix_ranges("abcdefgh")) == 2**common.MAX_CASE_LETTERS
    assert common.prefix_ranges("") is None
    assert common.prefix_ranges("a\x00") is None
    assert common.prefix_ranges("\U0010ffff") == [("\U0010ffff", None)]
    assert common.prefix_ranges("a\U0010ffff") == [("A\U0010ffff", "B"), ("a\U0010ffff", "b")]
    assert common.prefix_ranges("\ud7ff") == [("\ud7ff", "\ue000")]  # no surrogates


def test_literal_prefix_stops_at_the_first_wildcard() -> None:
    assert common.literal_prefix("user099%") == "user099"
    assert common.literal_prefix("a_b%") == "a"
    assert common.literal_prefix("%x") == ""
    assert common.literal_prefix("exact") == "exact"
    assert common.literal_prefix(None) == ""


def test_case_twins_by_key_and_by_scan(sample_db: Database, admin, monkeypatch) -> None:
    users.add_user(sample_db, admin, "CbDev2")
    users.add_user(sample_db, admin, "cbdev2x")
    with sample_db.read():
        assert common.case_twins("cbdev2") == ["CbDev2"]
        monkeypatch.setattr(common, "MAX_TWIN_VARIANTS", 1)  # too many variants: one scan
        assert common.case_twins("cbdev2") == ["CbDev2"]
        assert common.case_twins("nobody") == []


def test_user_lines_equal_the_paged_list(sample_db: Database, admin, monkeypatch) -> None:
    monkeypatch.setattr(users, "LINES_CHUNK", 3)
    for pattern in (None, "%", "c%", "%e%", "zz%"):
        lines = [line for chunk in users.user_lines(sample_db, admin, pattern) for line in chunk]
        fetch = partial(users.list_users, sample_db, admin, pattern, limit=4)
        paged = _walk(lambda after, fetch=fetch: fetch(after=after), _line)
        assert [tuple(line) for line in lines] == paged


def _line(user: users.UserSummary) -> tuple:
    alias, database = user.alias or "", user.database or ""
    return (user.name, int(user.can_login), alias, user.addresses, user.mails, database)


def test_user_lines_show_a_delegate_its_users_only(sample_db: Database, admin) -> None:
    from core.services import rights
    from core.session import login

    users.add_user(sample_db, admin, "boss", "bosspw")
    rights.grant(sample_db, admin, "boss", "delegate")
    rights.add_delegated_user(sample_db, admin, "boss", "a1")
    boss = login(sample_db, "boss", "bosspw")
    lines = [line.name for chunk in users.user_lines(sample_db, boss) for line in chunk]
    assert lines == ["a1", "boss"]


def test_mail_counts_for_many_users_take_one_pass(tmp_path: Path, admin) -> None:
    from core.db import create_master

    path = tmp_path / "many.db3"
    create_master(str(path))
    names = [f"u{i:04d}" for i in range(1200)]
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany("INSERT INTO users (user_name) VALUES (?)", [(n,) for n in names])
        connection.executemany(
            "INSERT INTO mailbox (mail_user, mail_read, mail_envelopeto, mail_envelopefrom) "
            "VALUES (?, ?, 'x@y', 'a@b')",
            [(n, i % 2) for i, n in enumerate(names) for _ in range(i % 3)],
        )
    connection.close()
    db = Database(str(path))
    everyone = mailbox.mail_counts(db, admin, [])
    assert list(everyone) == names
    for i, name in enumerate(names):
        assert (everyone[name].master, everyone[name].master_unread) == (
            i % 3,
            (i % 3) * (1 - i % 2),
        )
    some = mailbox.mail_counts(db, admin, names[5:700])  # more than one IN batch: one pass
    assert {n: c.master for n, c in some.items()} == {n: everyone[n].master for n in names[5:700]}
    few = mailbox.mail_counts(db, admin, [names[2], names[1000]])
    assert [c.master for c in few.values()] == [2, 1]


def test_a_delegates_rules_merge_its_users_and_its_patterns(sample_db: Database, admin) -> None:
    """Store rules of managed users (read by key) and rules inside the delegated patterns (a
    scan) come back merged in routing order, once each, exactly what Scope lets it see."""
    from core.access import current_scope
    from core.services import addresses, rights
    from core.session import login

    users.add_user(sample_db, admin, "boss", "bosspw")
    rights.grant(sample_db, admin, "boss", "delegate")
    for managed in ("a1", "spam"):
        rights.add_delegated_user(sample_db, admin, "boss", managed)
    rights.add_delegated_expression(sample_db, admin, "boss", "%@example.org")
    rights.add_delegated_expression(sample_db, admin, "boss", "a%@%")
    for expression, router, route in (
        ("a1@example.org", "store", "a1"),  # in both parts
        ("x@example.org", "redirect", "y@elsewhere.example"),
        ("ab@other.example", "store", "spam"),
        ("zz@other.example", "store", "kitinfo"),  # neither
        ("A1@EXAMPLE.ORG", "drop", None),
    ):
        addresses.add_rule(sample_db, admin, expression, router, route)
    boss = login(sample_db, "boss", "bosspw")
    scope = current_scope(sample_db, boss)
    everything = _walk(
        lambda after: addresses.list_rules(sample_db, admin, after=after, limit=1000),
        lambda rule: rule,
    )
    visible = [r.order for r in everything if addresses._viewable(scope, r)]
    assert len(visible) >= 4
    for limit in (1, 2, 50):
        fetch = partial(addresses.list_rules, sample_db, boss, limit=limit)
        got = _walk(lambda after, fetch=fetch: fetch(after=after), lambda rule: rule.order)
        assert got == visible
    found = addresses.list_rules(sample_db, boss, search="EXAMPLE.org").rows
    text = lambda r: f"{r.expression}\x00{r.route or ''}".lower()  # noqa: E731
    expected = [r.order for r in everything if r.order in visible and "example.org" in text(r)]
    assert [r.order for r in found] == expected
