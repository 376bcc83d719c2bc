"""`cmail-console --restricted` (ssh ForceCommand): the console only, on the database the
administrator chose, and nothing the person at the keyboard can add to the command line or
environment changes that."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cli.main as cli_main
import tui.app
from cli.main import RESTRICTED_DB_ENV, RESTRICTED_ENV, run
from core.db import DEFAULT_PATH, PATH_ENV

CONSOLE = str(Path(sys.executable).parent / "cmail-console")
NO_PATH = "cmail-console: The database path cannot be chosen in restricted mode"
NO_TERMINAL = (
    "cmail-console: Restricted mode runs only the console, which needs a terminal (ssh -t); "
    "file transfers and commands are not available.\n"
)
TEXTUAL_SWITCHES = {
    "TEXTUAL_SCREENSHOT": "0",  # would write an SVG at start
    "TEXTUAL_LOG": "/tmp/cmail-console-textual.log",
    "TEXTUAL_DRIVER": "some.module:Driver",  # would import a module of that name
    "TEXTUAL": "devtools,debug",
    "TEXTUAL_ALLOW_SIGNALS": "1",  # would let ctrl+z suspend
}


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records each console start instead of running the UI (with the environment it saw)."""
    calls: list[dict[str, Any]] = []

    def fake_run_console(path: str, login_as: str | None = None, **options: Any) -> int:
        calls.append({"path": path, "login_as": login_as, **options, "env": dict(os.environ)})
        return 0

    monkeypatch.setattr(tui.app, "run_console", fake_run_console)
    monkeypatch.setattr(cli_main, "_on_terminal", lambda: True)  # pytest's stdin is no terminal
    # A restricted run deletes TEXTUAL_* from os.environ itself; have monkeypatch put back what
    # pytest's own plugins set (e.g. the snapshot plugin's TEXTUAL_SNAPSHOT_TEMPDIR).
    for name in [name for name in os.environ if name.startswith("TEXTUAL")]:
        monkeypatch.setenv(name, os.environ[name])
    for name in (RESTRICTED_ENV, RESTRICTED_DB_ENV, *TEXTUAL_SWITCHES):
        monkeypatch.delenv(name, raising=False)
    return calls


# --- the database path --------------------------------------------------------------------------

PATH_CHOICES = {
    "-d": (["--restricted", "-d", "{db}"], {}),
    "--dbpath": (["--dbpath", "{db}", "--restricted"], {}),
    "CMAIL_MASTER_DB": (["--restricted"], {PATH_ENV: "{db}"}),
    "forced by env, -d": (["-d", "{db}"], {RESTRICTED_ENV: "1"}),
    "forced by env, CMAIL_MASTER_DB": ([], {RESTRICTED_ENV: "yes", PATH_ENV: "{db}"}),
    "with a module": (["--restricted", "-d", "{db}", "user", "list"], {}),
}


@pytest.mark.parametrize("case", list(PATH_CHOICES))
def test_the_database_path_cannot_be_chosen(
    started, sample_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
):
    argv, env = PATH_CHOICES[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(db=sample_path))
    code, out, err = cli(*(word.format(db=sample_path) for word in argv))
    assert code == 2
    assert err.startswith(NO_PATH) and err.count("\n") == 1 and out == ""
    assert "the database path cannot be chosen in restricted mode" in err.lower()
    assert started == []


