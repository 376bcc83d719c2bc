"""Routing traces, built from the reference's verified examples (§3.2, §3.5, §4.3, §9)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.access import Role, Session
from core.db import Database
from core.errors import Denied, NotFound
from core.services.routing import expand_redirect, parse_path, trace_inbound, trace_outbound

PW = "salt:" + "0" * 64  # well-formed authdata: the account can log in as far as cmail checks


def build(path: Path, *, users=(), rules=(), smtpd=(), popd=(), rights=(), scopes=()) -> Database:
    """Write rows the way cmail-admin would (plain SQL), then open the file as the console."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    with con:
        for user in users:
            # A user is a name, or (name, authdata[, database[, alias]]).
            given = user if isinstance(user, tuple) else (user,)
            name, authdata, database, alias = (*given, *(None, PW, None, None)[len(given) :])
            con.execute(
                "INSERT INTO users (user_name, user_authdata, user_database) VALUES (?, ?, ?)",
                (name, authdata, database),
            )
            if alias is not None:
                con.execute("UPDATE users SET user_alias = ? WHERE user_name = ?", (alias, name))
        con.executemany(
            "INSERT INTO addresses (address_order, address_expression, address_router, "
            "address_route) VALUES (?, ?, ?, ?)",
            rules,
        )
        con.executemany("INSERT INTO smtpd VALUES (?, ?, ?)", smtpd)
        con.executemany("INSERT INTO popd VALUES (?, ?)", popd)
        con.executemany("INSERT INTO api_access VALUES (?, ?)", rights)
        con.executemany("INSERT INTO api_address_delegates VALUES (?, ?)", scopes)
    con.close()
    return Database(str(path))


def orders(rules) -> list[int]:
    return [r.order for r in rules]


# --- §3.2: the highest matching order wins ------------------------------------------------------


def test_wildcard_example_highest_order_wins(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        users=["user1", "user2", "user3"],
        rules=[(5, "foo%", "store", "user1"), (10, "foobar%", "store", "user2")],
    )
    trace = trace_inbound(db, admin, "foobar@foo.bar")
    assert (trace.outcome, trace.target, trace.failed) == ("store", "user2", False)
    assert trace.hops[0].rule.order == 10 and orders(trace.hops[0].shadowed) == [5]

    with sqlite3.connect(empty_path) as con:
        con.execute("INSERT INTO addresses VALUES ('foo%', 15, 'store', 'user3')")
    trace = trace_inbound(db, admin, "foobar@foo.bar")
    assert (trace.outcome, trace.target) == ("store", "user3")
    assert orders(trace.hops[0].shadowed) == [10, 5]


def test_match_is_ascii_case_insensitive(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, users=["u"], rules=[(1, "foo@bar.baz", "store", "u")])
    assert trace_inbound(db, admin, "FOO@BAR.BAZ").target == "u"
    assert trace_inbound(db, admin, "<Foo@Bar.Baz>").outcome == "store"


def test_underscore_matches_exactly_one_character(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, users=["u"], rules=[(1, "a_c@x", "store", "u")])
    assert trace_inbound(db, admin, "abc@x").outcome == "store"
    assert trace_inbound(db, admin, "a%c@x").outcome == "store"  # `_` even matches a literal %
    assert trace_inbound(db, admin, "ac@x").outcome == "no-match"
    assert trace_inbound(db, admin, "abbc@x").outcome == "no-match"


def test_parse_path_strips_brackets_and_spaces() -> None:
    assert parse_path("  <a@b>  ") == "a@b"
    assert parse_path("<>") == ""
    assert parse_path("a@b") == "a@b"


# --- RCPT decisions -----------------------------------------------------------------------------


def test_no_match_replies(empty_db: Database, admin: Session) -> None:
    remote = trace_inbound(empty_db, admin, "someone@remote.example")
    assert (remote.outcome, remote.reply, remote.failed) == ("no-match", "551 Unknown user", True)
    assert "authenticated" in remote.reason
    local = trace_inbound(empty_db, admin, "foolocal")
    assert local.reply == "551 Non-local paths need domain part"


