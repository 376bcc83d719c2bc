"""The address service: routing order, validation, rights per role, reorder previews."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core import passwords, patterns
from core.access import Role, Session
from core.db import Database
from core.errors import Conflict, Denied, Invalid, NotFound
from core.models import Address, DelegatedExpression, DelegatedUser, Permission, User
from core.services import addresses
from core.services.addresses import SHADOWED_BY, SHADOWS, STOPS_SHADOWING, UNSHADOWED_BY

SAMPLE_ORDERS = [206, 205, 204, 203, 202, 201, 200, 102, 100, 47, 46, 45, 4, 2, 1]


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT address_order, address_expression, address_router, address_route "
            "FROM addresses ORDER BY address_order DESC"
        ).fetchall()


def row(path: Path, order: int) -> tuple | None:
    return next((r for r in rows(path) if r[0] == order), None)


def unchanged(path: Path, before: bytes) -> bool:
    return path.read_bytes() == before


@pytest.fixture
def scoped(sample_db: Database) -> Database:
    """Two delegates on the sample: `dele` (expression %@example.com, manages alice) and
    `undy` (expression _@example.com, manages carol); `bob` is nobody's; `plain` has no rights."""
    with sample_db.write():
        for name in ("dele", "undy", "alice", "bob", "carol", "plain"):
            User.insert(name=name, authdata=passwords.hash_password(name)).execute()
        Permission.insert_many(
            [{"user": "dele", "permission": "delegate"}, {"user": "undy", "permission": "delegate"}]
        ).execute()
        DelegatedExpression.insert_many(
            [
                {"user": "dele", "expression": "%@example.com"},
                {"user": "undy", "expression": "_@example.com"},
            ]
        ).execute()
        DelegatedUser.insert_many(
            [{"user": "dele", "delegate": "alice"}, {"user": "undy", "delegate": "carol"}]
        ).execute()
        Address.insert_many(
            [
                {"order": 300, "expression": "boss@example.com", "router": "store", "route": "bob"},
                {
                    "order": 301,
                    "expression": "alice@other.org",
                    "router": "store",
                    "route": "alice",
                },
                {
                    "order": 302,
                    "expression": "plain@other.org",
                    "router": "store",
                    "route": "plain",
                },
                {"order": 303, "expression": "a@example.com", "router": "drop", "route": None},
            ]
        ).execute()
    return sample_db


def dele() -> Session:
    return Session(user="dele", role=Role.DELEGATE)


def undy() -> Session:
    return Session(user="undy", role=Role.DELEGATE)


# --- reading --------------------------------------------------------------------------------
def test_list_is_in_routing_order_and_pages_by_order(sample_db, admin):
    first = addresses.list_rules(sample_db, admin, limit=4)
    assert [r.order for r in first.rows] == SAMPLE_ORDERS[:4]
    assert first.has_more and first.cursor == 203
    rest = addresses.list_rules(sample_db, admin, after=first.cursor, limit=100)
    assert [r.order for r in rest.rows] == SAMPLE_ORDERS[4:]
    assert not rest.has_more


def test_list_pattern_is_like_on_expressions_and_search_is_literal(sample_db, admin):
    kitinfo = addresses.list_rules(sample_db, admin, "%KITINFO.de")
    assert [r.order for r in kitinfo.rows] == [206, 204, 203, 202, 201, 200, 102, 100]
    assert [r.order for r in addresses.list_rules(sample_db, admin, "cbdev").rows] == []
    mpease = addresses.list_rules(sample_db, admin, search="mpease")
    assert [r.order for r in mpease.rows] == [203, 100]  # expression or route
    literal = addresses.list_rules(sample_db, admin, search="%@")
    assert [r.order for r in literal.rows] == [102, 4, 2]


def test_delegate_sees_its_expressions_and_its_users_store_rules(scoped, monkeypatch):
    monkeypatch.setattr(addresses, "_BATCH", 2)  # force several filtered batches
    seen = addresses.list_rules(scoped, dele(), limit=2)
    assert [r.order for r in seen.rows] == [303, 301]
    more = addresses.list_rules(scoped, dele(), after=seen.cursor, limit=2)
    assert [r.order for r in more.rows] == [300]
    assert not more.has_more
    # _@example.com contains a@example.com but not boss@example.com.
    assert [r.order for r in addresses.list_rules(scoped, undy()).rows] == [303]


