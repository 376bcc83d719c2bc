"""A small, realistic demo master database for trying the console without touching real mail.

Everything is fixed (names, rules, timestamps) except password salts. Logins:
admin/admin (admin), delegate/delegate (delegate of bob, carol and dave and of `%@example.org`),
alice/alice (plain user). The other accounts with a login use their name as password: al (an
alias of alice), bob, dave, erin. carol, shop and postmaster have no login.
bob keeps his mail in a user database next to the master file.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from core.db import create_master, create_userdb, translate
from core.errors import CmailError, Conflict, Invalid, StorageError
from core.passwords import hash_password


@dataclass(frozen=True)
class DemoLogin:
    user: str
    password: str
    role: str


@dataclass(frozen=True)
class DemoInfo:
    path: str
    userdb_path: str
    logins: tuple[DemoLogin, ...]


LOGINS = (
    DemoLogin("admin", "admin", "admin"),
    DemoLogin("delegate", "delegate", "delegate"),
    DemoLogin("alice", "alice", "user"),
)

# name → (password or None for no login, alias target)
_USERS: tuple[tuple[str, str | None, str | None], ...] = (
    ("admin", "admin", None),
    ("delegate", "delegate", None),
    ("alice", "alice", None),
    ("al", "al", "alice"),
    ("bob", "bob", None),
    ("carol", None, None),
    ("dave", "dave", None),
    ("erin", "erin", None),
    ("shop", None, None),
    ("postmaster", None, None),
)
_PERMISSIONS = (("admin", "admin"), ("delegate", "delegate"))
_DELEGATED_USERS = (("delegate", "bob"), ("delegate", "carol"), ("delegate", "dave"))
_DELEGATED_EXPRESSIONS = (("delegate", "%@example.org"),)

_RELAY = "smtp.relay.example.net:587/starttls"
# (order, expression, router, route): higher order wins, so catch-alls sit low.
_ADDRESSES = (
    (1, "postmaster@%", "store", "postmaster"),
    (10, "%@example.org", "store", "bob"),
    (11, "%@shop.example.net", "handoff", _RELAY),
    (100, "alice@example.com", "store", "alice"),
    (101, "al@example.com", "redirect", "alice@example.com"),
    (102, "admin@example.com", "store", "admin"),
    (103, "info@example.com", "store", "admin"),
    (104, "erin@example.com", "store", "erin"),
    (105, "noreply@example.com", "drop", None),
    (200, "bob@example.org", "store", "bob"),
    (201, "carol@example.org", "store", "carol"),
    (202, "dave@example.org", "store", "dave"),
    (203, "info@example.org", "redirect", "(to-local)@example.com"),
    (204, "archive@example.org", "redirect", "archive+(from-local).(from-domain)@example.com"),
    (300, "orders@shop.example.net", "store", "shop"),
    (301, "old@shop.example.net", "reject", "This address is no longer in use."),
    (302, "spam@shop.example.net", "drop", None),
)
# Every outbound router once; al has no row of its own (an alias uses alice's).
_SMTPD = (
    ("admin", "any", None),
    ("alice", "defined", None),
    ("bob", "defined", None),
    ("dave", "handoff", _RELAY),
    ("erin", "reject", "Sending is disabled for this account."),
    ("carol", "drop", None),
)
# dave's maildrop is locked, as a crashed POP session leaves it.
_POPD = (("alice", 0), ("bob", 0), ("dave", 1), ("admin", 0))

_T0 = 1735732800  # 2025-01-01 12:00:00 UTC


def _message(sender: str, to: str, subject: str, when: str, body: str) -> str:
    lines = [
        f"Received: from mx.example.net by mail.example.com for {to} with esmtps; {when}",
        f"Date: {when}",
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        "",
    ]
    return "\r\n".join(lines)


# (user, read, ident, to, from, submission offset, submitter, proto, subject, body)
_MASTER_MAILS = (
    ("alice", 1, "A1B2C3D4E5F60718.0000001-mail", "alice@example.com", "bob@example.org", 0,
     "mx.example.org", "esmtps", "Hi", "Lunch on Friday?"),
    ("alice", 0, "A1B2C3D4E5F60719.0000002-mail", "alice@example.com", "news@example.net", 3600,
     "mx.example.net", "esmtp", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Viele Grüße."),
    ("alice", 0, "A1B2C3D4E5F6071A.0000003-mail", "al@example.com", "", 7200,
     "localhost", "esmtp", "Delivery report", "A bounce, with the empty reverse path."),
    ("admin", 0, "A1B2C3D4E5F6071B.0000004-mail", "info@example.com", "dave@example.org", 86400,
     "mail.example.org", "esmtpsa", "Quota for shop", "Can the shop mailbox get more space?"),
    ("dave", 0, "A1B2C3D4E5F6071C.0000005-mail", "dave@example.org", "alice@example.com", 90000,
     "mail.example.com", "esmtpsa", "Re: Hi", "See you there."),
    ("bob", 1, "A1B2C3D4E5F6071D.0000006-mail", "bob@example.org", "carol@example.org", 100,
     "mail.example.org", "esmtpa", "Old mail in master", "Delivered before bob had a user db."),
)  # fmt: skip
_USERDB_MAILS = (
    ("bob", 0, "B1B2C3D4E5F60718.0000007-mail", "bob@example.org", "alice@example.com", 172800,
     "mail.example.com", "esmtpsa", "Project plan", "Draft attached (not really)."),
    ("bob", 0, "B1B2C3D4E5F60719.0000008-mail", "lists@example.org", "orders@shop.example.net",
     176400, "mx.example.net", "esmtps", "Your order 1042", "Shipped today."),
)  # fmt: skip


def _mail_rows(mails: tuple[tuple, ...]) -> list[tuple]:
    rows = []
    for user, read, ident, to, sender, offset, submitter, proto, subject, body in mails:
        when = formatdate(_T0 + offset, usegmt=True)
        data = _message(sender or "MAILER-DAEMON@example.com", to, subject, when, body)
        rows.append((user, read, ident, to, sender, str(_T0 + offset), submitter, proto, data))
    return rows


_INSERT_MAIL = (
    "INSERT INTO mailbox (mail_user, mail_read, mail_ident, mail_envelopeto, mail_envelopefrom, "
    "mail_submission, mail_submitter, mail_proto, mail_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def userdb_path_for(path: str) -> str:
    """Where the demo keeps bob's user database: next to the master file."""
    master = Path(os.path.abspath(path))
    return str(master.with_name(master.stem + "-userdb.db3"))


