"""Which rule can never win: pattern containment through a literal prefix/suffix index.

A pattern H can only contain (or match) R if H's literal suffix ends R's and H's literal prefix
starts R's, so a lookup compares a rule only with the few higher rules whose literal ends fit
(reference §3.2, §3.9). The streamed lint keeps only the wildcard rules here (few), added as the
rules stream past highest order first, so every rule is checked against all rules above it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from core import patterns
from core.patterns import fold
from core.services.lint.model import WARNING, Finding
from core.services.lint.scratch import Scratch


@dataclass(frozen=True, slots=True)
class _Rule:
    order: int
    expression: str
    router: str
    route: str | None

    @property
    def label(self) -> str:
        return f"#{self.order} {self.expression}"


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


class _Wildcards(ABC):
    """The containment questions about wildcard rules, asked of `candidates`: the rules whose
    literal ends fit, however an index keeps them."""

    wildcards = 0  # wildcard rules added so far

    @abstractmethod
    def candidates(
        self, prefix: str, suffix: str, above: int | None = None
    ) -> tuple[list[_Rule], list[_Rule]]:
        """The wildcard rules (single-`%` ones, then the others) whose literal suffix ends
        `suffix` and whose literal prefix starts `prefix` (both folded), optionally only those
        ordered above `above`; in no particular order."""

    @staticmethod
    def _fits(outer: _Rule, text: str) -> bool:
        """A single-`%` pattern whose ends fit a literal text matches it if it is long enough
        for both ends: its length without the `%`."""
        return len(text) >= len(outer.expression) - 1

    def wildcard_matches(self, text: str, above: int | None = None) -> list[_Rule]:
        """The wildcard rules `text LIKE expression` (above an order), in no particular order."""
        folded = fold(text)
        single, multi = self.candidates(folded, folded, above)
        found = [r for r in single if self._fits(r, text)]
        return found + [r for r in multi if patterns.like(text, r.expression)]

    def wildcard_container(self, rule: _Rule, shape: _Shape) -> tuple[_Rule | None, bool]:
        """The container of `rule` among the wildcard rules above it, and whether it is a cheap
        one (single `%`: then an equal literal above, if any, competes with it by order)."""
        if not self.wildcards:
            return None, False
        if not shape.wild:
            return self.literal_container(rule, shape.prefix)
        return self._container(rule, *self.candidates(shape.prefix, shape.suffix, rule.order))

    def twin_or_container(self, rule: _Rule, shape: _Shape) -> tuple[_Rule | None, _Rule | None]:
        """For a wildcard rule: the highest wildcard above it with the same exact text (its
        twin: then no container is looked for), else its container among those above it."""
        if not self.wildcards:
            return None, None
        single, multi = self.candidates(shape.prefix, shape.suffix, rule.order)
        # A twin has the same literal ends, so it is among the candidates.
        twins = [r for r in (*single, *multi) if r.expression == rule.expression]
        if twins:
            return max(twins, key=_order), None
        return None, self._container(rule, single, multi)[0]

    @staticmethod
    def _container(
        rule: _Rule, single: list[_Rule], multi: list[_Rule]
    ) -> tuple[_Rule | None, bool]:
        if single:
            return max(single, key=_order), True
        witnesses = _witnesses(rule.expression)
        for other in sorted(multi, key=lambda r: -r.order):
            if all(patterns.like(w, other.expression) for w in witnesses) and patterns.contains(
                other.expression, rule.expression
            ):
                return other, False
        return None, False

    def literal_container(self, rule: _Rule, folded: str) -> tuple[_Rule | None, bool]:
        """`wildcard_container` of a literal rule whose folded text is `folded`."""
        if not self.wildcards:
            return None, False
        text = rule.expression
        single, multi = self.candidates(folded, folded, rule.order)
        cheap = [r for r in single if self._fits(r, text)]
        if cheap:
            return max(cheap, key=_order), True
        found = sorted(multi, key=lambda r: -r.order)
        return next((r for r in found if patterns.like(text, r.expression)), None), False


class MemoryIndex(_Wildcards):
    """Rules by their literal ends, in memory, for a list of rules checked at once
    (`shadow_findings`; the streamed lint keeps its wildcards in a PadIndex instead). Patterns
    with a single `%` are kept apart: for them fitting ends (and length) decide containment
    exactly. Rules are added highest order first. (Not core.rule_index.RuleIndex, the rule
    filter's side index.)"""

    def __init__(self, rules: Iterable[_Rule] = ()) -> None:
        self.literal: dict[str, list[_Rule]] = defaultdict(list)
        self.single, self.multi = _Buckets(), _Buckets()
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

    def candidates(
        self, prefix: str, suffix: str, above: int | None = None
    ) -> tuple[list[_Rule], list[_Rule]]:
        return (
            list(self.single.candidates(prefix, suffix, above)),
            list(self.multi.candidates(prefix, suffix, above)),
        )

    def matches(self, text: str, above: int | None = None) -> list[_Rule]:
        """Every rule `text LIKE expression` (above an order), highest first, as smtpd's query."""
        found = [r for r in self.literal.get(fold(text), ()) if above is None or r.order > above]
        return sorted(found + self.wildcard_matches(text, above), key=lambda r: -r.order)

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


class _Filter:
    """A set of keys that answers "maybe" or "no" in a few bits each (a Bloom filter with two
    bits per key, both taken from Python's hash): the pad index asks it before the scratch pad,
    so a text whose ends fit no wildcard costs no query. About one "maybe" in 70 is wrong."""

    def __init__(self, bits: int) -> None:
        self.mask = bits - 1  # bits: a power of two, at most 2**32
        self.bytes = bytearray(bits >> 3)
        self.keys = 0

    def add(self, key: object) -> None:
        self.keys += 1
        code = hash(key)
        for bit in (code & self.mask, (code >> 32) & self.mask):
            self.bytes[bit >> 3] |= 1 << (bit & 7)

    def __contains__(self, key: object) -> bool:
        code = hash(key)
        bit, other = code & self.mask, (code >> 32) & self.mask
        return bool(self.bytes[bit >> 3] >> (bit & 7) & self.bytes[other >> 3] >> (other & 7) & 1)


_FILTER_BITS = 1 << 16  # 8 KiB to start with
_FILTER_MAX_BITS = 1 << 23  # 1 MiB: past that, wrong "maybe"s cost queries, not memory
_BITS_PER_KEY = 16


class PadIndex(_Wildcards):
    """The wildcard rules of a streamed lint, kept in the scratch pad rather than in memory (a
    million users' configuration has some 10,000 catch-alls: 3.5 MB of objects here). A filter
    of their literal ends (a few bytes each) spares the query for a text that fits none; the
    rules added since the last `flush()` (one chunk's) wait in memory. Rules are added highest
    order first."""

    def __init__(self, scratch: Scratch) -> None:
        self.scratch = scratch
        self._single, self._multi = _Buckets(), _Buckets()  # added since the last flush
        self._pending: list[tuple[_Rule, _Shape]] = []
        self._ends = _Filter(_FILTER_BITS)  # each flushed suffix, and (suffix, prefix)
        self._suffix_lengths: list[int] = []  # those flushed, sorted
        self._prefix_lengths: dict[int, list[int]] = {}  # suffix length → prefix lengths, sorted

    def add(self, rule: _Rule, shape: _Shape) -> None:
        """Add a wildcard rule ordered below every rule added so far."""
        self.wildcards += 1
        (self._single if shape.single else self._multi).add(rule, shape)
        self._pending.append((rule, shape))

    def flush(self) -> None:
        """Move the rules added since the last flush to the scratch pad."""
        if not self._pending:
            return
        self.scratch.add_wilds(
            (s.suffix, s.prefix, r.order, r.expression, r.router, r.route, s.single)
            for r, s in self._pending
        )
        for _, shape in self._pending:
            self._ends.add(shape.suffix)
            self._ends.add((shape.suffix, shape.prefix))
            _add_length(self._suffix_lengths, len(shape.suffix))
            _add_length(self._prefix_lengths.setdefault(len(shape.suffix), []), len(shape.prefix))
        self._single, self._multi, self._pending = _Buckets(), _Buckets(), []
        bits = self._ends.mask + 1
        if self._ends.keys * _BITS_PER_KEY > bits and bits < _FILTER_MAX_BITS:
            self._grow(bits)

    def _grow(self, bits: int) -> None:
        """A bigger filter, from the pad's distinct ends."""
        while self._ends.keys * _BITS_PER_KEY > bits and bits < _FILTER_MAX_BITS:
            bits *= 2
        ends = _Filter(bits)
        last = None
        for suffix, prefix in self.scratch.wild_ends():
            if suffix != last:
                ends.add(suffix)
                last = suffix
            ends.add((suffix, prefix))
        self._ends = ends

    def candidates(
        self, prefix: str, suffix: str, above: int | None = None
    ) -> tuple[list[_Rule], list[_Rule]]:
        single: list[_Rule] = []
        multi: list[_Rule] = []
        for length in self._suffix_lengths:
            if length > len(suffix):
                break
            end = suffix[len(suffix) - length :]
            if end not in self._ends:
                continue
            for size in self._prefix_lengths[length]:
                if size > len(prefix):
                    break
                if (end, prefix[:size]) not in self._ends:
                    continue
                for order, text, router, route, is_single in self.scratch.wilds(
                    end, prefix[:size], above
                ):
                    (single if is_single else multi).append(_Rule(order, text, router, route))
        single += self._single.candidates(prefix, suffix, above)
        multi += self._multi.candidates(prefix, suffix, above)
        return single, multi


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


def shadow_findings(rules: list[_Rule], index: MemoryIndex) -> Iterator[Finding]:
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
