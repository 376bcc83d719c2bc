"""cmail's `user_authdata`: `<salt>:<lowercase hex sha256(salt || password)>`, NULL = no login."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections import Counter
from dataclasses import dataclass

SALT_ALPHABET = string.ascii_letters + string.digits
SALT_LENGTH = 10  # what cmail-admin-user writes
MAX_PASSWORD_LENGTH = 256  # cmail-admin-user's prompt limit
_HEX = frozenset("0123456789abcdef")


def make_salt() -> str:
    # secrets.choice draws uniformly: no modulo bias, unlike the C tool.
    return "".join(secrets.choice(SALT_ALPHABET) for _ in range(SALT_LENGTH))


def digest(salt: str, password: str) -> str:
    return hashlib.sha256((salt + password).encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    salt = make_salt()
    return f"{salt}:{digest(salt, password)}"


def verify(authdata: str | None, password: str) -> bool:
    """What the daemons accept: salt up to the first colon, exact lowercase hex after it."""
    if authdata is None or ":" not in authdata:
        return False
    salt, _, stored = authdata.partition(":")
    try:
        computed = digest(salt, password)
    except UnicodeEncodeError:
        return False  # not UTF-8 (undecodable bytes): no stored password can match it
    return hmac.compare_digest(stored.encode("utf-8"), computed.encode("utf-8"))


def password_problem(password: str) -> str | None:
    """Why cmail could not use this password, or None. The daemons read C strings."""
    if "\x00" in password:
        return "a password cannot contain a NUL character"
    if not password.isascii():
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:
            return "a password must be valid UTF-8 text"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password can be at most {MAX_PASSWORD_LENGTH} characters long"
    return None


@dataclass(frozen=True)
class AuthdataState:
    """Classification of a stored value, for lists and the lint."""

    status: str  # "ok", "disabled", "malformed"
    reason: str | None = None
    shared_with: tuple[str, ...] = ()


def classify(authdata: str | None) -> AuthdataState:
    if authdata is None:
        return AuthdataState("disabled", "login is disabled (NULL)")
    if authdata == "":
        return AuthdataState("malformed", "empty string instead of NULL")
    if authdata != authdata.strip():
        return AuthdataState("malformed", "leading or trailing whitespace")
    if ":" not in authdata:
        return AuthdataState("malformed", "no colon between salt and hash")
    salt, _, hexpart = authdata.partition(":")
    if len(hexpart) != 64:
        return AuthdataState("malformed", f"hash part has {len(hexpart)} characters, not 64")
    if not set(hexpart) <= _HEX:
        if set(hexpart.lower()) <= _HEX:
            return AuthdataState("malformed", "hash part is not lowercase hex")
        return AuthdataState("malformed", "hash part is not hex")
    if salt == "":
        # The daemons accept it, but an unsalted hash is open to precomputed tables.
        return AuthdataState("ok", "empty salt: the password hash is unsalted")
    return AuthdataState("ok")


def inspect(rows: list[tuple[str, str | None]]) -> dict[str, AuthdataState]:
    """Classify every user's authdata, and flag values that several users share."""
    counts = Counter(authdata for _, authdata in rows if authdata)
    owners: dict[str, list[str]] = {}
    for name, authdata in rows:
        if authdata and counts[authdata] > 1:
            owners.setdefault(authdata, []).append(name)
    result = {}
    for name, authdata in rows:
        state = classify(authdata)
        if authdata and counts[authdata] > 1:
            others = tuple(n for n in owners[authdata] if n != name)
            state = AuthdataState(state.status, state.reason, others)
        result[name] = state
    return result
