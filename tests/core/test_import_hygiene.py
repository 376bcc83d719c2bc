"""core/ must never pull in the UI stack: the CLI and scripts stay fast and terminal-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, pkgutil, sys
import core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
for name in names:
    importlib.import_module(name)
import cli.main
assert len(names) >= 10, names
leaked = sorted(m for m in ("textual", "rich") if m in sys.modules)
print(",".join(leaked) or "clean", len(names))
"""


def test_core_imports_no_ui() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "clean"
