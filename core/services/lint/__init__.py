"""The lint: every problem in the whole configuration that cmail's daemons would trip over.

`scan()` streams it: batches of findings as each chunk of each table is checked, every chunk in
its own short read unit (steps.py). `lint()` collects a whole scan into one sorted report, for
the command line and tests. The checks themselves are pure functions (checks.py); "which rule
can never win" goes through a literal prefix/suffix index (shadow.py); questions that compare
every row with every other go through a temporary scratch database (scratch.py), so memory
stays small at a million users (reference §3.2, §3.9, §9, §10).
"""

from core.services.lint.model import (
    ERROR,
    INFO,
    SEVERITIES,
    WARNING,
    Finding,
    LintBatch,
    LintReport,
    sort_key,
)
from core.services.lint.shadow import MemoryIndex, _Rule, shadow_findings
from core.services.lint.steps import CHUNK, lint, scan

__all__ = [
    "CHUNK",
    "ERROR",
    "INFO",
    "SEVERITIES",
    "WARNING",
    "Finding",
    "LintBatch",
    "LintReport",
    "MemoryIndex",
    "_Rule",
    "lint",
    "scan",
    "shadow_findings",
    "sort_key",
]
