"""SQL LIKE exactly as cmail uses it (`? LIKE address_expression`): `%` is any run of characters,
`_` exactly one, no escape character, case-insensitive for ASCII letters only.

Beyond matching one address, the console needs to compare two patterns: whether every address one
pattern matches is also matched by another (containment: delegation scope, shadowed rules), and
whether two patterns share any address (overlap: what a reorder changes). Both are decided exactly,
on small automata, never by sampling.
"""

from __future__ import annotations

import re
from collections import deque
from functools import lru_cache

MAX_STATES = 200_000  # bounds the work on pathological patterns; beyond it we answer "no"

_ANY_ONE = "_"
_ANY_RUN = "%"
_OTHER = object()  # stands for every character that appears in neither pattern


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """SQLite's LIKE and lower() fold ASCII letters only."""
    # str.lower() is several times faster, and the same on ASCII text.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == _ANY_RUN:
            parts.append(".*")
        elif char == _ANY_ONE:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | re.IGNORECASE | re.ASCII)


def like(value: str, pattern: str) -> bool:
    """`value LIKE pattern` as SQLite evaluates it."""
    return _regex(pattern).fullmatch(value) is not None


def has_wildcards(pattern: str) -> bool:
    return _ANY_RUN in pattern or _ANY_ONE in pattern


class _Automaton:
    """NFA of a LIKE pattern: state i means "the first i characters of the pattern are matched"."""

    def __init__(self, pattern: str) -> None:
        self.tokens = [c if c in (_ANY_RUN, _ANY_ONE) else fold(c) for c in pattern]
        self.final = len(self.tokens)

    def closure(self, states: frozenset[int]) -> frozenset[int]:
        result = set(states)
        stack = list(states)
        while stack:
            state = stack.pop()
            if state < self.final and self.tokens[state] == _ANY_RUN and state + 1 not in result:
                result.add(state + 1)
                stack.append(state + 1)
        return frozenset(result)

    def step(self, states: frozenset[int], symbol: object) -> frozenset[int]:
        moved = set()
        for state in states:
            if state == self.final:
                continue
            token = self.tokens[state]
            if token == _ANY_RUN:
                moved.add(state)
            elif token in (_ANY_ONE, symbol):
                moved.add(state + 1)
        return self.closure(frozenset(moved))

    def start(self) -> frozenset[int]:
        return self.closure(frozenset({0}))

    def accepts(self, states: frozenset[int]) -> bool:
        return self.final in states

    def literals(self) -> set[str]:
        return {t for t in self.tokens if t not in (_ANY_RUN, _ANY_ONE)}


def _alphabet(a: _Automaton, b: _Automaton) -> list[object]:
    return [*sorted(a.literals() | b.literals()), _OTHER]


@lru_cache(maxsize=16384)
def contains(outer: str, inner: str) -> bool:
    """True when every string matching `inner` also matches `outer`.

    A delegation `_@example.com` does not contain `%@example.com`, although the text
    `%@example.com` is LIKE `_@example.com`: this is the check the PHP API got wrong."""
    if outer == inner or (outer.strip(_ANY_RUN) == "" and _ANY_RUN in outer):
        return True
    big, small = _Automaton(outer), _Automaton(inner)
    symbols = _alphabet(big, small)
    start = (small.start(), big.start())
    seen = {start}
    queue = deque([start])
    while queue:
        small_states, big_states = queue.popleft()
        if small.accepts(small_states) and not big.accepts(big_states):
            return False
        for symbol in symbols:
            nxt_small = small.step(small_states, symbol)
            if not nxt_small:
                continue
            pair = (nxt_small, big.step(big_states, symbol))
            if pair not in seen:
                if len(seen) >= MAX_STATES:
                    return False
                seen.add(pair)
                queue.append(pair)
    return True


@lru_cache(maxsize=16384)
def overlaps(first: str, second: str) -> bool:
    """True when some string matches both patterns."""
    one, two = _Automaton(first), _Automaton(second)
    symbols = _alphabet(one, two)
    start = (one.start(), two.start())
    seen = {start}
    queue = deque([start])
    while queue:
        a, b = queue.popleft()
        if one.accepts(a) and two.accepts(b):
            return True
        for symbol in symbols:
            pair = (one.step(a, symbol), two.step(b, symbol))
            if pair[0] and pair[1] and pair not in seen:
                if len(seen) >= MAX_STATES:
                    return True
                seen.add(pair)
                queue.append(pair)
    return False


def example(first: str, second: str | None = None) -> str | None:
    """A shortest string matching `first` (and `second`, if given), or None; for messages."""
    one = _Automaton(first)
    two = _Automaton(second if second is not None else first)
    symbols = _alphabet(one, two)
    start = (one.start(), two.start())
    parents: dict[tuple[frozenset[int], frozenset[int]], tuple[object, object] | None] = {
        start: None
    }
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if one.accepts(node[0]) and two.accepts(node[1]):
            chars = []
            while parents[node] is not None:
                previous, symbol = parents[node]
                chars.append("x" if symbol is _OTHER else symbol)
                node = previous
            return "".join(reversed(chars))
        for symbol in symbols:
            pair = (one.step(node[0], symbol), two.step(node[1], symbol))
            if pair[0] and pair[1] and pair not in parents:
                if len(parents) >= MAX_STATES:
                    return None
                parents[pair] = (node, symbol)
                queue.append(pair)
    return None
