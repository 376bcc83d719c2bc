"""The catalogue of hostile input (issue 6, bad input), shared by the service, CLI and TUI tests.

Every value here is something a person, a script or an attacker can type into the console or
pass on a command line. Each service input and each CLI argument is tried with these values,
alone, combined and embedded in ordinary text: the console must either store the value exactly
or refuse it with one sentence that names the field and the rule.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from hypothesis import strategies as st

from core.db import create_master, create_userdb
from core.passwords import hash_password

EMPTY = ("",)
WHITESPACE = (" ", "   ", "\u00a0", "\u3000", "\u2028", " bob", "bob ", " 5 ")
# NUL and C0/C1 control characters, one by one and inside text.
CONTROL = (
    "\x00",
    "a\x00b",
    "\x07",
    "\x1b[31m",
    "\r",
    "\n",
    "a\r\nb",
    "\x7f",
    "\x9b",
    "\x9b31m",
    "\x85",
    "\t",
    "\x08",
)
# Terminal escape sequences: colour, clear screen, window title, OSC 8 hyperlink.
ANSI = (
    "\x1b[31mred\x1b[0m",
    "\x1b[2J\x1b[H",
    "\x1b]0;owned\x07",
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
)
# Rich/Textual markup: must never be interpreted by the TUI.
MARKUP = (
    "[b]x[/b]",
    "[link=x]y[/link]",
    "[link=https://evil.example]z[/link]",
    "[/]",
    "[bold red]",
    "\\[b]",
    "[@click=app.quit]quit[/]",
)
LONG = ("a" * 2048, "é" * 1024, "%" * 2048, "x" * 299, "x" * 300)
# Lone surrogates: what Python makes of non-UTF-8 bytes in argv (surrogateescape).
NON_UTF8 = ("\udcff", "a\udcfeb", "\ud800")
WILDCARDS = ("%", "_", "%%", "a%b", "a_b", "%@%", "_@example.org", "100%")
# `:` where a salt (user_authdata) or a handoff route (`[user:pass@]host[:port[/tls]]`) is parsed.
COLONS = (
    ":",
    "a:b",
    "user:pw@host",
    "u:p@mx.example:25:extra",
    "mx.example:25:25",
    "u:p:q@mx.example",
    ":@mx.example",
    "u:p@mx.example:587/starttls:x",
    "mx.example:0",
    "mx.example:65536",
    "mx.example:25/ssl",
)
# Router names: unknown ones and the right ones in the wrong case or with spaces.
ROUTERS = (
    "Store",
    "STORE",
    "store ",
    " store",
    "stor",
    "Redirect",
    "HANDOFF",
    "Drop",
    "any ",
    "Any",
    "DEFINED",
    "unknown",
    "store\x00",
)
# Orders as typed: negative, zero, beyond 64 bits, and things that only look like numbers.
ORDERS = (
    "-1",
    "0",
    "-0",
    "+7",
    str(2**63),
    str(-(2**63) - 1),
    str(2**63 - 1),
    str(-(2**63)),
    "1e3",
    "0x10",
    " 5 ",
    "5.0",
    "1_000",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: int() reads it, cmail's strtol does not
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "\u22125",  # MINUS SIGN, not a hyphen
    "99999999999999999999999",
)
# The same as Python values (the service API takes ints or strings).
ORDER_OBJECTS: tuple[object, ...] = (-1, 0, 2**63, -(2**63) - 1, 2**63 - 1, -(2**63), True, 1.5)
# Names that look like numbers, are reserved by cmail's PHP API, or look like SQL.
NAMES = (
    "007",
    "0",
    "-1",
    "main",
    "temp",
    "MAIN",
    "admin",
    "delegate",
    "NULL",
    "sqlite_master",
    "O'Brien",
    "x'); DROP TABLE users;--",
    '"quoted"',
    "\u202eevil",
    "Ünïcødé",
    "😀",
)

ALL: tuple[str, ...] = tuple(
    dict.fromkeys(
        EMPTY
        + WHITESPACE
        + CONTROL
        + ANSI
        + MARKUP
        + LONG
        + NON_UTF8
        + WILDCARDS
        + COLONS
        + ROUTERS
        + ORDERS
        + NAMES
    )
)


def _argv_can_hold(value: str) -> bool:
    """argv is NUL-terminated bytes, decoded with surrogateescape: no NUL, and only the
    surrogates that stand for undecodable bytes."""
    try:
        os.fsencode(value)
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


# What a command line (or the environment) can carry.
ARGV: tuple[str, ...] = tuple(value for value in ALL if _argv_can_hold(value))
# Raw bytes for a real process's argv: not UTF-8 at all.
RAW_ARGV = (b"\xff\xfe", b"bob\xff", b"\xc3", b"\xed\xa0\x80")

# Ordinary text that hostile values are embedded in.
PLAIN = ("", "x", "bob", "x@example.org", "%@example.org")


def hostile() -> st.SearchStrategy[str]:
    """One catalogue value as is."""
    return st.sampled_from(ALL)


def embedded() -> st.SearchStrategy[str]:
    """A catalogue value inside ordinary text, or two of them joined."""
    return st.one_of(
        st.builds(
            lambda before, value, after: before + value + after,
            st.sampled_from(PLAIN),
            hostile(),
            st.sampled_from(PLAIN),
        ),
        st.lists(hostile(), min_size=2, max_size=3).map("".join),
    )


def text_input() -> st.SearchStrategy[str]:
    """Any string input: catalogue values (most often), combinations, and Hypothesis' own text."""
    return st.one_of(hostile(), hostile(), embedded(), st.text(max_size=6))


