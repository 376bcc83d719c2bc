"""Which rule can never win: pattern containment through a literal prefix/suffix index.

A pattern H can only contain (or match) R if H's literal suffix ends R's and H's literal prefix
starts R's, so a lookup compares a rule only with the few higher rules whose literal ends fit
(reference §3.2, §3.9). The streamed lint keeps only the wildcard rules here (few), added as the
rules stream past highest order first, so every rule is checked against all rules above it."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from core import patterns
from core.services.lint.model import WARNING, Finding

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class _Rule:
    order: int
    expression: str
    router: str
    route: str | None

    @property
    def label(self) -> str:
        return f"#{self.order} {self.expression}"


def fold(text: str) -> str:
    """SQLite's LIKE (and lower()) fold ASCII letters only."""
    # str.lower() is several times faster, and the same on ASCII text.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def is_wild(expression: str) -> bool:
    return "%" in expression or "_" in expression


@dataclass(frozen=True, slots=True)
class _Shape:
    """The literal ends of a pattern, folded: every string it matches starts with `prefix` and
    ends with `suffix`. Without wildcards both are the whole (folded) text."""

    prefix: str
    suffix: str
    wild: bool
    single: bool  # exactly one `%` and no `_`: containment reduces to prefix, suffix, length


def _shape(expression: str) -> _Shape:
    folded = fold(expression)
    starts = [i for i in (expression.find("%"), expression.find("_")) if i >= 0]
    if not starts:
        return _Shape(folded, folded, False, False)
    first, last = min(starts), max(expression.rfind("%"), expression.rfind("_"))
    single = first == last and expression[first] == "%"
    return _Shape(folded[:first], folded[last + 1 :], True, single)


def _add_length(lengths: list[int], length: int) -> None:
    at = bisect_left(lengths, length)
    if at == len(lengths) or lengths[at] != length:
        lengths.insert(at, length)


class _Buckets:
    """Wildcard rules keyed by their literal ends, each bucket highest order first (rules are
    added highest order first). Flat, with shared tuples of lengths: at a million users there
    are some 10,000 catch-alls, each with its own suffix."""

    def __init__(self) -> None:
        # (suffix, prefix) → its rule, or its rules once there are several (most have one).
        self.buckets: dict[tuple[str, str], _Rule | list[_Rule]] = {}
        self.suffix_lengths: list[int] = []
        self.prefix_lengths: dict[str, tuple[int, ...]] = {}  # suffix → prefix lengths, sorted
        self._shared: dict[tuple[int, ...], tuple[int, ...]] = {}

    def add(self, rule: _Rule, shape: _Shape) -> None:
        key = (shape.suffix, shape.prefix)
        there = self.buckets.get(key)
        if there is None:
            self.buckets[key] = rule
        elif isinstance(there, list):
            there.append(rule)
        else:
            self.buckets[key] = [there, rule]
        _add_length(self.suffix_lengths, len(shape.suffix))
        sizes = self.prefix_lengths.get(shape.suffix, ())
        if len(shape.prefix) not in sizes:
            grown = tuple(sorted((*sizes, len(shape.prefix))))
            self.prefix_lengths[shape.suffix] = self._shared.setdefault(grown, grown)

    def candidates(self, prefix: str, suffix: str, above: int | None = None) -> Iterator[_Rule]:
        """Rules whose literal suffix ends `suffix` and whose literal prefix starts `prefix`
        (both folded), optionally only those ordered above `above`."""
        for length in self.suffix_lengths:
            if length > len(suffix):
                break
            key = suffix[len(suffix) - length :]
            for size in self.prefix_lengths.get(key, ()):
                if size > len(prefix):
                    break
                rules = self.buckets.get((key, prefix[:size]), ())
                for rule in rules if isinstance(rules, list | tuple) else (rules,):
                    if above is not None and rule.order <= above:
                        break
                    yield rule


