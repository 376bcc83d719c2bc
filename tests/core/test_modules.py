"""Which console modules are enabled, and the CLI refusing a disabled one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cli.main import run
from core.errors import Invalid
from core.services.modules import MODULES, enabled_modules, is_enabled


def test_everything_is_on_by_default() -> None:
    assert enabled_modules({}) == MODULES
    assert enabled_modules({"CMAIL_CONSOLE_MODULES": " , "}) == MODULES


def test_enable_list_keeps_the_console_order() -> None:
    env = {"CMAIL_CONSOLE_MODULES": "mailbox, Users,popd"}
    assert enabled_modules(env) == ("users", "popd", "mailbox")
    assert is_enabled("users", env) and not is_enabled("smtpd", env)


def test_disable_list() -> None:
    env = {"CMAIL_CONSOLE_DISABLE": "mailbox,rights"}
    assert enabled_modules(env) == ("users", "addresses", "smtpd", "popd")


def test_disable_wins_over_enable() -> None:
    env = {"CMAIL_CONSOLE_MODULES": "users,popd", "CMAIL_CONSOLE_DISABLE": "popd"}
    assert enabled_modules(env) == ("users",)


def test_cmail_admin_tool_names() -> None:
    env = {"CMAIL_CONSOLE_DISABLE": "permissions,address"}
    assert not is_enabled("permissions", env) and not is_enabled("rights", env)
    assert not is_enabled("address", env) and is_enabled("user", env)


def test_unknown_names() -> None:
    assert not is_enabled("nonsense", {})
    with pytest.raises(Invalid, match="CMAIL_CONSOLE_DISABLE names an unknown module 'mailbx'"):
        enabled_modules({"CMAIL_CONSOLE_DISABLE": "mailbx"})


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_MODULES", "smtpd")
    assert enabled_modules() == ("smtpd",) and is_enabled("smtpd") and not is_enabled("popd")


def test_cli_refuses_a_disabled_module(sample_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_DISABLE", "popd")
    out, err = io.StringIO(), io.StringIO()
    code = run(["-d", str(sample_path), "popd", "list"], out=out, err=err)
    assert code == 4 and out.getvalue() == ""
    assert err.getvalue() == (
        "cmail-console: The popd module is disabled on this console "
        "(by CMAIL_CONSOLE_MODULES or CMAIL_CONSOLE_DISABLE).\n"
    )
    monkeypatch.delenv("CMAIL_CONSOLE_DISABLE")
    assert run(["-d", str(sample_path), "popd", "list"], out=out, err=err) == 0