def order_input() -> st.SearchStrategy[object]:
    """An order as a caller may pass it: a typed string, a Python number, or any text."""
    return st.one_of(
        st.sampled_from(ORDERS),
        st.sampled_from(ORDER_OBJECTS),
        st.integers(min_value=-(2**64), max_value=2**64),
        text_input(),
    )


def router_input(valid: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A router: the valid ones (so routes get exercised) and the catalogue's wrong ones."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(ROUTERS), text_input())


# --- the seeded database the bad-input tests aim at -----------------------------------------------
MARKUP_USER = "[b]x[/b]\x1b[31m"
USERS = ("alice", "ops", "bob", "carol", "deleg", MARKUP_USER, "007", "Ünïcødé", "100%_off")
PASSWORD = "secret-pw"
MASTER_MAILS = (1, 2, 3)  # bob's
USERDB_MAILS = (1, 2)  # carol's, in her user database
RULES = {  # order → (expression, router, route)
    10: ("bob@example.org", "store", "bob"),
    20: ("%@example.org", "redirect", "(to-local)@other.example"),
    30: ("x@deleg.example", "store", "bob"),
    40: ("spam@example.org", "reject", "go away"),
    50: ("relay@example.org", "handoff", "u:pw@mx.example:25/tls"),
    60: ("[b]x[/b]@example.org", "store", MARKUP_USER),
}


def seed(master: Path, userdb: Path) -> None:
    """A small master database (and carol's user database) with every kind of row, some of
    them holding markup and escapes, for the bad-input tests to aim at."""
    create_master(str(master))
    create_userdb(str(userdb))
    connection = sqlite3.connect(master)
    with connection:
        for name in USERS:
            connection.execute(
                "INSERT INTO users (user_name, user_authdata) VALUES (?, ?)",
                (name, None if name == "carol" else hash_password(PASSWORD)),
            )
        connection.execute(
            "UPDATE users SET user_database = ? WHERE user_name = 'carol'", (str(userdb),)
        )
        connection.executemany(
            "INSERT INTO api_access VALUES (?, ?)",
            [("alice", "admin"), ("ops", "admin"), ("deleg", "delegate")],
        )
        connection.execute("INSERT INTO api_user_delegates VALUES ('deleg', 'bob')")
        connection.execute("INSERT INTO api_address_delegates VALUES ('deleg', '%@deleg.example')")
        connection.executemany(
            "INSERT INTO addresses (address_order, address_expression, address_router, "
            "address_route) VALUES (?, ?, ?, ?)",
            [(order, *rule) for order, rule in RULES.items()],
        )
        connection.execute("INSERT INTO smtpd VALUES ('bob', 'defined', NULL)")
        connection.execute("INSERT INTO smtpd VALUES (?, 'handoff', ?)", (MARKUP_USER, MARKUP[0]))
        connection.executemany(
            "INSERT INTO popd VALUES (?, ?)",
            [("bob", 1), ("carol", 0), (MARKUP_USER, 1), ("Ünïcødé", 0)],
        )
        for mail_id in MASTER_MAILS:
            connection.execute(
                "INSERT INTO mailbox (mail_id, mail_user, mail_envelopeto, mail_envelopefrom, "
                "mail_data) VALUES (?, 'bob', 'bob@example.org', 'x@example.net', ?)",
                (mail_id, b"Subject: hi\r\n\r\nbody"),
            )
    connection.close()
    connection = sqlite3.connect(userdb)
    with connection:
        for mail_id in USERDB_MAILS:
            connection.execute(
                "INSERT INTO mailbox (mail_id, mail_user, mail_envelopeto, mail_envelopefrom, "
                "mail_data) VALUES (?, 'carol', 'carol@example.org', 'y@example.net', ?)",
                (mail_id, b"Subject: yo\r\n\r\nbody"),
            )
    connection.close()
