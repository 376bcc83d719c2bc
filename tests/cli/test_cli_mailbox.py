"""`cmail-console mailbox …` end to end: output, JSON, exit codes, and the database afterwards."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from cli.main import run


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


@pytest.fixture
def master(sample_path: Path, userdb_path: Path) -> Path:
    sql(sample_path, "UPDATE users SET user_database = ? WHERE user_name = 'kitinfo'",
        (str(userdb_path),))  # fmt: skip
    return sample_path


def test_list_table(master: Path) -> None:
    code, out, err = cli("-d", str(master), "mailbox", "list", "cbdev")
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0].split(" | ")[0].strip() == "Source" and set(lines[1]) == {"-"}
    assert "483" in lines[2] and "test Wed, 18 Nov 2015" in lines[2]
    assert "2015-11-18 18:36:33" in lines[2]  # unix time shown in UTC
    assert "This is a test mailing" not in out


def test_list_json_with_user_database(master: Path, userdb_path: Path) -> None:
    code, out, _ = cli("-d", str(master), "--json", "mailbox", "list", "kitinfo")
    data = json.loads(out)
    assert code == 0
    assert data["user_database"] == str(userdb_path) and data["warnings"] == []
    assert [(m["source"], m["id"]) for m in data["mails"]] == [(str(userdb_path), 11)]


def test_list_warns_about_a_missing_user_database(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "mailbox", "list", "kitinfo")
    assert code == 0 and len(out.splitlines()) == 2  # header and separator only
    assert err.startswith("warning: ") and "does not exist" in err


def test_control_characters_in_a_subject_are_escaped(master: Path) -> None:
    sql(master, "UPDATE mailbox SET mail_data = ? WHERE mail_id = 483",
        ("Subject: \x1b[31mred\x07\r\n\r\nbody",))  # fmt: skip
    code, out, _ = cli("-d", str(master), "mailbox", "list", "cbdev")
    assert code == 0 and "\x1b" not in out and "\\x1b[31mred\\x07" in out


def test_counts(master: Path) -> None:
    code, out, _ = cli("-d", str(master), "mailbox", "counts", "cbdev", "kitinfo")
    rows = [[cell.strip() for cell in line.split("|")] for line in out.splitlines()[2:]]
    assert code == 0
    assert rows[0][:4] == ["cbdev", "1", "", "1"]
    assert rows[1][:4] == ["kitinfo", "0", "1", "1"]


def test_counts_json_for_everyone(master: Path) -> None:
    code, out, _ = cli("-d", str(master), "--json", "mailbox", "counts")
    data = json.loads(out)
    assert code == 0 and len(data) == 14
    assert {d["user"]: d["master"] for d in data}["cbdev"] == 1


def test_read_unread_delete(master: Path, userdb_path: Path) -> None:
    assert cli("-d", str(master), "mailbox", "read", "cbdev", "master", "483")[0] == 0
    assert sql(master, "SELECT mail_read FROM mailbox WHERE mail_id = 483") == [(1,)]
    code, out, _ = cli("-d", str(master), "mailbox", "unread", "cbdev", "master", "483")
    assert code == 0 and "marked unread" in out
    assert sql(master, "SELECT mail_read FROM mailbox WHERE mail_id = 483") == [(0,)]
    code, out, _ = cli("-d", str(master), "--json", "mailbox", "delete", "kitinfo",
                       str(userdb_path), "11")  # fmt: skip
    assert code == 0 and json.loads(out)["ok"] is True
    assert sql(userdb_path, "SELECT count(*) FROM mailbox") == [(0,)]


@pytest.mark.parametrize(
    ("argv", "exit_code", "fragment"),
    [
        (("mailbox", "delete", "kitinfo", "master", "483"), 3, "kitinfo has no mail 483"),
        (("mailbox", "delete", "cbdev", "/etc/passwd", "483"), 2, "source"),
        (("mailbox", "read", "cbdev", "master", "x"), 2, "mail id"),
        (("mailbox", "read", "cbdev", "master"), 2, "usage"),
        (("mailbox", "list", "nobody"), 3, "nobody"),
    ],
)
def test_failures(master: Path, argv: tuple[str, ...], exit_code: int, fragment: str) -> None:
    before = master.read_bytes()
    code, out, err = cli("-d", str(master), *argv)
    assert code == exit_code and out == ""
    assert err.startswith("cmail-console: ") and fragment in err
    assert master.read_bytes() == before


def test_plain_user_is_denied_other_mail(master: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "a3")
    before = master.read_bytes()
    code, _, err = cli("-d", str(master), "--login", "a3", "mailbox", "delete", "cbdev",
                       "master", "483")  # fmt: skip
    assert code == 4 and "may not delete the mail of cbdev" in err
    assert master.read_bytes() == before
    code, out, _ = cli("-d", str(master), "--login", "a3", "--json", "mailbox", "counts")
    assert code == 0 and [d["user"] for d in json.loads(out)] == ["a3"]
