"""The lint: the sample database's real problems (reference §9), constructed ones, the
shadowing index checked against brute force, and the streamed scan (chunks, read units)."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from core import patterns
from core.access import Role, Session
from core.db import Database
from core.errors import Denied
from core.services.lint import (
    Finding,
    LintReport,
    MemoryIndex,
    _Rule,
    lint,
    scan,
    scratch,
    shadow_findings,
    sort_key,
)

PW = "salt:" + "0" * 64


def kinds(report: LintReport) -> set[tuple[str, int | None, str | None]]:
    return {(f.kind, f.order, f.user) for f in report.findings}


def one(report: LintReport, kind: str, **where: object) -> Finding:
    found = [
        f
        for f in report.findings
        if f.kind == kind and all(getattr(f, k) == v for k, v in where.items())
    ]
    assert len(found) == 1, (kind, where, report.findings)
    return found[0]


def execute(path: Path, *statements: tuple[str, tuple]) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    with con:
        for sql, params in statements:
            con.execute(sql, params)
    con.close()


# --- the sample database -------------------------------------------------------------------------


def test_sample_problems(sample_db: Database, admin: Session) -> None:
    report = lint(sample_db, admin)
    shadowed = one(report, "shadowed", order=100)
    assert "#102 %@kitinfo.de" in shadowed.message and "defined" in shadowed.message
    assert one(report, "store-to-alias", order=202).user == "cdbev"
    assert "a1 → a2 → a3" in one(report, "alias-chain", user="a1").message
    userdb = one(report, "userdb-invalid", user="kitinfo")
    assert userdb.severity == "error" and "/home/cbdev/dev/cmail/userdb.db3" in userdb.message
    assert "65 characters" in one(report, "authdata-malformed", user="user").message
    assert "cbdev" in one(report, "authdata-shared", user="nulltest").message
    assert "nulltest" in one(report, "authdata-shared", user="cbdev").message
    assert "admin" in one(report, "rights-without-login", user="postmaster").message
    assert "a2" in one(report, "defined-without-store", user="a1").message
    assert one(report, "redirect-no-domain", order=102).severity == "warning"
    assert {f.user for f in report.findings if f.kind == "smtpd-ignored"} == {"a1", "a2", "cdbev"}
    # Things that are fine in the sample stay quiet.
    assert ("defined-without-store", None, "cbdev") not in kinds(report)
    assert not any(f.kind == "shadowed" and f.order != 100 for f in report.findings)
    assert report.errors == 1 and report.counts["error"] == 1
    assert sum(report.counts.values()) == len(report.findings) == sum(report.kinds.values())


def test_empty_database_has_no_errors(empty_db: Database, admin: Session) -> None:
    report = lint(empty_db, admin)
    assert report.errors == 0 and report.findings == ()
    assert report.counts == {"error": 0, "warning": 0, "info": 0}


def test_lint_is_for_admins_only(sample_db: Database) -> None:
    with pytest.raises(Denied):
        lint(sample_db, Session("a3", Role.USER))
    assert lint(sample_db, Session("cbdev", Role.ADMIN)).errors == 1


# --- constructed problems ------------------------------------------------------------------------


def test_a_user_database_that_is_the_master_itself(empty_path: Path, admin: Session) -> None:
    """set_user_database refuses it; a row written by other tools must show in the lint."""
    execute(
        empty_path,
        ("INSERT INTO users VALUES ('eve', ?, ?, NULL)", (PW, str(empty_path))),
    )
    finding = one(lint(Database(str(empty_path)), admin), "userdb-invalid", user="eve")
    assert finding.severity == "error" and "is the master database itself" in finding.message


@pytest.fixture
def broken(empty_path: Path, userdb_path: Path) -> Database:
    users = [
        ("alice", PW, None),
        ("bob", PW, str(userdb_path)),  # a good user database: no finding
        ("carol", None, "relative.db3"),
        ("x1", PW, None),
        ("x2", PW, None),
        ("dele", PW, None),
        ("ghost", PW, None),
    ]
    rules = [
        (1, "%@a.example", "store", "alice"),
        (2, "bob@a.example", "store", "bob"),  # shadowed by #1? no: #1 is lower
        (3, "null@a.example", "store", None),
        (4, "empty@a.example", "store", ""),
        (5, "gone@a.example", "store", "Alice"),
        (6, "typo@a.example", "Store", "alice"),
        (7, "fwd@a.example", "redirect", "(to-local)@(to-domian)"),
        (8, "hand@a.example", "handoff", "relay:99999"),
        (9, "nofwd@a.example", "redirect", None),
        (10, "why@a.example", "reject", ""),
        (11, "ping@b.example", "redirect", "pong@b.example"),
        (12, "pong@b.example", "redirect", "ping@b.example"),
        (13, "dup@a.example", "store", "bob"),
        (14, "dup@a.example", "store", "alice"),
        (15, "stuck@a.example", "handoff", ""),
    ]
    execute(
        empty_path,
        *[
            ("INSERT INTO users (user_name, user_authdata, user_database) VALUES (?,?,?)", u)
            for u in users
        ],
        ("UPDATE users SET user_alias = 'x2' WHERE user_name = 'x1'", ()),
        ("UPDATE users SET user_alias = 'x1' WHERE user_name = 'x2'", ()),
        *[("INSERT INTO addresses VALUES (?, ?, ?, ?)", (e, o, r, t)) for o, e, r, t in rules],
        ("INSERT INTO smtpd VALUES ('alice', 'Any', NULL)", ()),
        ("INSERT INTO smtpd VALUES ('bob', 'handoff', NULL)", ()),
        ("INSERT INTO smtpd VALUES ('dele', 'handoff', 'host:1/ssl')", ()),
        ("INSERT INTO popd VALUES ('alice', 'false')", ()),
        ("INSERT INTO popd VALUES ('bob', 1)", ()),
        ("INSERT INTO api_access VALUES ('carol', 'delegate')", ()),
        ("INSERT INTO api_access VALUES ('ghost', 'superuser')", ()),
        ("INSERT INTO api_address_delegates VALUES ('carol', 'a_b@a.example')", ()),
        ("INSERT INTO api_address_delegates VALUES ('carol', '%example.com')", ()),
        ("INSERT INTO api_address_delegates VALUES ('dele', '%@b.example')", ()),
    )
    return Database(str(empty_path))


def test_constructed_problems(broken: Database, admin: Session) -> None:
    report = lint(broken, admin)
    found = kinds(report)
    expected = {
        ("store-no-route", 3, None),
        ("store-empty-route", 4, None),
        ("store-missing-user", 5, "Alice"),
        ("unknown-router", 6, None),
        ("redirect-invalid", 7, None),
        ("handoff-invalid", 8, None),
        ("route-missing", 9, None),
        ("reject-empty-reason", 10, None),
        ("duplicate", 13, None),
        ("route-empty", 15, None),
        ("alias-cycle", None, "x1"),
        ("smtpd-unknown-router", None, "alice"),
        ("smtpd-handoff-no-route", None, "bob"),
        ("smtpd-handoff-invalid", None, "dele"),
        ("pop-lock-not-integer", None, "alice"),
        ("pop-locked", None, "bob"),
        ("userdb-invalid", None, "carol"),
        ("rights-without-login", None, "carol"),
        ("permission-unknown", None, "ghost"),
        ("delegation-underscore", None, "carol"),
        ("delegation-unanchored", None, "carol"),
        ("delegation-unused", None, "dele"),
    }
    assert expected <= found, expected - found
    loop = one(report, "redirect-loop")
    assert loop.severity == "error" and "ping@b.example" in loop.message
    assert "'alice' exists" in one(report, "store-missing-user").message
    assert "case-sensitive" in one(report, "unknown-router").message
    assert "relative path" in one(report, "userdb-invalid", user="carol").message
    assert "(to-domian)" in one(report, "redirect-invalid").message
    # The good user database, a catch-all below specific rules, and dele's scope are fine.
    assert not any(f.kind.startswith("userdb") and f.user == "bob" for f in report.findings)
    assert not any(f.kind == "shadowed" for f in report.findings)
    assert ("delegation-unanchored", None, "dele") not in found
    assert report.counts["error"] == sum(f.severity == "error" for f in report.findings) > 10


def test_alias_cycle_reported_once(broken: Database, admin: Session) -> None:
    cycles = [f for f in lint(broken, admin).findings if f.kind == "alias-cycle"]
    assert len(cycles) == 1 and "x1 → x2 → x1" in cycles[0].message


def test_findings_are_sorted_by_severity(broken: Database, admin: Session) -> None:
    severities = [f.severity for f in lint(broken, admin).findings]
    rank = {"error": 0, "warning": 1, "info": 2}
    assert severities == sorted(severities, key=rank.__getitem__)


# --- shadowing ------------------------------------------------------------------------------------


def brute_shadowed(rules: list[_Rule]) -> set[int]:
    return {
        r.order
        for r in rules
        if any(h.order > r.order and patterns.contains(h.expression, r.expression) for h in rules)
    }


@pytest.mark.parametrize("seed", range(4))
def test_shadow_index_agrees_with_brute_force(seed: int) -> None:
    """Random patterns over a tiny alphabet, so that containment is frequent and varied."""
    rng = random.Random(seed)
    pieces = ["a", "A", "b", "@", ".", "%", "_", "ab", "@a.b"]
    expressions = {"".join(rng.choice(pieces) for _ in range(rng.randint(0, 5))) for _ in range(90)}
    orders = rng.sample(range(1, 1000), len(expressions))
    rules = sorted(
        (_Rule(o, e, "store", "u") for o, e in zip(orders, expressions, strict=True)),
        key=lambda r: -r.order,
    )
    findings = list(shadow_findings(rules, MemoryIndex(rules)))
    assert {f.order for f in findings} == brute_shadowed(rules)
    by_order = {r.order: r for r in rules}
    for finding in findings:  # the named winner really contains the shadowed rule
        winner = int(finding.message.split(" by #")[1].split(" ")[0])
        assert patterns.contains(by_order[winner].expression, by_order[finding.order].expression)


def test_case_variants_and_underscores_shadow() -> None:
    rules = [
        _Rule(9, "FOO@x", "store", "u"),
        _Rule(8, "foo@x", "store", "u"),
        _Rule(7, "a_c@x", "drop", None),
        _Rule(6, "abc@x", "store", "u"),
        _Rule(5, "a%c@x", "store", "u"),  # `_` does not contain `%`: not shadowed by #7
    ]
    shadowed = {f.order: f for f in shadow_findings(rules, MemoryIndex(rules))}
    assert set(shadowed) == {8, 6}
    assert "#9 FOO@x" in shadowed[8].message and "#7 a_c@x" in shadowed[6].message


def test_lint_stays_fast_on_20k_rules(empty_path: Path, admin: Session) -> None:
    """The shadow check compares a rule only with higher rules whose literal ends fit."""
    rng = random.Random(1)
    domains = [f"d{i}.example" for i in range(200)]
    rows = []
    for _ in range(20_000):
        domain, user = rng.choice(domains), f"user{rng.randint(0, 5000)}"
        expression = rng.choice(
            [f"{user}@{domain}"] * 20
            + [f"%@{domain}", f"t%t@{domain}", f"{user}%", f"%{user[-2:]}%@%"]
        )
        rows.append((expression, "store", user))
    with sqlite3.connect(empty_path) as con:
        con.executemany(
            "INSERT INTO addresses (address_expression, address_router, address_route) "
            "VALUES (?, ?, ?)",
            rows,
        )
    db = Database(str(empty_path))
    start = time.perf_counter()
    report = lint(db, admin)
    assert time.perf_counter() - start < 10  # about 0.5 s here; quadratic would take minutes
    assert report.kinds["shadowed"] > 10_000 and report.kinds["store-missing-user"] == 20_000


# --- streaming ------------------------------------------------------------------------------------


def test_scan_yields_a_batch_per_chunk_with_progress(broken: Database, admin: Session) -> None:
    batches = list(scan(broken, admin, chunk=4))
    rules = [b for b in batches if b.step == "rules"]
    assert len(rules) == 4  # 15 rules, 4 per read unit
    assert [b.done for b in rules] == [4, 8, 12, 15]
    assert [b.total for b in rules] == [None, 15, 15, 15]  # counted after the first chunk
    assert batches[-1].rules == 15 and batches[-1].users == 7
    # Cheap per-row checks come before the ones that need every rule seen.
    steps = [b.step for b in batches]
    assert steps.index("POP entries") < steps.index("rules") < steps.index("redirect loops")


def _random_database(path: Path, seed: int) -> Database:
    """Rules from a tiny alphabet (case variants, duplicates, wildcards, redirect loops) and
    users with aliases, shared passwords and odd locks: every cross-row check has work."""
    rng = random.Random(seed)
    names = sorted(
        {rng.choice(["al", "Al", "AL", "bo", "cy"]) + str(rng.randint(0, 5)) for _ in range(30)}
    )
    statements = []
    for name in names:
        authdata = rng.choice([PW, "s:" + "1" * 64, "", None, "nocolon", f"{name}:" + "2" * 64])
        statements.append(
            ("INSERT INTO users (user_name, user_authdata) VALUES (?, ?)", (name, authdata))
        )
    for name in names:
        if rng.random() < 0.3:
            statements.append(
                ("UPDATE users SET user_alias = ? WHERE user_name = ?", (rng.choice(names), name))
            )
        if rng.random() < 0.5:
            statements.append(
                ("INSERT INTO popd VALUES (?, ?)", (name, rng.choice([0, 1, "false"])))
            )
        if rng.random() < 0.5:
            statements.append(
                (
                    "INSERT INTO smtpd VALUES (?, ?, NULL)",
                    (name, rng.choice(["defined", "any", "Any"])),
                )
            )
    texts = [
        "".join(
            rng.choice(["a", "A", "b", "@", "%", "_", "@a.b"]) for _ in range(rng.randint(1, 4))
        )
        for _ in range(25)
    ]
    for _ in range(70):
        router = rng.choice(["store", "redirect", "redirect", "drop", "reject"])
        route = (
            rng.choice([*names, names[0].swapcase(), None])
            if router == "store"
            else rng.choice([*texts, None])
        )
        rule = (rng.choice(texts), router, route)
        statements.append(("INSERT INTO addresses VALUES (?, NULL, ?, ?)", rule))
    execute(path, *statements)
    return Database(str(path))


@pytest.mark.parametrize("seed", range(6))
def test_findings_do_not_depend_on_the_chunk_size(
    empty_path: Path, admin: Session, seed: int
) -> None:
    """Every cross-chunk question (a duplicate or a case variant in an earlier chunk, a loop
    through rules read far apart) gets the same answer as with everything in one chunk."""
    db = _random_database(empty_path, seed)
    whole = lint(db, admin)
    assert whole.kinds.get("duplicate") and whole.kinds.get("shadowed")
    for chunk in (1, 3, 10):
        streamed = sorted(
            (f for b in scan(db, admin, chunk=chunk) for f in b.findings), key=sort_key
        )
        assert tuple(streamed) == whole.findings, chunk


def test_lint_is_the_sorted_scan(broken: Database, admin: Session) -> None:
    report = lint(broken, admin)
    streamed = [f for batch in scan(broken, admin, chunk=2) for f in batch.findings]
    assert tuple(sorted(streamed, key=sort_key)) == report.findings
    assert report.rules == 15 and report.users == 7


def test_each_chunk_is_its_own_read(empty_path: Path, broken: Database, admin: Session) -> None:
    """Between two batches the lint holds no lock: another connection writes at once (it
    would wait, then fail with `database is locked`, behind a long read), and later chunks
    see the change."""
    batches = scan(broken, admin, chunk=2)
    next(batches)
    other = sqlite3.connect(empty_path, timeout=0)
    with other:
        other.execute("INSERT INTO addresses VALUES ('late@a.example', 0, 'store', NULL)")
    other.close()
    findings = [f for batch in batches for f in batch.findings]
    assert ("store-no-route", 0) in {(f.kind, f.order) for f in findings}


def test_scan_refuses_non_admins_before_reading(sample_db: Database) -> None:
    with pytest.raises(Denied):
        next(scan(sample_db, Session("a3", Role.USER)))


def test_a_store_route_in_another_case_names_the_user(empty_path: Path, admin: Session) -> None:
    execute(
        empty_path,
        ("INSERT INTO users (user_name) VALUES ('Carol.Smith')", ()),
        ("INSERT INTO users (user_name) VALUES ('carol.smithers')", ()),
        ("INSERT INTO addresses VALUES ('c@x', 1, 'store', 'carol.SMITH')", ()),
        ("INSERT INTO addresses VALUES ('d@x', 2, 'store', 'nobody')", ()),
    )
    report = lint(Database(str(empty_path)), admin)
    assert "('Carol.Smith' exists;" in one(report, "store-missing-user", order=1).message
    assert "exists" not in one(report, "store-missing-user", order=2).message.split("not exist")[1]


def test_equal_password_keys_that_collide_are_not_shared(
    sample_db: Database, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scratch pad finds equal passwords by a hash of authdata; a collision (here: every
    login gets the same key) must not report users whose passwords differ."""
    honest = [f for f in lint(sample_db, admin).findings if f.kind == "authdata-shared"]
    monkeypatch.setattr(scratch, "login_key", lambda authdata: 0)
    colliding = [f for f in lint(sample_db, admin).findings if f.kind == "authdata-shared"]
    assert honest and colliding == honest