def test_reject_replies_at_rcpt(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, rules=[(1, "a@x", "reject", "Nope."), (2, "b@x", "reject", None)])
    assert trace_inbound(db, admin, "a@x").reply == "551 Nope."
    silent = trace_inbound(db, admin, "b@x")
    assert (silent.outcome, silent.reply) == ("reject", "551 User does not accept mail")


def test_drop_and_unknown_router(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, rules=[(1, "a@x", "drop", None), (2, "b@x", "Store", "u")])
    dropped = trace_inbound(db, admin, "a@x")
    assert (dropped.outcome, dropped.failed) == ("drop", False)
    unknown = trace_inbound(db, admin, "b@x")
    assert (unknown.outcome, unknown.failed, unknown.reply) == ("drop", True, "250 at RCPT")
    assert "Unknown router 'Store'" in unknown.reason


def test_store_to_missing_user_fails_with_554(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, users=["Alice"], rules=[(1, "a@x", "store", "alice")])
    trace = trace_inbound(db, admin, "a@x")
    assert (trace.outcome, trace.target, trace.failed) == ("store", "alice", True)
    assert trace.reply.endswith("554 after DATA")
    assert trace.hops[0].mailbox.exists is False
    assert any("'Alice' exists" in note for note in trace.hops[0].notes)


def test_store_without_route_warns_of_the_crash(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, rules=[(1, "a@x", "store", None)])
    trace = trace_inbound(db, admin, "a@x")
    assert trace.failed and "crashes cmail-smtpd" in trace.hops[0].notes[0]


def test_store_reports_mailbox_state(empty_path: Path, userdb_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        users=[("good", PW, str(userdb_path)), ("gone", PW, "/nonexistent/u.db3"), ("nopw", None)],
        rules=[
            (1, "g@x", "store", "good"),
            (2, "h@x", "store", "gone"),
            (3, "n@x", "store", "nopw"),
        ],
        popd=[("good", 1), ("nopw", 0)],
    )
    good = trace_inbound(db, admin, "g@x").hops[0]
    assert good.mailbox.database_problem is None and good.mailbox.pop_locked
    assert any("user database" in n for n in good.notes)
    assert any("locked" in n for n in good.notes)
    gone = trace_inbound(db, admin, "h@x").hops[0]
    assert gone.mailbox.database_problem == "does not exist"
    assert any("will not start" in n for n in gone.notes)
    nopw = trace_inbound(db, admin, "n@x").hops[0]
    assert any("cannot log in" in n for n in nopw.notes)


def test_store_flags_what_set_user_database_refuses(
    empty_path: Path, tmp_path: Path, admin: Session
) -> None:
    """The master itself and a mailbox smtpd cannot fill: smtpd starts, but neither works."""
    strict = tmp_path / "strict.db3"
    con = sqlite3.connect(strict)
    con.execute(
        "CREATE TABLE mailbox (mail_id INTEGER PRIMARY KEY, mail_user, mail_ident, "
        "mail_envelopeto, mail_envelopefrom, mail_submission, mail_submitter, mail_proto, "
        "mail_data, mail_flag TEXT NOT NULL)"
    )
    con.close()
    db = build(
        empty_path,
        users=[("self", PW, str(empty_path)), ("strict", PW, str(strict))],
        rules=[(1, "s@x", "store", "self"), (2, "t@x", "store", "strict")],
    )
    itself = trace_inbound(db, admin, "s@x").hops[0]
    assert itself.mailbox.database_problem == (
        "is the master database itself (a user database must be a separate file)"
    )
    assert f"The user database {empty_path} is the master database itself" in itself.notes[0]
    assert not any("will not start" in n for n in itself.notes)
    filled = trace_inbound(db, admin, "t@x").hops[0]
    assert "requires mail_flag, which cmail-smtpd never fills" in filled.notes[0]
    assert not any("will not start" in n for n in filled.notes)


def test_handoff(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        rules=[
            (1, "a@x", "handoff", "relay.example:587/starttls"),
            (2, "b@x", "handoff", "h:99999"),
        ],
    )
    ok = trace_inbound(db, admin, "a@x")
    assert (ok.outcome, ok.target, ok.failed) == ("handoff", "relay.example:587/starttls", False)
    bad = trace_inbound(db, admin, "b@x")
    assert bad.failed and "skips this remote" in bad.reason


