"""`cmail-console permissions …` end to end: cmail-admin-permissions' verbs, revoke bug fixed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import run

CONSOLE = str(Path(sys.executable).parent / "cmail-console")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def sql(path: Path, statement: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            return connection.execute(statement, params).fetchall()
    finally:
        connection.close()


def held(path: Path, user: str) -> list[str]:
    query = "SELECT api_permission FROM api_access WHERE api_user = ? ORDER BY 1"
    return [p for (p,) in sql(path, query, (user,))]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cells(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split(" | ")] for line in out.splitlines()[2:]]


@pytest.fixture
def db(sample_path: Path) -> str:
    return str(sample_path)


def test_list_and_rlist(db: str) -> None:
    code, out, _ = cli("-d", db, "permissions", "list", "c%")
    assert code == 0
    assert out.splitlines()[0] == "                User | Permission"
    assert cells(out) == [["cbdev", "admin"], ["cdbev", "admin"]]
    cli("-d", db, "permissions", "grant", "a3", "delegate")
    _, out, _ = cli("-d", db, "permissions", "rlist", "deleg%")
    assert cells(out) == [["a3", "delegate"]]
    code, _, err = cli("-d", db, "permissions", "rlist")
    assert code == 2 and "usage" in err


def test_list_json(db: str) -> None:
    code, out, _ = cli("-d", db, "--json", "permissions", "list", "spam")
    assert code == 0 and json.loads(out) == [{"user": "spam", "permission": "admin"}]


def test_grant_and_refusals(db: str, sample_path: Path) -> None:
    code, out, _ = cli("-d", db, "permissions", "grant", "a3", "admin")
    assert code == 0 and "a3 now holds the admin permission" in out
    assert held(sample_path, "a3") == ["admin"]
    before = file_digest(sample_path)
    assert cli("-d", db, "permissions", "grant", "a3", "admin")[0] == 5
    code, _, err = cli("-d", db, "permissions", "grant", "a3", "root")
    assert code == 2 and "admin or delegate" in err
    assert cli("-d", db, "permissions", "grant", "ghost", "admin")[0] == 3
    assert file_digest(sample_path) == before


def test_revoke_without_names_removes_all(db: str, sample_path: Path) -> None:
    cli("-d", db, "permissions", "grant", "spam", "delegate")
    code, out, _ = cli("-d", db, "permissions", "revoke", "spam")
    assert code == 0 and "admin, delegate" in out
    assert held(sample_path, "spam") == []


def test_revoke_named_and_missing(db: str, sample_path: Path) -> None:
    assert cli("-d", db, "permissions", "revoke", "kitinfo", "admin")[0] == 0
    assert held(sample_path, "kitinfo") == []
    code, _, err = cli("-d", db, "permissions", "revoke", "kitinfo", "admin")
    assert code == 3 and "does not hold" in err


def test_set_exact_list(db: str, sample_path: Path) -> None:
    assert cli("-d", db, "permissions", "set", "spam", "delegate")[0] == 0
    assert held(sample_path, "spam") == ["delegate"]
    assert cli("-d", db, "permissions", "set", "spam")[0] == 0
    assert held(sample_path, "spam") == []


def test_delegate_listing_and_adding(db: str, sample_path: Path) -> None:
    code, out, err = cli("-d", db, "permissions", "delegate", "user", "a3", "a1")
    assert code == 0 and "a3 now manages a1" in out and "delegate permission" in err
    code, _, err = cli("-d", db, "permissions", "delegate", "address", "a3", "%example.com")
    assert code == 0 and "evil-example.com" in err
    _, out, _ = cli("-d", db, "permissions", "delegate")
    lines = out.splitlines()
    assert lines[0] == "Delegated users:" and "Delegated address space:" in lines
    assert "a1" in lines[3] and "%example.com" in out
    _, out, _ = cli("-d", db, "permissions", "delegate", "user")
    assert "Delegated address space:" not in out and cells(out[out.index("\n") + 1 :]) == [
        ["a3", "a1"]
    ]
    _, out, _ = cli("-d", db, "--json", "permissions", "delegate", "address", "a%")
    assert json.loads(out) == [{"kind": "address", "manager": "a3", "target": "%example.com"}]
    _, out, _ = cli("-d", db, "--json", "permissions", "delegate", "nobody")
    assert json.loads(out) == []


def test_delete_delegations(db: str, sample_path: Path) -> None:
    cli("-d", db, "permissions", "delegate", "user", "a3", "a1")
    cli("-d", db, "permissions", "delegate", "address", "a3", "%@a3.example")
    assert cli("-d", db, "permissions", "delete", "user", "a3", "a1")[0] == 0
    assert cli("-d", db, "permissions", "delete", "expression", "a3", "%@a3.example")[0] == 0
    assert sql(sample_path, "SELECT count(*) FROM api_user_delegates") == [(0,)]
    assert sql(sample_path, "SELECT count(*) FROM api_address_delegates") == [(0,)]
    code, _, err = cli("-d", db, "permissions", "delete", "user", "a3", "a1")
    assert code == 3 and "does not manage" in err
    code, _, err = cli("-d", db, "permissions", "delete", "group", "a3", "a1")
    assert code == 2 and "user or expression" in err


def test_non_admin_is_denied(db: str, sample_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "a3")
    before = file_digest(sample_path)
    code, _, err = cli("-d", db, "--login", "a3", "permissions", "grant", "a3", "admin")
    assert code == 4 and "may not" in err
    assert file_digest(sample_path) == before


def test_subprocess_revoke_all_then_list(sample_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    done = subprocess.run(
        [CONSOLE, "-d", str(sample_path), "permissions", "revoke", "user"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert held(sample_path, "user") == []
