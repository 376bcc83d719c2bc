"""core.patterns against the ground truth: SQLite's own LIKE, and brute force for pattern pairs."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.patterns import contains, example, has_wildcards, like, overlaps

# ASCII letters in both cases, wildcards, non-ASCII letters SQLite does not fold (Ä/ä, ß), and
# characters Unicode folds onto ASCII (Kelvin sign, long s) which SQLite must not match.
CHARS = "aAbBzZkK%_@.-Ääß\u212a\u017f\n "
BRUTE_ALPHABET = "abA%_x"


@pytest.fixture(scope="module")
def sqlite() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    yield connection
    connection.close()


def sqlite_like(connection: sqlite3.Connection, value: str, pattern: str) -> bool:
    return connection.execute("SELECT ? LIKE ?", (value, pattern)).fetchone()[0] == 1


texts = st.text(alphabet=CHARS, max_size=8)


@settings(max_examples=600, deadline=None)
@given(value=texts, pattern=texts)
def test_like_agrees_with_sqlite(sqlite: sqlite3.Connection, value: str, pattern: str) -> None:
    assert like(value, pattern) == sqlite_like(sqlite, value, pattern)


@settings(max_examples=300, deadline=None)
@given(pattern=texts, data=st.data())
def test_like_agrees_with_sqlite_on_matching_values(
    sqlite: sqlite3.Connection, pattern: str, data: st.DataObject
) -> None:
    """Random pairs rarely match; build values from the pattern so matches are tested too."""
    fill = {"%": st.text(alphabet=CHARS, max_size=3), "_": st.sampled_from(CHARS)}
    parts = [data.draw(fill[c]) if c in fill else c for c in pattern]
    value = data.draw(st.sampled_from(["".join(parts), "".join(parts).swapcase()]))
    assert like(value, pattern) == sqlite_like(sqlite, value, pattern)


@pytest.mark.parametrize(
    ("value", "pattern", "result"),
    [
        ("", "", True),
        ("", "%", True),
        ("", "_", False),
        ("Alice@Example.COM", "alice@example.com", True),
        ("Ärger@x", "ärger@x", False),  # only ASCII folds
        ("k", "\u212a", False),  # the Kelvin sign is not K
        ("s", "\u017f", False),  # nor is the long s an s
        ("a\nb", "a_b", True),
        ("100%", "100%", True),  # no escape character: % in a pattern is always a wildcard
    ],
)
def test_like_examples(sqlite: sqlite3.Connection, value: str, pattern: str, result: bool):
    assert like(value, pattern) is result
    assert sqlite_like(sqlite, value, pattern) is result


# --- containment and overlap, decided exactly ------------------------------------------------


def _all(alphabet: str, longest: int) -> list[str]:
    return ["".join(p) for n in range(longest + 1) for p in itertools.product(alphabet, repeat=n)]


@pytest.fixture(scope="module")
def universe(sqlite: sqlite3.Connection) -> tuple[list[str], dict[str, int]]:
    """Every pattern up to length 3 and, as a bitmask, which strings up to length 4 it matches."""
    strings = _all(BRUTE_ALPHABET, 4)
    patterns = _all(BRUTE_ALPHABET, 3)
    masks = {}
    for pattern in patterns:
        masks[pattern] = sum(1 << i for i, s in enumerate(strings) if like(s, pattern))
    # The brute force rests on like(): check it against SQLite on this whole universe too.
    for pattern in ("", "%", "a_", "%A%", "_%b", "x%_"):
        expected = [sqlite_like(sqlite, s, pattern) for s in strings]
        assert [like(s, pattern) for s in strings] == expected
    return patterns, masks


def test_contains_and_overlaps_agree_with_brute_force(
    universe: tuple[list[str], dict[str, int]],
) -> None:
    patterns, masks = universe
    wrong = []
    for outer, inner in itertools.product(patterns, repeat=2):
        contained = masks[inner] & ~masks[outer] == 0
        shared = masks[inner] & masks[outer] != 0
        if contains(outer, inner) != contained or overlaps(outer, inner) != shared:
            wrong.append((outer, inner))
    assert wrong == []


@settings(max_examples=300, deadline=None)
@given(
    outer=st.text(alphabet=BRUTE_ALPHABET, max_size=6),
    inner=st.text(alphabet=BRUTE_ALPHABET, max_size=6),
)
def test_longer_patterns_are_never_wrong_on_short_strings(outer: str, inner: str) -> None:
    """Beyond the exhaustive range, brute force can still refute a wrong yes/no."""
    strings = [s for s in _short_strings() if like(s, inner)]
    if contains(outer, inner):
        assert all(like(s, outer) for s in strings)
    if not overlaps(outer, inner):
        assert not any(like(s, outer) for s in strings)


_SHORT: list[str] = []


def _short_strings() -> list[str]:
    if not _SHORT:
        _SHORT.extend(_all(BRUTE_ALPHABET, 4))
    return _SHORT


def test_single_character_delegation_does_not_contain_any_length() -> None:
    """The PHP API's check: the text `%@example.com` is LIKE `_@example.com`, yet the pattern
    `%@example.com` matches `alice@example.com`, which `_@example.com` does not."""
    assert like("%@example.com", "_@example.com")
    assert not contains("_@example.com", "%@example.com")
    assert contains("%@example.com", "_@example.com")
    assert overlaps("_@example.com", "%@example.com")
    assert contains("%@EXAMPLE.com", "a@example.COM")  # ASCII case does not matter


def test_example_matches_both(universe: tuple[list[str], dict[str, int]]) -> None:
    patterns, masks = universe
    for first, second in itertools.product(patterns[:60], patterns):
        found = example(first, second)
        if masks[first] & masks[second]:
            assert found is not None and like(found, first) and like(found, second)
        else:
            assert found is None
    assert example("%@example.org") is not None and like(example("%@example.org"), "%@example.org")
    assert example("a%", "b%") is None


def test_has_wildcards() -> None:
    assert has_wildcards("a_b") and has_wildcards("%") and not has_wildcards("alice@x")
