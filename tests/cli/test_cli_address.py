"""`cmail-console address …`: cmail-admin-address's verbs, columns and argument order."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest

from cli.main import run
from core import passwords
from core.db import Database
from core.models import DelegatedExpression, Permission, User

CONSOLE = Path(sys.executable).parent / "cmail-console"
HEADER = "Order |                     Expression |     Router |             Argument"


def cli(path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = run(["-d", str(path), "address", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def rule(path: Path, order: int) -> tuple | None:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT address_expression, address_router, address_route FROM addresses "
            "WHERE address_order = ?",
            (order,),
        ).fetchone()


def test_list_prints_cmail_admin_columns(sample_path):
    code, out, _ = cli(sample_path, "list")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == HEADER and set(lines[1]) == {"-"} and len(lines[1]) == len(HEADER)
    assert lines[2] == "  206 |            nulltest@kitinfo.de |       drop |                     "
    assert lines[-1] == "    1 |                    postmaster% |      store |           postmaster"
    assert len(lines) == 2 + 15


def test_list_filter_and_json(sample_path):
    _, out, _ = cli(sample_path, "list", "%@cbcdn.com")
    assert [line.split("|")[0].strip() for line in out.splitlines()[2:]] == ["205", "2"]
    _, out, _ = cli(sample_path, "--json", "list", "t%t@%")
    assert json.loads(out) == [
        {"order": 100, "expression": "t%t@kitinfo.de", "router": "store", "route": "mpease"}
    ]


def test_test_lists_matches_winner_first_and_defaults_to_percent(sample_path):
    _, out, _ = cli(sample_path, "test", "tt@kitinfo.de")
    assert [line.split("|")[0].strip() for line in out.splitlines()[2:]] == ["102", "100"]
    code, out, _ = cli(sample_path, "test")
    assert code == 0 and out.splitlines() == [HEADER, "-" * len(HEADER)]


def test_show(sample_path):
    code, out, _ = cli(sample_path, "show", "202")
    assert code == 0 and out.splitlines()[2].split("|")[1].strip() == "cdbev@kitinfo.de"
    _, out, _ = cli(sample_path, "show", "202", "--json")
    assert json.loads(out)["route"] == "cdbev"
    code, _, err = cli(sample_path, "show", "999")
    assert code == 3 and "999" in err


def test_add_auto_and_explicit_order(sample_path):
    code, out, err = cli(sample_path, "add", "t%@kitinfo.de", "store", "mpease")
    assert code == 0
    assert "207" in out and "takes priority over every existing rule" in out
    assert "rule 100 (t%t@kitinfo.de)" in err
    assert rule(sample_path, 207) == ("t%@kitinfo.de", "store", "mpease")
    code, out, _ = cli(sample_path, "add", "x@y.z", "reject", "", "-5")
    assert code == 0 and rule(sample_path, -5) == ("x@y.z", "reject", None)


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["add", "x@y.z", "frobnicate"], 2, "router"),
        (["add", "x@y.z", "store"], 2, "route"),
        (["add", "x@y.z", "drop", "", "abc"], 2, "order"),
        (["add", "x@y.z", "drop", "", "201"], 5, "cbdev@kitinfo.de"),
        (["add", "x@y.z"], 2, "usage"),
        (["add", "a", "drop", "", "7", "extra"], 2, "usage"),
        (["delete", "abc"], 2, "order"),
        (["update", "999", "drop"], 3, "999"),
        (["frob"], 2, "Unknown address verb"),
    ],
)
def test_refusals_exit_with_the_error_code_and_change_nothing(sample_path, argv, code, needle):
    before = sample_path.read_bytes()
    result, out, err = cli(sample_path, *argv)
    assert (result, out) == (code, "")
    assert err.startswith("cmail-console: ") and needle in err
    assert sample_path.read_bytes() == before


def test_update_and_delete(sample_path):
    assert cli(sample_path, "update", "205", "store", "spam")[0] == 0
    assert rule(sample_path, 205) == ("spam@cbcdn.com", "store", "spam")
    assert cli(sample_path, "update", "205", "reject")[0] == 0
    assert rule(sample_path, 205) == ("spam@cbcdn.com", "reject", None)
    code, out, err = cli(sample_path, "delete", "102")
    assert code == 0 and rule(sample_path, 102) is None
    assert "Deleted rule 102" in out and "rule 100 (t%t@kitinfo.de)" in err


def test_swap_keeps_the_move_quirk_and_move_up_down(sample_path):
    assert cli(sample_path, "swap", "100", "102")[0] == 0
    assert rule(sample_path, 102)[0] == "t%t@kitinfo.de"
    code, out, _ = cli(sample_path, "swap", "102", "150")  # 150 is free: a move
    assert code == 0 and "Moved rule 102" in out
    assert rule(sample_path, 150)[0] == "t%t@kitinfo.de" and rule(sample_path, 102) is None
    assert cli(sample_path, "move", "150", "99")[0] == 0
    assert cli(sample_path, "up", "99")[0] == 0  # swaps with 100, the catch-all now
    assert rule(sample_path, 100)[0] == "t%t@kitinfo.de"
    assert cli(sample_path, "down", "100")[0] == 0
    assert rule(sample_path, 99)[0] == "t%t@kitinfo.de"
    code, _, err = cli(sample_path, "move", "99", "201")
    assert code == 5 and "taken" in err


def test_login_as_delegate_is_refused_outside_its_expressions(sample_path, monkeypatch):
    db = Database(str(sample_path))
    with db.write():
        User.insert(name="dele", authdata=passwords.hash_password("secret")).execute()
        Permission.insert(user="dele", permission="delegate").execute()
        DelegatedExpression.insert(user="dele", expression="%@example.com").execute()
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "secret")
    code, _, err = cli(sample_path, "--login", "dele", "delete", "201")
    assert code == 4 and "dele" in err and rule(sample_path, 201) is not None
    code, _, _ = cli(sample_path, "--login", "dele", "add", "a@example.com", "drop")
    assert code == 0 and rule(sample_path, 207) == ("a@example.com", "drop", None)


def _console(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    return subprocess.run(
        [str(CONSOLE), *argv], capture_output=True, text=True, env=env, timeout=60
    )


def test_console_script_adds_and_lists(sample_path):
    added = _console("-d", str(sample_path), "address", "add", "new@kitinfo.de", "store", "cbdev")
    assert added.returncode == 0 and "Added rule 207" in added.stdout
    listed = _console("address", "list", "new%", "-d", str(sample_path))
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[2].split("|")[0].strip() == "207"


def test_console_script_refuses_an_unknown_router(sample_path):
    before = sample_path.read_bytes()
    result = _console("-d", str(sample_path), "address", "add", "x@y.z", "Store", "cbdev")
    assert result.returncode == 2 and result.stdout == ""
    assert "cmail-console: The router must be one of" in result.stderr
    assert sample_path.read_bytes() == before
