"""Plain data the services hand to front ends: never ORM rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """The outcome of a write: one sentence saying what happened, and warnings worth reading."""

    message: str
    warnings: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. `cursor` continues after the last row (keyset paging)."""

    rows: list[T]
    cursor: Any = None
    has_more: bool = False


def as_dict(record: Any) -> dict[str, Any]:
    return asdict(record)