def test_plain_user_sees_only_store_rules_routed_to_them(scoped):
    plain = Session(user="plain", role=Role.USER)
    assert [r.order for r in addresses.list_rules(scoped, plain).rows] == [302]
    with pytest.raises(Denied):
        addresses.get_rule(scoped, plain, 303)


def test_get_rule(scoped, admin):
    assert addresses.get_rule(scoped, admin, "100") == addresses.AddressRule(
        100, "t%t@kitinfo.de", "store", "mpease"
    )
    assert addresses.get_rule(scoped, dele(), 301).route == "alice"
    with pytest.raises(NotFound):
        addresses.get_rule(scoped, admin, 999)
    with pytest.raises(Denied):
        addresses.get_rule(scoped, dele(), 201)


def test_matching_rules_is_smtpds_query_winner_first(scoped, admin):
    assert [r.order for r in addresses.matching_rules(scoped, admin, "TT@KitInfo.DE")] == [102, 100]
    assert [r.order for r in addresses.matching_rules(scoped, admin, "nobody@nowhere")] == []
    # The delegate sees only its own matches; a literal % is tested as cmail-admin does.
    assert [r.order for r in addresses.matching_rules(scoped, dele(), "a@example.com")] == [303]
    assert addresses.matching_rules(scoped, admin, "%") == []


# --- adding ---------------------------------------------------------------------------------
def test_auto_order_is_max_plus_one_honouring_sqlite_sequence(sample_db, sample_path, admin):
    change = addresses.add_rule(sample_db, admin, "new@kitinfo.de", "store", "mpease")
    assert row(sample_path, 207) == (207, "new@kitinfo.de", "store", "mpease")
    assert "takes priority over every existing rule" in change.message
    # Deleting the top row does not give its order back: AUTOINCREMENT remembers 207.
    addresses.delete_rule(sample_db, admin, 207)
    addresses.add_rule(sample_db, admin, "again@kitinfo.de", "drop")
    assert row(sample_path, 208) is not None and row(sample_path, 207) is None


def test_auto_order_on_an_empty_database(empty_db, empty_path, admin):
    addresses.add_rule(empty_db, admin, "%", "reject", "closed")
    assert rows(empty_path) == [(1, "%", "reject", "closed")]


def test_auto_add_reports_what_it_shadows(sample_db, admin):
    change = addresses.add_rule(sample_db, admin, "t%@kitinfo.de", "drop")
    shadowed = {s["other"]: s for s in change.data["shifts"] if s["effect"] == SHADOWS}
    assert 100 in shadowed  # the sample's t%t@kitinfo.de
    assert shadowed[100]["example"] == "tt@kitinfo.de"
    assert shadowed[100]["before"] == 102 and shadowed[100]["after"] == 207
    assert any("rule 100 (t%t@kitinfo.de)" in w and "shadows" in w for w in change.warnings)
    # It overlaps the catch-all without containing it: its share is taken over.
    assert {s["other"]: s["effect"] for s in change.data["shifts"]}[102] == "takes-overlap"


def test_explicit_order_below_a_wider_rule_is_reported_as_dead(sample_db, sample_path, admin):
    change = addresses.add_rule(sample_db, admin, "x@kitinfo.de", "store", "cbdev", "101")
    assert row(sample_path, 101) == (101, "x@kitinfo.de", "store", "cbdev")
    assert "takes priority" not in change.message
    assert [(s["other"], s["effect"]) for s in change.data["shifts"]] == [(102, SHADOWED_BY)]


def test_duplicate_order_is_a_conflict_naming_the_rule(sample_db, sample_path, admin):
    before = sample_path.read_bytes()
    with pytest.raises(Conflict, match=r"201 \(cbdev@kitinfo\.de\)"):
        addresses.add_rule(sample_db, admin, "x@y.z", "drop", None, 201)
    assert unchanged(sample_path, before)


def test_warnings_on_duplicate_expression_underscore_alias_and_no_login(sample_db, admin):
    duplicate = addresses.add_rule(sample_db, admin, "CBDEV@kitinfo.de", "store", "cbdev")
    assert any("exactly the same addresses as rule 201" in w for w in duplicate.warnings)
    underscore = addresses.add_rule(sample_db, admin, "first_last@x.org", "store", "cdbev")
    assert any("contains _" in w for w in underscore.warnings)
    assert any("cdbev is an alias of cbdev" in w for w in underscore.warnings)
    nologin = addresses.add_rule(sample_db, admin, "f@x.org", "store", "foomatic")
    assert any("foomatic has no login" in w for w in nologin.warnings)