# --- §3.5: redirect placeholders ----------------------------------------------------------------

PIPES = "(from-local)|(from-domain)|(to-local)|(to-domain)"


@pytest.mark.parametrize(
    ("route", "sender", "recipient", "expected"),
    [
        (PIPES, "snd@from.dom", "foo@bar.baz", "snd|from.dom|foo|bar.baz"),
        # The reference prints `|||foo|bar.baz`, one `|` more than this route has; route.c's
        # replacement (simulated byte for byte) yields three separators with empty senders.
        (PIPES, "", "foo@bar.baz", "||foo|bar.baz"),
        (PIPES, "snd@from.dom", "foolocal", "snd|@from.dom|foolocal|"),  # the from-domain bug
        (
            "(from-local)-(from-domain)-(to-local)@(to-domain)",
            "reject@frob.narf",
            "foo@bar.baz",
            "reject-frob.narf-foo@bar.baz",
        ),
        ("(from-local)-(from-domain)-(to-local)-(to-domain)", "", "test", "--test-"),
    ],
)
def test_placeholder_expansion(route: str, sender: str, recipient: str, expected: str) -> None:
    assert expand_redirect(route, recipient, sender).target == expected


def test_from_domain_bug_is_explained() -> None:
    notes = expand_redirect(PIPES, "foolocal", "snd@from.dom").notes
    assert any("keeps the @" in n for n in notes)
    assert any("past the end" in n for n in expand_redirect(PIPES, "a@b", "snd").notes)


def test_expansion_over_299_bytes_fails(empty_path: Path, admin: Session) -> None:
    recipient = "a" * 297 + "@y"  # 299 bytes, the longest path smtpd keeps
    assert expand_redirect("(to-local)@x", recipient, "").target == "a" * 297 + "@x"  # 299 bytes
    assert expand_redirect("(to-local)@xx", recipient, "").target is None  # 300 bytes
    db = build(empty_path, rules=[(1, "%@y", "redirect", "(to-local)(to-local)@x")])
    trace = trace_inbound(db, admin, "b" * 160 + "@y")
    assert (trace.outcome, trace.target, trace.failed) == ("redirect", None, True)
    assert trace.hops[0].reply.endswith("554 after DATA")


def test_redirect_is_traced_while_local(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        users=["reject"],
        rules=[
            (1, "%@bar.baz", "redirect", "(from-local)-(from-domain)-(to-local)@(to-domain)"),
            (2, "reject-frob.narf-foo@bar.baz", "store", "reject"),
        ],
    )
    trace = trace_inbound(db, admin, "foo@bar.baz", "<reject@frob.narf>")
    assert [h.address for h in trace.hops] == ["foo@bar.baz", "reject-frob.narf-foo@bar.baz"]
    assert (trace.outcome, trace.target, trace.sender) == ("store", "reject", "reject@frob.narf")
    assert any("via MX" in n for n in trace.hops[0].notes)  # queued, even though it is local


def test_redirect_leaving_the_server(sample_db: Database, admin: Session) -> None:
    trace = trace_inbound(sample_db, admin, "spam@kitinfo.de")
    assert (trace.outcome, trace.target, trace.failed) == ("redirect", "foo@foo.net", False)
    assert len(trace.hops) == 1 and "MX" in trace.reason


def test_redirect_loop(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        rules=[(1, "ping@x", "redirect", "pong@x"), (2, "pong@x", "redirect", "<ping@x>")],
    )
    trace = trace_inbound(db, admin, "ping@x")
    assert (trace.outcome, trace.failed) == ("loop", True)
    assert [h.address for h in trace.hops] == ["ping@x", "pong@x"]


def test_growing_redirects_stop_after_20_hops(empty_path: Path, admin: Session) -> None:
    db = build(empty_path, rules=[(1, "%@x", "redirect", "a(to-local)@x")])
    trace = trace_inbound(db, admin, "b@x")
    assert (trace.outcome, len(trace.hops)) == ("loop", 20)
    assert "20" in trace.reason


# --- the sample database (§9) -------------------------------------------------------------------


