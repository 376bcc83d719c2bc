"""`cmail-console smtpd …`: cmail-admin-smtpd's verbs, columns and argument order."""

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

CONSOLE = Path(sys.executable).parent / "cmail-console"
HEADER = "                User |     Router |        Argument"


def cli(path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = run(["-d", str(path), "smtpd", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def entry(path: Path, user: str) -> tuple | None:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT smtpd_router, smtpd_route FROM smtpd WHERE smtpd_user = ?", (user,)
        ).fetchone()


def test_list_prints_cmail_admin_columns(sample_path):
    code, out, _ = cli(sample_path, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0] == HEADER and len(lines) == 2 + 10
    assert f"{'cdbev':>20} | {'drop':>10} | {'cbdev':>15}" in lines
    _, out, _ = cli(sample_path, "list", "A%")
    assert [line.split("|")[0].strip() for line in out.splitlines()[2:]] == ["a1", "a2", "a3"]


def test_json_list_and_show(sample_path):
    _, out, _ = cli(sample_path, "--json", "list", "cdbev")
    assert json.loads(out) == [
        {"user": "cdbev", "router": "drop", "route": "cbdev", "alias": "cbdev"}
    ]
    code, out, _ = cli(sample_path, "show", "mpease", "--json")
    assert code == 0 and json.loads(out)["router"] == "any"
    code, out, _ = cli(sample_path, "show", "mpease")
    assert out.splitlines()[2] == f"{'mpease':>20} | {'any':>10} | {'':>15}"
    code, _, err = cli(sample_path, "show", "foo")
    assert code == 3 and "foo has no smtpd entry" in err


def test_enable_update_disable(sample_path):
    code, out, err = cli(sample_path, "enable", "test")
    assert code == 0 and entry(sample_path, "test") == ("drop", None)
    assert "default drop router" in out
    assert cli(sample_path, "update", "test", "handoff", "smart.host:25")[0] == 0
    assert entry(sample_path, "test") == ("handoff", "smart.host:25")
    code, _, err = cli(sample_path, "update", "test", "defined")
    assert code == 0 and entry(sample_path, "test") == ("defined", None)
    assert "warning: No store rule routes to test" in err
    assert cli(sample_path, "disable", "test")[0] == 0
    assert entry(sample_path, "test") is None
    code, _, _ = cli(sample_path, "enable", "foo", "reject", "not you")
    assert code == 0 and entry(sample_path, "foo") == ("reject", "not you")


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["enable", "cbdev"], 5, "already"),
        (["enable", "nobody", "any"], 3, "nobody"),
        (["enable", "test", "redirect", "x@y.z"], 2, "router"),
        (["enable", "test", "any", "x", "extra"], 2, "usage"),
        (["update", "foo", "any"], 3, "foo"),
        (["update", "cbdev"], 2, "usage"),
        (["disable", "foo"], 3, "foo"),
    ],
)
def test_refusals_exit_with_the_error_code_and_change_nothing(sample_path, argv, code, needle):
    before = sample_path.read_bytes()
    result, out, err = cli(sample_path, *argv)
    assert (result, out) == (code, "")
    assert needle in err
    assert sample_path.read_bytes() == before


def _console(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    return subprocess.run(
        [str(CONSOLE), *argv], capture_output=True, text=True, env=env, timeout=60
    )


def test_console_script_enables_and_warns(sample_path):
    result = _console("-d", str(sample_path), "smtpd", "enable", "foomatic", "any")
    assert result.returncode == 0
    assert "foomatic now sends with the any router" in result.stdout
    assert "warning: With the any router foomatic may send as anyone" in result.stderr
    assert entry(sample_path, "foomatic") == ("any", None)


def test_console_script_login_as_plain_admin_user(sample_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    env["CMAIL_CONSOLE_PASSWORD"] = "cbdev"
    result = subprocess.run(
        [str(CONSOLE), "--login", "cbdev", "-d", str(sample_path), "smtpd", "disable", "spam"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0 and entry(sample_path, "spam") is None
