"""`cmail-console lint`, `address trace` and `smtpd trace` on the command line."""

from __future__ import annotations

import json
import sqlite3
from io import StringIO
from pathlib import Path

import pytest

from cli import routing
from cli.context import Context
from cli.main import run
from core.db import Database
from core.errors import Invalid


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = run(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def context(path: Path, *, json_output: bool = False) -> Context:
    return Context(open_db=lambda: Database(str(path)), json=json_output, out=StringIO())


# --- lint ---------------------------------------------------------------------------------------


def test_lint_exits_1_on_errors(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "lint")
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("error") and "userdb-invalid" in lines[0]
    assert any("shadowed" in line and "#100" in line for line in lines)
    assert lines[-1].startswith("1 errors, 10 warnings, 5 notes in 15 rules and 14 users")


def test_lint_json(sample_path: Path) -> None:
    code, out, _ = cli("-d", str(sample_path), "--json", "lint")
    data = json.loads(out)
    assert code == 1
    assert data["counts"]["severity"] == {"error": 1, "warning": 10, "info": 5}
    assert data["counts"]["kind"]["shadowed"] == 1
    shadowed = next(f for f in data["findings"] if f["kind"] == "shadowed")
    assert shadowed["order"] == 100 and shadowed["severity"] == "warning"
    assert set(shadowed) == {"kind", "severity", "message", "order", "user"}


def test_lint_exits_0_without_errors(empty_path: Path) -> None:
    code, out, _ = cli("-d", str(empty_path), "lint")
    assert (code, out) == (0, "0 errors, 0 warnings, 0 notes in 0 rules and 0 users.\n")


def test_lint_refuses_non_admins_and_extra_arguments(
    sample_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "a3")
    code, out, err = cli("-d", str(sample_path), "--login", "a3", "lint")
    assert (code, out) == (4, "") and "may not lint" in err
    code, _, err = cli("-d", str(sample_path), "lint", "now")
    assert code == 2 and "usage: lint" in err


# --- address trace -------------------------------------------------------------------------------


def test_address_trace_human(sample_path: Path) -> None:
    ctx = context(sample_path)
    assert routing.address_trace(ctx, ["--from", "snd@from.dom", "test@kitinfo.de"]) == 0
    text = ctx.out.getvalue()
    assert text.startswith("Trace of <test@kitinfo.de> from <snd@from.dom>\n")
    assert "  #102 %@kitinfo.de → redirect (from-local).at." in text
    assert "    shadowed: #100 t%t@kitinfo.de → store mpease\n" in text
    assert "outcome: redirect → snd.at.from.dom.to.test.at.kitinfo.de\n" in text


def test_address_trace_json(sample_path: Path) -> None:
    ctx = context(sample_path, json_output=True)
    assert routing.address_trace(ctx, ["CDBEV@kitinfo.de"]) == 0
    data = json.loads(ctx.out.getvalue())
    assert {"recipient", "sender", "hops", "outcome", "target", "reason"} <= set(data)
    assert (data["outcome"], data["target"], data["sender"]) == ("store", "cdbev", None)
    hop = data["hops"][0]
    assert hop["rule"] == {
        "order": 202,
        "expression": "cdbev@kitinfo.de",
        "router": "store",
        "route": "cdbev",
    }
    assert [r["order"] for r in hop["shadowed"]] == [102]
    assert (hop["action"], hop["target"], hop["mailbox"]["alias_of"]) == ("store", "cdbev", "cbdev")


def test_address_trace_of_a_refused_address_still_exits_0(sample_path: Path) -> None:
    ctx = context(sample_path)
    assert routing.address_trace(ctx, ["nobody@nowhere.example"]) == 0
    assert "outcome: no-match\n" in ctx.out.getvalue()
    assert "551 Unknown user" in ctx.out.getvalue()


def test_address_trace_arguments(sample_path: Path) -> None:
    with pytest.raises(Invalid, match="needs a sender"):
        routing.address_trace(context(sample_path), ["a@b", "--from"])
    with pytest.raises(Invalid, match=r"usage: address trace"):
        routing.address_trace(context(sample_path), [])


def test_address_trace_prints_database_text_literally(empty_path: Path) -> None:

    with sqlite3.connect(empty_path) as con:
        con.execute("INSERT INTO addresses VALUES ('evil@x', 1, 'reject', 'no\x1b[2Jway')")
    ctx = context(empty_path)
    routing.address_trace(ctx, ["evil@x"])
    assert "\x1b" not in ctx.out.getvalue() and "551 no\\x1b[2Jway" in ctx.out.getvalue()


# --- smtpd trace ---------------------------------------------------------------------------------


def test_smtpd_trace_human(sample_path: Path) -> None:
    ctx = context(sample_path)
    assert routing.smtpd_trace(ctx, ["a1", "a1@alias-test"]) == 0
    text = ctx.out.getvalue()
    assert text.startswith("a1 logs in as a2\nsmtpd router of a2: defined\n")
    assert "a1 may NOT send as <a1@alias-test>: 551 User not allowed" in text


def test_smtpd_trace_json(sample_path: Path) -> None:
    ctx = context(sample_path, json_output=True)
    assert routing.smtpd_trace(ctx, ["cbdev", "cbdev@kitinfo.de"]) == 0
    data = json.loads(ctx.out.getvalue())
    assert {"user", "identity", "allowed", "router", "reason", "rule"} <= set(data)
    assert (data["user"], data["identity"], data["allowed"], data["router"]) == (
        "cbdev",
        "cbdev",
        True,
        "defined",
    )
    assert data["rule"]["order"] == 201


def test_smtpd_trace_arguments(sample_path: Path) -> None:
    with pytest.raises(Invalid, match=r"usage: smtpd trace <user> <address>"):
        routing.smtpd_trace(context(sample_path), ["a1"])


def test_trace_verbs_are_wired_into_address_and_smtpd(sample_path: Path) -> None:
    code, out, _ = cli("-d", str(sample_path), "address", "trace", "test@kitinfo.de", "--json")
    assert code == 0
    trace = json.loads(out)
    assert trace["outcome"] == "redirect"
    assert trace["hops"][0]["rule"]["order"] == 102
    assert [s["order"] for s in trace["hops"][0]["shadowed"]] == [100]

    code, out, _ = cli("-d", str(sample_path), "smtpd", "trace", "a2", "x@anywhere.org", "--json")
    assert code == 0
    verdict = json.loads(out)
    assert (verdict["allowed"], verdict["identity"]) == (True, "a3")