def test_empty_route_is_null_and_drop_route_is_not_stored(sample_db, sample_path, admin):
    addresses.add_rule(sample_db, admin, "r@x.org", "reject", "")
    change = addresses.add_rule(sample_db, admin, "d@x.org", "drop", "ignored")
    assert row(sample_path, 207) == (207, "r@x.org", "reject", None)
    assert row(sample_path, 208) == (208, "d@x.org", "drop", None)
    assert any("ignores its route" in w for w in change.warnings)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("x@y.z", "Store", "cbdev"), "router"),
        (("x@y.z", "frobnicate"), "router"),
        (("x@y.z", "store"), "route"),
        (("x@y.z", "store", ""), "route"),
        (("x@y.z", "store", "nobody"), "route"),
        (("x@y.z", "store", "CBDEV"), "route"),
        (("x@y.z", "redirect"), "route"),
        (("x@y.z", "redirect", "(to-user)@y.z"), "route"),
        (("x@y.z", "handoff", "x"), "route"),
        (("x@y.z", "handoff", "host:99999"), "route"),
        (("", "drop"), "expression"),
        (("a\x1bb@y.z", "drop"), "expression"),
        (("a" * 300, "drop"), "expression"),
        (("x@y.z", "drop", None, "abc"), "order"),
        (("x@y.z", "drop", None, 2**63), "order"),
    ],
)
def test_invalid_input_is_refused_and_nothing_changes(sample_db, sample_path, admin, args, field):
    before = sample_path.read_bytes()
    with pytest.raises(Invalid) as refused:
        addresses.add_rule(sample_db, admin, *args)
    assert refused.value.field == field
    assert unchanged(sample_path, before)


def test_wrong_case_store_target_gets_a_hint(sample_db, admin):
    with pytest.raises(Invalid, match="did you mean 'cbdev'"):
        addresses.add_rule(sample_db, admin, "x@y.z", "store", "CBDEV")


# --- delegates ------------------------------------------------------------------------------
def test_underscore_delegation_cannot_create_a_wider_expression(scoped, sample_path):
    before = sample_path.read_bytes()
    for wider in ("%@example.com", "__@example.com", "%"):
        with pytest.raises(Denied):
            addresses.add_rule(scoped, undy(), wider, "store", "carol")
    assert unchanged(sample_path, before)
    addresses.add_rule(scoped, undy(), "b@example.com", "store", "carol")
    assert row(sample_path, 304) == (304, "b@example.com", "store", "carol")


def test_delegate_adds_inside_its_expression_to_its_users_only(scoped, sample_path):
    addresses.add_rule(scoped, dele(), "al@example.com", "store", "alice")
    addresses.add_rule(scoped, dele(), "me@example.com", "store", "dele")
    before = sample_path.read_bytes()
    with pytest.raises(Denied, match="bob"):
        addresses.add_rule(scoped, dele(), "b@example.com", "store", "bob")
    with pytest.raises(Denied):
        addresses.add_rule(scoped, dele(), "x@kitinfo.de", "drop")
    assert unchanged(sample_path, before)
    assert [r[0] for r in rows(sample_path)[:2]] == [305, 304]


def test_delegate_cannot_update_or_delete_a_row_outside_even_into_its_scope(scoped, sample_path):
    """B-A8: the stored row is authorised, not only the new expression."""
    before = sample_path.read_bytes()
    with pytest.raises(Denied, match="rule 201"):
        addresses.update_rule(scoped, dele(), 201, "drop", expression="z@example.com")
    with pytest.raises(Denied):
        addresses.update_rule(scoped, dele(), 301, "store", "alice")  # visible, not writable
    with pytest.raises(Denied):
        addresses.delete_rule(scoped, dele(), 201)
    with pytest.raises(Denied):
        addresses.update_rule(scoped, dele(), 303, "drop", expression="a@kitinfo.de")
    assert unchanged(sample_path, before)
    addresses.update_rule(scoped, dele(), 303, "store", "alice", expression="a2@example.com")
    assert row(sample_path, 303) == (303, "a2@example.com", "store", "alice")


