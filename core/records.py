"""Plain data the services hand to front ends: never ORM rows."""

from __future__ import annotations

from collections.abc import Callable
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
    """One page of a list. `cursor` continues after the last row (keyset paging).

    A page with `confirm` is provisional (answered from a side index that may lag behind the
    database): confirm() returns the exact page for the same question. Two pages are equal
    when their rows, cursor and has_more are."""

    rows: list[T]
    cursor: Any = None
    has_more: bool = False
    confirm: Callable[[], Page[T]] | None = field(default=None, compare=False, repr=False)


def as_dict(record: Any) -> dict[str, Any]:
    return asdict(record)