def test_sample_catch_all_shadows_t_t(sample_db: Database, admin: Session) -> None:
    trace = trace_inbound(sample_db, admin, "test@kitinfo.de", "snd@from.dom")
    hop = trace.hops[0]
    assert hop.rule.order == 102 and orders(hop.shadowed) == [100]
    assert hop.target == "snd.at.from.dom.to.test.at.kitinfo.de"
    assert trace.failed and "no domain" in trace.reason


def test_sample_store_to_alias(sample_db: Database, admin: Session) -> None:
    trace = trace_inbound(sample_db, admin, "cdbev@kitinfo.de")
    assert (trace.outcome, trace.target) == ("store", "cdbev")
    assert trace.hops[0].mailbox.alias_of == "cbdev"
    assert "nobody can read it via POP" in trace.reason


@pytest.mark.parametrize("address", ["a1@alias-test", "a2@alias-test", "cbdev@kitinfo.de", "x@y"])
def test_sample_a1_cannot_send_as_anything(
    sample_db: Database, admin: Session, address: str
) -> None:
    trace = trace_outbound(sample_db, admin, "a1", address)
    assert (trace.allowed, trace.identity, trace.router) == (False, "a2", "defined")
    assert trace.reason.startswith("551 User not allowed to use this path")
    assert any("only one level" in n for n in trace.notes)


@pytest.mark.parametrize("address", ["a2@alias-test", "anyone@elsewhere.example", "<>"])
def test_sample_a2_can_send_as_anyone(sample_db: Database, admin: Session, address: str) -> None:
    trace = trace_outbound(sample_db, admin, "a2", address)
    assert (trace.allowed, trace.identity, trace.router) == (True, "a3", "any")


def test_sample_alias_sends_with_its_targets_rows(sample_db: Database, admin: Session) -> None:
    trace = trace_outbound(sample_db, admin, "cdbev", "CBDEV@KITINFO.DE")
    assert (trace.allowed, trace.identity, trace.rule.order) == (True, "cbdev", 201)
    assert any("smtpd entry of cdbev itself is ignored" in n for n in trace.notes)


def test_sample_no_login_and_reject(sample_db: Database, admin: Session) -> None:
    trace = trace_outbound(sample_db, admin, "postmaster", "postmaster@kitinfo.de")
    assert not trace.allowed and "cannot log in" in trace.reason and "reject" in trace.reason
    with pytest.raises(NotFound):
        trace_outbound(sample_db, admin, "nobody", "x@y")


# --- §4.3: `defined` walks every matching row ---------------------------------------------------


def test_defined_accepts_a_shadowed_store_row(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        users=["cbdev", "user2"],
        rules=[
            (1, "shadow%@local.test", "store", "cbdev"),
            (127, "shadowed@local.test", "store", "user2"),
        ],
        smtpd=[("cbdev", "defined", None), ("user2", "defined", None)],
    )
    trace = trace_outbound(db, admin, "cbdev", "shadowed@local.test")
    assert (trace.allowed, trace.rule.order) == (True, 1)
    assert any("still counts for defined" in n for n in trace.notes)
    assert trace_outbound(db, admin, "user2", "shadowed@local.test").rule.order == 127
    refused = trace_outbound(db, admin, "user2", "shadowless@local.test")
    assert not refused.allowed and refused.rule is None
    # The null sender matches only `%`, and no rule here is `%`.
    assert not trace_outbound(db, admin, "cbdev", "<>").allowed


def test_defined_is_case_insensitive_and_exact_on_identity(
    empty_path: Path, admin: Session
) -> None:
    db = build(
        empty_path,
        users=["cb", "CB"],
        rules=[(1, "cb@local.test", "store", "cb")],
        smtpd=[("cb", "defined", None), ("CB", "defined", None)],
    )
    assert trace_outbound(db, admin, "cb", "CB@LOCAL.TEST").allowed
    assert not trace_outbound(db, admin, "CB", "cb@local.test").allowed


def test_null_store_route_before_the_match_crashes_smtpd(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        users=["u"],
        rules=[(1, "u@x", "store", "u"), (2, "%@x", "store", None)],
        smtpd=[("u", "any", None)],
    )
    trace = trace_outbound(db, admin, "u", "u@x")
    assert not trace.allowed and "crashes" in trace.reason
    assert any("#2 %@x" in n and "crashes" in n for n in trace.notes)