def test_delegate_swap_checks_both_rows(scoped, sample_path):
    """B-A10: both rows must be writable, in either argument order."""
    before = sample_path.read_bytes()
    for a, b in ((303, 201), (201, 303)):
        with pytest.raises(Denied):
            addresses.swap_rules(scoped, dele(), a, b)
    with pytest.raises(Denied):
        addresses.step_rule(scoped, dele(), 300, "down")  # the neighbour below is 206
    with pytest.raises(Denied):
        addresses.reorder_preview(scoped, dele(), 303, 201)
    assert unchanged(sample_path, before)
    addresses.swap_rules(scoped, dele(), 303, 300)
    assert row(sample_path, 300)[1] == "a@example.com"
    assert row(sample_path, 303)[1] == "boss@example.com"


def test_refusing_a_swap_does_not_reveal_a_hidden_rule(scoped):
    with pytest.raises(Denied) as refused:
        addresses.swap_rules(scoped, dele(), 303, 201)  # 201 cbdev@kitinfo.de: not visible
    assert "201" in str(refused.value) and "cbdev" not in str(refused.value)


def test_delegate_move_conflict_does_not_reveal_hidden_rule(scoped):
    with pytest.raises(Conflict, match="one you may not see") as refused:
        addresses.move_rule(scoped, dele(), 303, 201)
    assert "cbdev" not in str(refused.value)


# --- updating and deleting ------------------------------------------------------------------
def test_update_sets_router_and_route_and_omitted_route_is_null(sample_db, sample_path, admin):
    change = addresses.update_rule(sample_db, admin, 205, "reject")
    assert row(sample_path, 205) == (205, "spam@cbcdn.com", "reject", None)
    assert "was redirect to foo@foo.net" in change.message
    before = sample_path.read_bytes()
    with pytest.raises(Invalid):
        addresses.update_rule(sample_db, admin, 205, "store")
    with pytest.raises(NotFound):
        addresses.update_rule(sample_db, admin, 999, "drop")
    assert unchanged(sample_path, before)


def test_update_expression_reports_new_shadowing(sample_db, sample_path, admin):
    change = addresses.update_rule(sample_db, admin, 206, "drop", expression="%t@kitinfo.de")
    assert row(sample_path, 206) == (206, "%t@kitinfo.de", "drop", None)
    assert (100, SHADOWS) in [(s["other"], s["effect"]) for s in change.data["shifts"]]


def test_removing_the_last_store_rule_of_a_defined_sender_warns(sample_db, admin):
    # cbdev has smtpd `defined` and store rules 201 and 2: removing one of them is fine.
    assert not any(
        "no longer send" in w for w in addresses.delete_rule(sample_db, admin, 201).warnings
    )
    change = addresses.update_rule(sample_db, admin, 2, "drop")
    assert any("cbdev can no longer send from any address" in w for w in change.warnings)


def test_delete_of_the_catch_all_gives_t_t_its_mail_back(sample_db, sample_path, admin):
    change = addresses.delete_rule(sample_db, admin, "102")
    assert row(sample_path, 102) is None
    shifts = {s["other"]: s for s in change.data["shifts"]}
    assert shifts[100]["effect"] == STOPS_SHADOWING
    assert shifts[100]["after"] == 100
    with pytest.raises(NotFound):
        addresses.delete_rule(sample_db, admin, 102)


# --- reordering -----------------------------------------------------------------------------
def test_swap_exchanges_orders_atomically(sample_db, sample_path, admin):
    table = rows(sample_path)
    addresses.swap_rules(sample_db, admin, 100, 102)
    assert row(sample_path, 100)[1:] == ("%@kitinfo.de", "redirect", table[7][3])
    assert row(sample_path, 102)[1:] == ("t%t@kitinfo.de", "store", "mpease")
    assert len(rows(sample_path)) == len(table)


def test_swap_failing_midway_leaves_the_table_unchanged(sample_db, sample_path, admin, monkeypatch):
    before = sample_path.read_bytes()
    real = addresses._set_order
    calls = []

    def failing(old: int, new: int) -> None:
        calls.append((old, new))
        if len(calls) == 3:
            raise Conflict("simulated failure")
        real(old, new)

    monkeypatch.setattr(addresses, "_set_order", failing)
    with pytest.raises(Conflict, match="simulated"):
        addresses.swap_rules(sample_db, admin, 1, 206)
    assert unchanged(sample_path, before)


