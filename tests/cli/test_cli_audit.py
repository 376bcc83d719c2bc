"""`cmail-console audit`: the trail newest first, as a table or JSON, for admins only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest

from cli.main import USAGE, run
from core import audit

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TIME = "2026-03-04T05:06:07+00:00"


@pytest.fixture(autouse=True)
def _fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Database() takes its default clock from here when it opens the file.
    monkeypatch.setattr(audit, "datetime_now", lambda: NOW)


def cli(path: Path, *argv: str, password: str | None = None) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = run(["-d", str(path), *argv], out=out, err=err, prompt=lambda _: password or "")
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trail(sample_path: Path) -> Path:
    """Three entries: a change without login, a change by cbdev, a refusal of a1."""
    assert cli(sample_path, "popd", "unlock", "user")[0] == 0
    assert (
        cli(sample_path, "--login", "cbdev", "smtpd", "update", "a3", "drop", password="cbdev")[0]
        == 0
    )
    assert cli(sample_path, "--login", "a1", "popd", "unlock", "cbdev", password="a1")[0] == 4
    return sample_path


def test_table_newest_first_with_who_what_and_outcome(trail: Path) -> None:
    code, out, err = cli(trail, "audit")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["Time", "Login", "Role", "Action", "Target", "Result", "Message"]
    rows = [line.split(None, 6) for line in lines[2:]]
    # Newest first: the refusal, a1's login, cbdev's change, cbdev's login, the file-system change.
    assert [row[3] for row in rows] == [
        "popd.unlock",
        "session.login",
        "smtpd.update",
        "session.login",
        "popd.unlock",
    ]
    assert rows[0] == [TIME, "a1", "user", "popd.unlock", "cbdev", "refused",
                       "You (a1, user) may not unlock the maildrop of cbdev."]  # fmt: skip
    assert rows[2] == [TIME, "cbdev", "admin", "smtpd.update", "a3", "ok"]
    assert rows[4] == [TIME, "(file-system)", "admin", "popd.unlock", "user", "ok"]


def test_filter_user_and_limit(trail: Path) -> None:
    _, out, _ = cli(trail, "audit", "REFUSED")  # literal, any case
    assert [line.split()[3] for line in out.splitlines()[2:]] == ["popd.unlock"]
    _, out, _ = cli(trail, "audit", "--user", "cbdev")
    assert [line.split()[3] for line in out.splitlines()[2:]] == ["smtpd.update", "session.login"]
    _, out, _ = cli(trail, "audit", "--limit", "2")
    assert [line.split()[3] for line in out.splitlines()[2:]] == ["popd.unlock", "session.login"]
    _, out, _ = cli(trail, "audit", "no such thing")
    assert out.splitlines()[2:] == ["(no entries)"]


def test_json_has_every_field_and_before_after(trail: Path) -> None:
    code, out, _ = cli(trail, "audit", "--json", "smtpd")
    assert code == 0
    [entry] = json.loads(out)
    assert entry == {
        "id": entry["id"],
        "time": TIME,
        "login": "cbdev",
        "role": "admin",
        "action": "smtpd.update",
        "target": "a3",
        "before": {"router": "any", "route": None},
        "after": {"router": "drop", "route": None},
        "result": "ok",
        "message": None,
    }
    _, out, _ = cli(trail, "--json", "audit", "--limit", "1")
    assert [e["result"] for e in json.loads(out)] == ["refused"]


@pytest.mark.parametrize(("name", "password"), [("a1", "a1"), ("mpease", None)])
def test_only_admins_may_read_it(trail: Path, name: str, password: str | None) -> None:
    if password is None:  # mpease is an admin: take its rights away first
        assert cli(trail, "permissions", "revoke", name)[0] == 0
        assert cli(trail, "user", "passwd", name, "mp-secret-1")[0] == 0
        password = "mp-secret-1"
    code, out, err = cli(trail, "--login", name, "audit", password=password)
    assert (code, out) == (4, "")
    assert err == f"cmail-console: You ({name}, user) may not read the audit trail.\n"


def test_database_text_is_printed_literally(sample_path: Path) -> None:
    assert cli(sample_path, "--login", "a1", "popd", "unlock", "\x1b[31mred", password="a1")[0]
    _, out, _ = cli(sample_path, "audit", "--limit", "1")
    assert "\x1b" not in out
    assert "\\x1b[31mred" in out.splitlines()[2]


@pytest.mark.parametrize("argv", [["--limit", "0"], ["--limit", "x"], ["--limit"], ["a", "b"]])
def test_bad_arguments_are_refused(sample_path: Path, argv: list[str]) -> None:
    code, out, err = cli(sample_path, "audit", *argv)
    assert (code, out) == (2, "")
    assert err.startswith("cmail-console: ")


def test_usage_names_the_command() -> None:
    assert "  audit [filter]" in USAGE