def test_outbound_routers(empty_path: Path, admin: Session) -> None:
    db = build(
        empty_path,
        users=["n", "r", "h", "d", "f"],
        smtpd=[
            ("r", "reject", "Go away"),
            ("h", "handoff", "relay.example"),
            ("d", "drop", None),
            ("f", "frobnicate", None),
        ],
    )
    assert trace_outbound(db, admin, "n", "n@x").reason.endswith("n has no smtpd entry.")
    assert trace_outbound(db, admin, "r", "r@x").reason.startswith("551 Go away")
    assert trace_outbound(db, admin, "h", "h@x").allowed
    assert trace_outbound(db, admin, "d", "d@x").allowed
    unknown = trace_outbound(db, admin, "f", "f@x")
    assert unknown.allowed and "treated like any" in unknown.reason


# --- rights -------------------------------------------------------------------------------------


@pytest.fixture
def delegated(empty_path: Path) -> Database:
    return build(
        empty_path,
        users=["boss", "mine", "other", "dele", "plain"],
        rules=[
            (1, "%@corp.example", "store", "mine"),
            (2, "plain@corp.example", "store", "plain"),
            (3, "secret@corp.example", "store", "other"),
            (50, "vip@corp.example", "redirect", "vip@outside.example"),
            (60, "vip@outside.example", "store", "other"),
            (99, "%corp.example", "store", "other"),
        ],
        smtpd=[("mine", "any", None), ("other", "any", None)],
        rights=[("dele", "delegate"), ("boss", "admin")],
        scopes=[("dele", "%@corp.example")],
    )


def test_delegate_sees_a_hidden_winner_only_as_such(delegated: Database) -> None:
    session = Session("dele", Role.DELEGATE)
    with sqlite3.connect(Path(delegated.path)) as con:
        con.execute("INSERT INTO api_user_delegates VALUES ('dele', 'mine')")
    trace = trace_inbound(delegated, session, "anyone@corp.example")
    hop = trace.hops[0]
    assert (trace.outcome, hop.hidden, hop.rule, hop.target) == ("hidden", True, None, None)
    assert "other" not in str(trace)  # neither the hidden rule's route nor its expression
    assert orders(hop.shadowed) == [1]


def test_delegate_trace_stays_inside_its_delegation(delegated: Database) -> None:
    session = Session("dele", Role.DELEGATE)
    with sqlite3.connect(Path(delegated.path)) as con:
        con.execute("DELETE FROM addresses WHERE address_order = 99")
    trace = trace_inbound(delegated, session, "vip@corp.example")
    assert (trace.outcome, trace.target, len(trace.hops)) == ("redirect", "vip@outside.example", 1)
    assert "outside what you may trace" in trace.reason
    with pytest.raises(Denied):
        trace_inbound(delegated, session, "vip@outside.example")


def test_plain_user_traces_only_its_own_mailbox(delegated: Database) -> None:
    session = Session("plain", Role.USER)
    with pytest.raises(Denied):  # #99 `%corp.example` stores plain's address to `other`
        trace_inbound(delegated, session, "plain@corp.example")
    with sqlite3.connect(Path(delegated.path)) as con:
        con.execute("DELETE FROM addresses WHERE address_order = 99")
    trace = trace_inbound(delegated, session, "plain@corp.example")
    assert (trace.outcome, trace.target) == ("store", "plain")
    assert trace.hops[0].shadowed == ()  # the catch-all to `mine` is not plain's to see
    with pytest.raises(Denied):
        trace_inbound(delegated, session, "secret@corp.example")
    with pytest.raises(Denied):
        trace_outbound(delegated, session, "other", "x@corp.example")
    assert trace_outbound(delegated, session, "plain", "x@y").reason.endswith("no smtpd entry.")


def test_delegate_traces_sending_of_managed_users_only(delegated: Database) -> None:
    with sqlite3.connect(Path(delegated.path)) as con:
        con.execute("INSERT INTO api_user_delegates VALUES ('dele', 'mine')")
    session = Session("dele", Role.DELEGATE)
    assert trace_outbound(delegated, session, "mine", "x@y").allowed
    with pytest.raises(Denied):
        trace_outbound(delegated, session, "other", "x@y")