class RuleIndex:
    """Rules by their literal ends. Patterns with a single `%` are kept apart: for them fitting
    ends (and length) decide containment exactly. Rules are added highest order first."""

    def __init__(self, rules: Iterable[_Rule] = ()) -> None:
        self.literal: dict[str, list[_Rule]] = defaultdict(list)
        self.single, self.multi = _Buckets(), _Buckets()
        self.wildcards = 0
        for rule in sorted(rules, key=lambda r: -r.order):
            self.add(rule)

    def add(self, rule: _Rule, shape: _Shape | None = None) -> None:
        """Add a rule ordered below every rule added so far."""
        shape = shape or _shape(rule.expression)
        if not shape.wild:
            self.literal[shape.prefix].append(rule)
        else:
            self.wildcards += 1
            (self.single if shape.single else self.multi).add(rule, shape)

    @staticmethod
    def _fits(outer: _Rule, text: str) -> bool:
        """A single-`%` pattern whose ends fit a literal text matches it if it is long enough
        for both ends: its length without the `%`."""
        return len(text) >= len(outer.expression) - 1

    def matches(self, text: str, above: int | None = None) -> list[_Rule]:
        """Every rule `text LIKE expression` (above an order), highest first, as smtpd's query."""
        folded = fold(text)
        found = [r for r in self.literal.get(folded, ()) if above is None or r.order > above]
        found += [r for r in self.single.candidates(folded, folded, above) if self._fits(r, text)]
        found += [
            r
            for r in self.multi.candidates(folded, folded, above)
            if patterns.like(text, r.expression)
        ]
        return sorted(found, key=lambda r: -r.order)

    def container(self, rule: _Rule) -> _Rule | None:
        """A higher-order rule matching every address `rule` matches, or None. Exact, cheap
        containers (equal literals, single `%`) are preferred, the highest of them first."""
        shape = _shape(rule.expression)
        found, cheap = self.wildcard_container(rule, shape)
        if shape.wild:
            return found
        equal = [r for r in self.literal.get(shape.prefix, ()) if r.order > rule.order]
        if not equal:
            return found
        return max([*equal, found] if found is not None and cheap else equal, key=_order)

    def wildcard_container(self, rule: _Rule, shape: _Shape) -> tuple[_Rule | None, bool]:
        """The container of `rule` among the wildcard rules above it, and whether it is a cheap
        one (single `%`: then an equal literal above, if any, competes with it by order)."""
        if not self.wildcards:
            return None, False
        if not shape.wild:
            return self._literal_in_wildcards(rule, shape)
        cheap = list(self.single.candidates(shape.prefix, shape.suffix, rule.order))
        if cheap:
            return max(cheap, key=_order), True
        found = sorted(
            self.multi.candidates(shape.prefix, shape.suffix, rule.order), key=lambda r: -r.order
        )
        witnesses = _witnesses(rule.expression)
        for other in found:
            if all(patterns.like(w, other.expression) for w in witnesses) and patterns.contains(
                other.expression, rule.expression
            ):
                return other, False
        return None, False

    def _literal_in_wildcards(self, rule: _Rule, shape: _Shape) -> tuple[_Rule | None, bool]:
        return self.literal_container(rule, shape.prefix)

    def literal_container(self, rule: _Rule, folded: str) -> tuple[_Rule | None, bool]:
        """`wildcard_container` of a literal rule whose folded text is `folded`."""
        if not self.wildcards:
            return None, False
        text = rule.expression
        cheap = [
            r for r in self.single.candidates(folded, folded, rule.order) if self._fits(r, text)
        ]
        if cheap:
            return max(cheap, key=_order), True
        found = sorted(self.multi.candidates(folded, folded, rule.order), key=lambda r: -r.order)
        return next((r for r in found if patterns.like(text, r.expression)), None), False


def _order(rule: _Rule) -> int:
    return rule.order


def _witnesses(expression: str) -> tuple[str, str]:
    """Two strings the pattern matches (`%` empty, then `%` one character). A pattern that
    misses either cannot contain it: this spares most of the exact automaton checks."""
    filler = "\x01"
    shortest = expression.replace("%", "").replace("_", filler)
    longer = expression.replace("%", filler).replace("_", filler)
    return shortest, longer


def duplicate(rule: _Rule, twin: _Rule) -> Finding:
    return Finding(
        "duplicate",
        WARNING,
        f"{rule.label} duplicates {twin.label} ({twin.router}), which comes first: "
        f"it never routes mail{_still(rule)}.",
        rule.order,
    )


def shadowed(rule: _Rule, winner: _Rule) -> Finding:
    return Finding(
        "shadowed",
        WARNING,
        f"{rule.label} is shadowed by {winner.label} ({winner.router}), which matches "
        f"every address it does: it never routes mail{_still(rule)}.",
        rule.order,
    )


def _still(rule: _Rule) -> str:
    return " (it still counts for smtpd's defined router)" if rule.router == "store" else ""


def shadow_findings(rules: list[_Rule], index: RuleIndex) -> Iterator[Finding]:
    """Rules that can never win: an exact duplicate or one higher pattern matches every
    address they match. `rules` comes highest order first; `index` holds them all."""
    first_seen: dict[str, _Rule] = {}
    for rule in rules:
        twin = first_seen.setdefault(rule.expression, rule)
        if twin is not rule:
            yield duplicate(rule, twin)
            continue
        winner = index.container(rule)
        if winner is not None:
            yield shadowed(rule, winner)
