"""What the lint reports: findings, the whole report, and the batches a streamed lint yields."""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    severity: str  # error | warning | info
    message: str
    order: int | None = None
    user: str | None = None


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    counts: dict[str, int] = field(default_factory=dict)  # severity → findings
    kinds: dict[str, int] = field(default_factory=dict)  # kind → findings
    rules: int = 0
    users: int = 0

    @property
    def errors(self) -> int:
        return self.counts.get(ERROR, 0)


@dataclass(frozen=True, slots=True)
class LintBatch:
    """What one step of a streamed lint found in one chunk, and how far the lint has got.

    `step` names what is being checked, as a plural noun for a progress line ("rules", "users",
    "POP entries"); `done` of `total` counts them (total None: not known in advance). `rules` and
    `users` count the rules and users checked so far: in the last batch, all of them."""

    findings: tuple[Finding, ...]
    step: str
    done: int
    total: int | None
    rules: int
    users: int


def sort_key(finding: Finding) -> tuple[int, str, int, str, str]:
    """Errors first, then by kind, rule (highest order first) or user. The message breaks the
    remaining ties, so the order never depends on the order in which checks ran."""
    order = -finding.order if finding.order is not None else 0
    rank = SEVERITIES.index(finding.severity)
    return (rank, finding.kind, order, finding.user or "", finding.message)
