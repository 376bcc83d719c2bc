"""`user_authdata` exactly as cmail's daemons check it (reference §2), and the sample's oddities."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from core import passwords
from core.passwords import classify, digest, hash_password, inspect, make_salt, verify

CBDEV_HEX = "d5479edda2db0632bc0eee748fbff0d9dd630b328735c12446fe7f54ab299ece"
C_TOOL_EXAMPLE = "1GEBX6QQ9D:0a4ad43e302414332d7e8564ca7075a46b6b9ccffd70c4847da3b4ae58173602"


def sample_authdata(path: Path) -> dict[str, str | None]:
    connection = sqlite3.connect(str(path))
    try:
        return dict(connection.execute("SELECT user_name, user_authdata FROM users"))
    finally:
        connection.close()


def test_salt_shape() -> None:
    salts = {make_salt() for _ in range(200)}
    assert all(re.fullmatch(r"[A-Za-z0-9]{10}", s) for s in salts)
    assert len(salts) == 200  # drawn from a CSPRNG, not a constant


def test_hash_format_and_round_trip() -> None:
    value = hash_password("s3cret ü")
    salt, colon, hexpart = value.partition(":")
    assert colon and re.fullmatch(r"[0-9a-f]{64}", hexpart) and len(salt) == 10
    assert hexpart == hashlib.sha256((salt + "s3cret ü").encode("utf-8")).hexdigest()
    assert verify(value, "s3cret ü") and not verify(value, "s3cret u")
    assert classify(value).status == "ok"


def test_reference_examples(sample_path: Path) -> None:
    stored = sample_authdata(sample_path)["cbdev"]
    assert stored == f"cbdev:{CBDEV_HEX}"
    assert verify(stored, "cbdev") and not verify(stored, "nulltest")
    assert verify(C_TOOL_EXAMPLE, "cbdev")  # made by cmail-admin-user
    assert verify(sample_authdata(sample_path)["mpease"], "mpease")  # legacy 8-hex salt
    assert verify(sample_authdata(sample_path)["nulltest"], "cbdev")  # copied value


def test_uppercase_hex_never_verifies() -> None:
    upper = f"cbdev:{CBDEV_HEX.upper()}"
    assert not verify(upper, "cbdev")
    assert classify(upper) == passwords.AuthdataState("malformed", "hash part is not lowercase hex")


def test_empty_salt_verifies() -> None:
    value = ":" + hashlib.sha256(b"pw").hexdigest()
    assert verify(value, "pw") and classify(value).status == "ok"


@pytest.mark.parametrize(
    ("value", "password"),
    [
        (None, "x"),
        ("", ""),
        ("no colon at all", "no colon at all"),
        ("a:b:" + hashlib.sha256(b"a:bpw").hexdigest(), "pw"),  # the salt ends at the first ':'
        ("a:b:" + hashlib.sha256(b"apw").hexdigest(), "pw"),
        (f"cbdev:{CBDEV_HEX}\n", "cbdev"),
    ],
)
def test_values_the_daemons_refuse(value: str | None, password: str) -> None:
    assert not verify(value, password)


def test_digest_is_salt_then_password() -> None:
    assert digest("Rzed83IDGr", "cdbev") == hashlib.sha256(b"Rzed83IDGrcdbev").hexdigest()


def test_classify_every_sample_user(sample_path: Path) -> None:
    rows = sorted(sample_authdata(sample_path).items())
    states = inspect(rows)
    assert {n for n, s in states.items() if s.status == "disabled"} == {
        "postmaster",
        "foomatic",
        "foo",
    }
    assert {n for n, s in states.items() if s.status == "malformed"} == {"user"}
    assert states["user"].reason == "hash part has 65 characters, not 64"
    assert states["cbdev"].shared_with == ("nulltest",)
    assert states["nulltest"].shared_with == ("cbdev",)
    assert all(s.shared_with == () for n, s in states.items() if n not in ("cbdev", "nulltest"))
    # Every remaining user has a well-formed value (whether anyone knows the password or not).
    assert {n for n, s in states.items() if s.status == "ok"} == set(states) - {
        "postmaster",
        "foomatic",
        "foo",
        "user",
    }
    assert len(states) == 14


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty string instead of NULL"),
        (f"cbdev:{CBDEV_HEX}\n", "leading or trailing whitespace"),
        ("nocolon", "no colon between salt and hash"),
        ("s:" + "g" * 64, "hash part is not hex"),
    ],
)
def test_classify_malformed(value: str, reason: str) -> None:
    assert classify(value) == passwords.AuthdataState("malformed", reason)


def test_password_problems() -> None:
    assert passwords.password_problem("fine") is None
    assert "NUL" in passwords.password_problem("a\x00b")
    assert passwords.password_problem("x" * 256) is None
    assert "256" in passwords.password_problem("x" * 257)