def test_swap_with_a_missing_rule(sample_db, sample_path, admin):
    before = sample_path.read_bytes()
    with pytest.raises(NotFound):
        addresses.swap_rules(sample_db, admin, 100, 103)
    with pytest.raises(NotFound):
        addresses.swap_rules(sample_db, admin, 999, 100)
    with pytest.raises(Invalid):
        addresses.swap_rules(sample_db, admin, 100, 100)
    assert unchanged(sample_path, before)
    # cmail-admin's quirk, on request: a free second order moves the rule there.
    change = addresses.swap_rules(sample_db, admin, 100, 103, move_if_free=True)
    assert row(sample_path, 103)[1] == "t%t@kitinfo.de" and row(sample_path, 100) is None
    assert "Moved rule 100" in change.message


def test_move_preview_reports_t_t_no_longer_shadowed(sample_db, sample_path, admin):
    before = sample_path.read_bytes()
    preview = addresses.reorder_preview(sample_db, admin, 100, 103)
    assert unchanged(sample_path, before)
    assert preview.kind == "move" and preview.partner is None
    [shift] = preview.shifts
    assert (shift.other, shift.effect) == (102, UNSHADOWED_BY)
    assert (shift.example, shift.before, shift.after) == ("tt@kitinfo.de", 102, 103)
    assert shift.changes_destination
    assert "store for mpease" in preview.sentences[0]
    change = addresses.move_rule(sample_db, admin, 100, 103)
    assert row(sample_path, 103) == (103, "t%t@kitinfo.de", "store", "mpease")
    assert change.warnings == preview.sentences


def test_moving_the_catch_all_down_stops_shadowing(sample_db, admin):
    preview = addresses.reorder_preview(sample_db, admin, 102, "99")
    assert [(s.other, s.effect) for s in preview.shifts] == [(100, STOPS_SHADOWING)]


def test_move_refusals_leave_the_table_unchanged(sample_db, sample_path, admin):
    before = sample_path.read_bytes()
    with pytest.raises(Conflict, match=r"rule 201 \(cbdev@kitinfo\.de\)"):
        addresses.move_rule(sample_db, admin, 100, 201)
    with pytest.raises(Conflict):
        addresses.move_rule(sample_db, admin, 100, 100)
    with pytest.raises(Invalid) as refused:
        addresses.move_rule(sample_db, admin, 100, "up")
    assert refused.value.field == "new order"
    assert unchanged(sample_path, before)


def test_step_swaps_with_the_neighbour_in_the_whole_table(sample_db, sample_path, admin):
    preview = addresses.reorder_preview(sample_db, admin, 100, "up")
    assert preview.kind == "swap" and preview.partner.order == 102
    addresses.step_rule(sample_db, admin, 100, "up")
    assert row(sample_path, 102)[1] == "t%t@kitinfo.de"
    addresses.step_rule(sample_db, admin, 102, "down")
    assert row(sample_path, 100)[1] == "t%t@kitinfo.de"
    before = sample_path.read_bytes()
    with pytest.raises(Conflict, match="highest"):
        addresses.step_rule(sample_db, admin, 206, "up")
    with pytest.raises(Conflict, match="lowest"):
        addresses.step_rule(sample_db, admin, 1, "down")
    with pytest.raises(Invalid):
        addresses.step_rule(sample_db, admin, 100, "sideways")
    assert unchanged(sample_path, before)


# --- the SQL prefilter behind the analysis --------------------------------------------------
def test_overlap_prefilter_never_misses_an_overlapping_rule(empty_db):
    """Every pattern of up to 3 characters over a, A, b, %, _ against every other: the SQL
    candidates must include every rule that really shares an address (exact for literals)."""
    alphabet = "aAb%_"
    shapes = [""]
    for _ in range(3):
        shapes = [s + c for s in shapes for c in alphabet] + shapes
    expressions = sorted({s for s in shapes if s})
    with empty_db.write():
        Address.insert_many([{"expression": e, "router": "drop"} for e in expressions]).execute()
        for new in expressions:
            condition = addresses._may_overlap(new)
            query = Address.select(Address.expression)
            if condition is not None:
                query = query.where(condition)
            found = {e for (e,) in query.tuples()}
            truth = {e for e in expressions if patterns.overlaps(new, e)}
            assert truth <= found, new
            if not patterns.has_wildcards(new):
                assert found == truth, new


def test_analysis_is_bounded_and_says_so(sample_db, admin, monkeypatch):
    monkeypatch.setattr(addresses, "MAX_ANALYSED", 3)
    change = addresses.add_rule(sample_db, admin, "%", "reject", "closed")
    assert change.data["truncated"] is True
    assert [s["other"] for s in change.data["shifts"]] == [206, 205, 204]
    assert change.warnings[-1].startswith("More than 3 rules overlap it")