def test_the_path_comes_from_the_administrators_variable(
    started, sample_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert cli("--restricted") == (0, "", "")
    monkeypatch.setenv(RESTRICTED_DB_ENV, str(sample_path))
    assert cli("--restricted", "--login", "deleg", "--theme", "nord", "--no-mouse")[0] == 0
    monkeypatch.setenv(RESTRICTED_ENV, "1")
    assert cli()[0] == 0
    assert [(call["path"], call["restricted"]) for call in started] == [
        (DEFAULT_PATH, True),
        (str(sample_path), True),
        (str(sample_path), True),  # the environment alone is enough
    ]
    assert (started[1]["login_as"], started[1]["theme"], started[1]["mouse"]) == (
        "deleg",
        "nord",
        False,
    )


def test_without_restricted_mode_the_path_is_free(
    started, sample_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(RESTRICTED_DB_ENV, "/elsewhere.db3")  # only read in restricted mode
    monkeypatch.setenv(RESTRICTED_ENV, "0")
    assert cli("-d", str(sample_path))[0] == 0
    monkeypatch.setenv(PATH_ENV, "/from/env.db3")
    assert cli()[0] == 0
    assert [(call["path"], call["restricted"]) for call in started] == [
        (str(sample_path), False),
        ("/from/env.db3", False),
    ]


# --- nothing but the console --------------------------------------------------------------------

COMMANDS = [
    ["user", "list"],
    ["user", "delete", "a1"],
    ["popd", "unlock", "user"],
    ["permissions", "list"],
    ["address", "list"],
    ["lint"],
    ["audit"],
    ["help"],
    ["init", "{tmp}/new.db3"],
    ["demo", "{tmp}/demo.db3"],
    ["--", "user", "list"],
    ["nonsense"],
]


@pytest.mark.parametrize("how", ["flag", "environment"])
@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_modules_and_commands_are_refused(
    started, sample_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, words, how
):
    monkeypatch.setenv(RESTRICTED_DB_ENV, str(sample_path))  # a good database: not why it fails
    monkeypatch.setenv("CMAIL_CONSOLE_PASSWORD", "cbdev")
    flags = ["--restricted"] if how == "flag" else []
    if how == "environment":
        monkeypatch.setenv(RESTRICTED_ENV, "1")
    before = digest(sample_path)
    argv = [*flags, "--login", "cbdev", *(w.format(tmp=tmp_path) for w in words)]
    code, out, err = cli(*argv)
    shown = words[1] if words[0] == "--" else words[0]
    assert code == 4
    assert err == (
        f"cmail-console: Restricted mode runs only the console; {shown!r} is not available.\n"
    )
    assert out == "" and started == []
    assert digest(sample_path) == before
    assert not (tmp_path / "new.db3").exists() and not (tmp_path / "demo.db3").exists()


def test_no_terminal_no_console(started, monkeypatch: pytest.MonkeyPatch):
    """scp, sftp and `ssh -T` get the forced command without a terminal: refuse at once (the UI
    would otherwise keep running on the closed pipes after the client left)."""
    monkeypatch.setattr(cli_main, "_on_terminal", lambda: False)
    assert cli("--restricted") == (2, "", NO_TERMINAL)
    assert cli()[0] == 0  # an unrestricted console is the caller's business
    assert [call["restricted"] for call in started] == [False]


def test_help_option_still_prints_the_usage(started):
    code, out, _ = cli("--restricted", "--help")
    assert code == 0 and "--restricted" in out and started == []


# --- Textual's own switches ---------------------------------------------------------------------


@pytest.mark.parametrize("restricted", [True, False])
def test_textual_switches_are_dropped_in_restricted_mode(
    started, monkeypatch: pytest.MonkeyPatch, restricted: bool
):
    for name, value in TEXTUAL_SWITCHES.items():
        monkeypatch.setenv(name, value)
    assert cli(*(["--restricted"] if restricted else []))[0] == 0
    seen = started[0]["env"]
    kept = {name for name in TEXTUAL_SWITCHES if name in seen}
    assert kept == (set() if restricted else set(TEXTUAL_SWITCHES))
    assert "PATH" in seen  # the rest of the environment stays


# --- through the installed console script -------------------------------------------------------


def console(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CMAIL_")}
    environment.update(env)
    return subprocess.run(
        [CONSOLE, *argv], capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def test_subprocess_refusals(sample_path: Path, tmp_path: Path) -> None:
    done = console("--restricted", "-d", str(sample_path), env={})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(NO_PATH)

    before = digest(sample_path)
    forced = {RESTRICTED_ENV: "1", RESTRICTED_DB_ENV: str(sample_path)}
    done = console("user", "delete", "a1", env=forced)
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr == (
        "cmail-console: Restricted mode runs only the console; 'user' is not available.\n"
    )
    done = console("init", str(tmp_path / "x.db3"), env=forced)
    assert done.returncode == 4 and not (tmp_path / "x.db3").exists()
    done = console(env=forced)  # what scp or sftp would start: pipes, no terminal
    assert (done.returncode, done.stdout, done.stderr) == (2, "", NO_TERMINAL)
    assert digest(sample_path) == before
