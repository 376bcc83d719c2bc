"""`cmail-console user …` end to end: cmail-admin-user's verbs, output, exit codes, the DB after."""

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
from core import passwords

CONSOLE = str(Path(sys.executable).parent / "cmail-console")


def cli(*argv: str, prompt=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out=out, err=err, prompt=prompt)
    return code, out.getvalue(), err.getvalue()


def sql(path: Path, statement: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            return connection.execute(statement, params).fetchall()
    finally:
        connection.close()


def authdata(path: Path, name: str) -> str | None:
    return sql(path, "SELECT user_authdata FROM users WHERE user_name = ?", (name,))[0][0]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Prompts:
    """Answers prompts in order and remembers what was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, text: str) -> str:
        self.asked.append(text)
        return self.answers.pop(0)


# --- list / show ------------------------------------------------------------------------------


def test_list_has_cmail_admin_columns(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "user", "list")
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0] == (
        "                User |  Auth |           Alias | Linked addresses |  Mails |"
        "  User database"
    )
    assert set(lines[1]) == {"-"} and len(lines) == 2 + 14
    cbdev = next(line for line in lines if line.split(" | ")[0].strip() == "cbdev")
    assert [cell.strip() for cell in cbdev.split(" | ")] == ["cbdev", "1", "", "2", "1", ""]
    cdbev = next(line for line in lines if line.split(" | ")[0].strip() == "cdbev")
    assert cdbev.split(" | ")[2].strip() == "cbdev"


def test_list_filter_is_a_like_pattern(sample_path: Path) -> None:
    _, out, _ = cli("-d", str(sample_path), "user", "list", "a%")
    assert [line.split(" | ")[0].strip() for line in out.splitlines()[2:]] == ["a1", "a2", "a3"]


def test_list_and_show_json(sample_path: Path) -> None:
    code, out, _ = cli("-d", str(sample_path), "--json", "user", "list", "foo%")
    assert code == 0
    assert [(u["name"], u["can_login"]) for u in json.loads(out)] == [
        ("foo", False),
        ("foomatic", False),
    ]
    code, out, _ = cli("-d", str(sample_path), "user", "show", "nulltest", "--json")
    detail = json.loads(out)
    assert code == 0 and detail["shared_with"] == ["cbdev"] and detail["rights"] == ["admin"]


def test_show_text(sample_path: Path) -> None:
    code, out, _ = cli("-d", str(sample_path), "user", "show", "user")
    assert code == 0
    assert "Login: malformed (hash part has 65 characters, not 64)" in out
    assert "Store routes: 200 user@kitinfo.de, 4 %@test.piratenrun.de" in out


def test_show_unknown_user_exits_not_found(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "user", "show", "ghost")
    assert (code, out) == (3, "")
    assert err.startswith("cmail-console: ") and "ghost" in err


# --- add / password / revoke ------------------------------------------------------------------


def test_add_with_password_argument(sample_path: Path) -> None:
    code, out, _ = cli("-d", str(sample_path), "user", "add", "dave", "secret")
    assert code == 0 and "dave" in out
    assert passwords.verify(authdata(sample_path, "dave"), "secret")


def test_add_prompts_and_blank_disables_login(sample_path: Path) -> None:
    prompts = Prompts("")
    code, out, _ = cli("-d", str(sample_path), "user", "add", "dave", prompt=prompts)
    assert code == 0 and "disabled" in out
    assert prompts.asked == ["Enter new password (leave blank to disable login): "]
    assert authdata(sample_path, "dave") is None


def test_add_duplicate_is_a_conflict(sample_path: Path) -> None:
    before = file_digest(sample_path)
    code, _, err = cli("-d", str(sample_path), "user", "add", "cbdev", "x")
    assert code == 5 and "already exists" in err
    assert file_digest(sample_path) == before


def test_add_warns_on_stderr_about_numeric_names(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "user", "add", "007", "x")
    assert code == 0 and "007" in out
    assert "warning: " in err and "all digits" in err


@pytest.mark.parametrize("verb", ["password", "passwd"])
def test_password_prompts_when_omitted(sample_path: Path, verb: str) -> None:
    prompts = Prompts("fresh")
    code, _, _ = cli("-d", str(sample_path), "user", verb, "a3", prompt=prompts)
    assert code == 0 and len(prompts.asked) == 1
    assert passwords.verify(authdata(sample_path, "a3"), "fresh")


def test_empty_password_revokes_and_revoke_verb(sample_path: Path) -> None:
    assert cli("-d", str(sample_path), "user", "password", "a3", "")[0] == 0
    assert authdata(sample_path, "a3") is None
    code, out, _ = cli("-d", str(sample_path), "user", "revoke", "a2")
    assert code == 0 and authdata(sample_path, "a2") is None and "disabled" in out


def test_password_for_unknown_user_exits_not_found(sample_path: Path) -> None:
    code, _, err = cli("-d", str(sample_path), "user", "password", "ghost", "x")
    assert code == 3 and "ghost" in err


def test_logged_in_user_changes_own_password(
    sample_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "a3")
    code, _, err = cli("-d", str(sample_path), "--login", "a3", "user", "passwd", "a3", "new")
    assert code == 0, err
    assert passwords.verify(authdata(sample_path, "a3"), "new")


def test_own_password_change_asks_for_the_current_one(sample_path: Path) -> None:
    prompts = Prompts("a3", "wrong", "new")  # login, current, new
    code, _, err = cli(
        "-d", str(sample_path), "--login", "a3", "user", "passwd", "a3", prompt=prompts
    )
    assert code == 4 and "current password" in err
    assert prompts.asked[1] == "Current password of a3: "
    assert passwords.verify(authdata(sample_path, "a3"), "a3")


def test_plain_user_cannot_set_anothers_password(
    sample_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "a3")
    before = file_digest(sample_path)
    code, _, err = cli("-d", str(sample_path), "--login", "a3", "user", "passwd", "a2", "x")
    assert code == 4 and "may not" in err
    assert file_digest(sample_path) == before


# --- alias / userdb ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["cdbev"], ["cdbev", "cdbev"]])
def test_alias_clears_like_cmail_admin(sample_path: Path, args: list[str]) -> None:
    code, _, _ = cli("-d", str(sample_path), "user", "alias", *args)
    assert code == 0
    assert sql(sample_path, "SELECT user_alias FROM users WHERE user_name='cdbev'") == [(None,)]


def test_alias_sets_and_warns(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "user", "alias", "a3", "a1")
    assert code == 0 and "alias of a1" in out and "cycle" in err
    code, _, err = cli("-d", str(sample_path), "user", "alias", "a3", "ghost")
    assert code == 3 and "ghost" in err


def test_userdb_set_refuse_and_clear(sample_path: Path, userdb_path: Path) -> None:
    assert cli("-d", str(sample_path), "user", "userdb", "a3", str(userdb_path))[0] == 0
    assert sql(sample_path, "SELECT user_database FROM users WHERE user_name='a3'") == [
        (str(userdb_path),)
    ]
    code, _, err = cli("-d", str(sample_path), "user", "userdb", "a3", "relative.db3")
    assert code == 2 and "absolute" in err
    assert cli("-d", str(sample_path), "user", "userdb", "a3")[0] == 0
    assert sql(sample_path, "SELECT user_database FROM users WHERE user_name='a3'") == [(None,)]


# --- delete / rename --------------------------------------------------------------------------


def test_delete_prints_what_cascaded(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "user", "delete", "cbdev")
    assert code == 0
    assert "1 mail in the master mailbox" in out and "its POP entry" in out
    assert "201 cbdev@kitinfo.de" in err
    assert sql(sample_path, "SELECT count(*) FROM users WHERE user_name='cbdev'") == [(0,)]


def test_delete_takes_the_store_rules_along(sample_path: Path) -> None:
    code, out, err = cli("-d", str(sample_path), "user", "delete", "--delete-store-rules", "cbdev")
    assert code == 0 and "Its store rules were deleted too: 201 cbdev@kitinfo.de" in out
    assert "dangle" not in err
    assert sql(sample_path, "SELECT count(*) FROM addresses WHERE address_route='cbdev'") == [(0,)]


def test_delete_moves_the_store_rules_to_another_user(sample_path: Path) -> None:
    argv = ("-d", str(sample_path), "--json", "user", "delete", "cbdev")
    code, out, _ = cli(*argv, "--store-rules-to", "mpease")
    assert code == 0 and json.loads(out)["store_rules"] == {"moved": [201, 2], "to": "mpease"}
    moved = "SELECT address_route FROM addresses WHERE address_order IN (2, 201)"
    assert sql(sample_path, moved) == [("mpease",), ("mpease",)]


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        (("--delete-store-rules", "--store-rules-to", "mpease"), "not both"),
        (("--store-rules-to",), "The option --store-rules-to needs a user name."),
        (("--store-rules-to", "nobody"), "there is no user 'nobody'"),
    ],
)
def test_delete_refuses_unclear_store_rule_options(
    sample_path: Path, options: tuple[str, ...], sentence: str
) -> None:
    before = file_digest(sample_path)
    code, out, err = cli("-d", str(sample_path), "user", "delete", "cbdev", *options)
    assert code != 0 and out == "" and sentence in err
    assert file_digest(sample_path) == before


def test_delete_preview_changes_nothing(sample_path: Path) -> None:
    before = file_digest(sample_path)
    code, out, _ = cli("-d", str(sample_path), "user", "delete-preview", "cbdev")
    assert code == 0 and "would also delete" in out and "would dangle" in out
    assert file_digest(sample_path) == before


def test_rename_retargets_store_routes(sample_path: Path) -> None:
    code, out, _ = cli("-d", str(sample_path), "user", "rename", "mpease", "mp")
    assert code == 0 and "2 store routes retargeted" in out
    assert sql(sample_path, "SELECT count(*) FROM addresses WHERE address_route='mp'") == [(2,)]


def test_wrong_arity_is_invalid(sample_path: Path) -> None:
    code, _, err = cli("-d", str(sample_path), "user", "rename", "only-one")
    assert code == 2 and "usage" in err


# --- through the installed console script -----------------------------------------------------


def console(*argv: str, stdin: str = "", env: dict[str, str] | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    environment.update(env or {})
    return subprocess.run(
        [CONSOLE, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_subprocess_list_by_environment_path(sample_path: Path) -> None:
    done = console("user", "list", "cbdev", env={"CMAIL_MASTER_DB": str(sample_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split(" | ")[0].strip() == "cbdev"


def test_subprocess_add_reads_password_from_piped_stdin(sample_path: Path) -> None:
    done = console("-d", str(sample_path), "user", "add", "piped", stdin="pipedpw\n")
    assert done.returncode == 0, done.stderr
    assert "Enter new password" in done.stderr
    assert passwords.verify(authdata(sample_path, "piped"), "pipedpw")


def test_subprocess_denied_exit_code(sample_path: Path) -> None:
    done = console(
        "-d",
        str(sample_path),
        "--login",
        "a3",
        "user",
        "delete",
        "a1",
        env={"CMAIL_CONSOLE_PASSWORD": "a3"},
    )
    assert done.returncode == 4 and done.stderr.startswith("cmail-console: ")
    assert sql(sample_path, "SELECT count(*) FROM users WHERE user_name='a1'") == [(1,)]