def _fill_master(connection: sqlite3.Connection, userdb: str) -> None:
    connection.executemany(
        "INSERT INTO users (user_name, user_authdata) VALUES (?, ?)",
        [(name, hash_password(pw) if pw else None) for name, pw, _ in _USERS],
    )
    connection.executemany(
        "UPDATE users SET user_alias = ? WHERE user_name = ?",
        [(alias, name) for name, _, alias in _USERS if alias],
    )
    connection.execute("UPDATE users SET user_database = ? WHERE user_name = 'bob'", (userdb,))
    connection.executemany("INSERT INTO api_access VALUES (?, ?)", _PERMISSIONS)
    connection.executemany("INSERT INTO api_user_delegates VALUES (?, ?)", _DELEGATED_USERS)
    connection.executemany(
        "INSERT INTO api_address_delegates VALUES (?, ?)", _DELEGATED_EXPRESSIONS
    )
    connection.executemany(
        "INSERT INTO addresses (address_order, address_expression, address_router, "
        "address_route) VALUES (?, ?, ?, ?)",
        _ADDRESSES,
    )
    connection.executemany(
        "INSERT INTO smtpd (smtpd_user, smtpd_router, smtpd_route) VALUES (?, ?, ?)", _SMTPD
    )
    connection.executemany("INSERT INTO popd (pop_user, pop_lock) VALUES (?, ?)", _POPD)
    connection.executemany(_INSERT_MAIL, _mail_rows(_MASTER_MAILS))


def _fill(path: str, fill, *args: object) -> None:
    """Run `fill` in one transaction with foreign keys on, as cmail's programs connect."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("BEGIN IMMEDIATE")
        fill(connection, *args)
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        raise translate(error) from None
    finally:
        if connection.in_transaction:
            connection.rollback()
        connection.close()


def _fill_userdb(connection: sqlite3.Connection) -> None:
    connection.executemany(_INSERT_MAIL, _mail_rows(_USERDB_MAILS))


def create_demo(path: str) -> DemoInfo:
    """Create the demo master database at `path` (and its parent directory) plus bob's user
    database next to it. Refuses an existing file; leaves nothing behind when it fails."""
    path = os.path.abspath(path)
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            # bob's user-database path is stored in the master database, which holds UTF-8 only.
            raise Invalid("path", f"The demo path {path!r} must be valid UTF-8 text.") from None
    userdb = userdb_path_for(path)
    for existing in (path, userdb):
        if os.path.exists(existing):
            raise Conflict(f"{existing} already exists; the demo never overwrites a file.")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as error:
        raise StorageError(f"Cannot create the directory for {path}: {error.strerror}.") from None
    created: list[str] = []
    try:
        create_master(path)
        created.append(path)
        create_userdb(userdb)
        created.append(userdb)
        _fill(path, _fill_master, userdb)
        _fill(userdb, _fill_userdb)
    except CmailError:
        for name in created:
            os.unlink(name)
        raise
    return DemoInfo(path=path, userdb_path=userdb, logins=LOGINS)
