"""Stored mail: headers, counts, read flags and deletion across master and a user database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.access import Session
from core.db import Database, create_userdb
from core.errors import Busy, Denied, Invalid, NotFound, ReadOnly, StorageError
from core.services import mailbox
from core.services.mailbox import MASTER, parse_subject
from core.session import login

BODY = "This is a test mailing"


def sql(path: Path | str, statement: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            rows = connection.execute(statement, params).fetchall()
    finally:
        connection.close()
    return rows


def add_mail(path: Path | str, user: str, *, mail_id: int | None = None, subject: str = "Hi",
             read: int = 0, data: str | bytes | None = None) -> int:  # fmt: skip
    message = data if data is not None else f"From: x@y\r\nSubject: {subject}\r\n\r\n{BODY}\r\n"
    connection = sqlite3.connect(str(path))
    try:
        with connection:
            cursor = connection.execute(
                "INSERT INTO mailbox (mail_id, mail_user, mail_read, mail_envelopeto, "
                "mail_envelopefrom, mail_submission, mail_data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (mail_id, user, read, f"{user}@example.com", "x@y", "1700000000", message),
            )
            return cursor.lastrowid
    finally:
        connection.close()


@pytest.fixture
def kitinfo_db(sample_path: Path, userdb_path: Path) -> Database:
    """The sample master with kitinfo's user database pointing at a private copy."""
    sql(sample_path, "UPDATE users SET user_database = ? WHERE user_name = 'kitinfo'",
        (str(userdb_path),))  # fmt: skip
    return Database(str(sample_path))


@pytest.fixture
def roles(sample_path: Path) -> Path:
    """a2 becomes a delegate of a1 (plain) and of cbdev (an admin: visible, not actionable)."""
    sql(sample_path, "INSERT INTO api_access VALUES ('a2', 'delegate')")
    sql(sample_path, "INSERT INTO api_user_delegates VALUES ('a2', 'a1'), ('a2', 'cbdev')")
    add_mail(sample_path, "a1")
    return sample_path


# --- subjects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "subject"),
    [
        (b"Subject: Hi\r\n\r\nbody", "Hi"),
        (b"From: a\nsubject:   lower case\n\nbody", "lower case"),
        (b"Subject: folded\r\n\tacross lines\r\nTo: x\r\n\r\n", "folded across lines"),
        (b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\n", "Grüße"),
        (b"Subject: =?utf-8?b?w4Rw?=\r\n\r\n", "Äp"),
        (b"Subject: =?x-unknown?Q?abc?=\r\n\r\n", "=?x-unknown?Q?abc?="),
        (b"Subject: caf\xe9\r\n\r\n", "café"),  # raw latin-1 from an old mailer
        (b"From: a\r\n\r\nSubject: in the body\r\n", None),
        (b"\r\nSubject: after an empty header block\r\n", None),
        (b"From: a\r\n", None),
        (b"", None),
        (None, None),
        ("Subject: stored as text\r\n\r\n", "stored as text"),
    ],
)
def test_parse_subject(head: bytes | str | None, subject: str | None) -> None:
    assert parse_subject(head) == subject


# --- listing -----------------------------------------------------------------------------------


def test_list_master_headers_only(sample_db: Database, admin: Session) -> None:
    page = mailbox.list_mails(sample_db, admin, "cbdev")
    assert [m.key for m in page.rows] == [(MASTER, 483)]
    mail = page.rows[0]
    assert mail.subject == "test Wed, 18 Nov 2015 19:36:33 +0100"
    assert (mail.size, mail.submission, mail.proto) == (370, "1447871793", "esmtpa")
    assert mail.read is False
    assert (mail.envelope_to, mail.envelope_from) == ("cbdev@kitinfo.de", "cb@cbcdn.com")
    assert mail.ident == "564CC531E035B85.327B23C6-localhost"
    assert not any(BODY in str(value) for value in vars(mail).values())
    assert page.warnings == () and page.has_more is False


def test_list_reads_the_user_database(kitinfo_db: Database, admin: Session, userdb_path: Path):
    page = mailbox.list_mails(kitinfo_db, admin, "kitinfo")
    assert [m.key for m in page.rows] == [(str(userdb_path), 11)]
    assert page.rows[0].envelope_to == "store-kitinfo@kitinfo.de"
    assert page.user_database == str(userdb_path) and page.warnings == ()


def test_missing_user_database_is_a_warning(sample_db: Database, admin: Session) -> None:
    page = mailbox.list_mails(sample_db, admin, "kitinfo")  # the sample's developer path
    assert page.rows == []
    assert len(page.warnings) == 1 and "does not exist" in page.warnings[0]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_text("not a database"), "not an SQLite database"),
        (lambda p: p.mkdir(), "directory"),
        (lambda p: sql(p, "CREATE TABLE other (x)"), "no mailbox table"),
        (lambda p: sql(p, "CREATE TABLE mailbox (mail_id, mail_user)"), "no such column"),
    ],
)
def test_broken_user_database_is_a_warning(
    sample_path: Path, tmp_path: Path, admin: Session, make, reason: str
) -> None:
    broken = tmp_path / "broken.db3"
    make(broken)
    sql(sample_path, "UPDATE users SET user_database = ? WHERE user_name = 'cbdev'", (str(broken),))
    page = mailbox.list_mails(Database(str(sample_path)), admin, "cbdev")
    assert [m.key for m in page.rows] == [(MASTER, 483)]
    assert len(page.warnings) == 1 and reason in page.warnings[0]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("relative/userdb.db3", "was not read: the path is relative"),
        ("MASTER", "was not read: the file is the master database itself"),
    ],
)
def test_user_database_that_must_not_be_opened(
    sample_path: Path, admin: Session, path: str, reason: str
):
    path = str(sample_path) if path == "MASTER" else path
    sql(sample_path, "UPDATE users SET user_database = ? WHERE user_name = 'cbdev'", (path,))
    page = mailbox.list_mails(Database(str(sample_path)), admin, "cbdev")
    assert [m.key for m in page.rows] == [(MASTER, 483)]  # not listed twice from the master
    assert len(page.warnings) == 1 and reason in page.warnings[0]


def test_alias_is_noted(sample_db: Database, admin: Session) -> None:
    page = mailbox.list_mails(sample_db, admin, "cdbev")
    assert page.alias_of == "cbdev"
    assert any("alias of cbdev" in w for w in page.warnings)


def test_paging_walks_master_then_user_database(
    kitinfo_db: Database, sample_path: Path, userdb_path: Path, admin: Session
) -> None:
    master_ids = [add_mail(sample_path, "kitinfo") for _ in range(3)]
    user_ids = [11, add_mail(userdb_path, "kitinfo"), add_mail(userdb_path, "kitinfo")]
    add_mail(userdb_path, "someone-else")
    seen, cursor, pages = [], None, 0
    while True:
        page = mailbox.list_mails(kitinfo_db, admin, "kitinfo", after=cursor, limit=2)
        seen += [m.key for m in page.rows]
        pages += 1
        if not page.has_more:
            break
        cursor = page.cursor
    expected = [(MASTER, i) for i in master_ids] + [(str(userdb_path), i) for i in user_ids]
    assert seen == expected and pages == 3


def test_bad_cursor_is_invalid(sample_db: Database, admin: Session) -> None:
    with pytest.raises(Invalid):
        mailbox.list_mails(sample_db, admin, "cbdev", after=("master", "x"))


def test_unknown_user(sample_db: Database, admin: Session) -> None:
    with pytest.raises(NotFound):
        mailbox.list_mails(sample_db, admin, "nobody")


def test_rights_for_listing(sample_db: Database, roles: Path) -> None:
    plain = login(sample_db, "a3", "a3")
    assert mailbox.list_mails(sample_db, plain, "a3").rows == []
    with pytest.raises(Denied):
        mailbox.list_mails(sample_db, plain, "cbdev")
    delegate = login(sample_db, "a2", "a2")
    assert len(mailbox.list_mails(sample_db, delegate, "a1").rows) == 1
    with pytest.raises(Denied):  # managed, but an admin: visible, never readable
        mailbox.list_mails(sample_db, delegate, "cbdev")
    with pytest.raises(Denied):  # no existence oracle for the unmanaged
        mailbox.list_mails(sample_db, delegate, "nobody")


# --- counts ------------------------------------------------------------------------------------


def test_counts_for_everyone(kitinfo_db: Database, admin: Session, sample_path: Path) -> None:
    add_mail(sample_path, "cbdev", read=1)
    counts = mailbox.mail_counts(kitinfo_db, admin, [])
    assert len(counts) == 14
    cbdev = counts["cbdev"]
    assert (cbdev.master, cbdev.master_unread, cbdev.user_db, cbdev.unread) == (2, 1, None, 1)
    kitinfo = counts["kitinfo"]
    assert (kitinfo.master, kitinfo.user_db, kitinfo.user_db_unread, kitinfo.unread) == (0, 1, 1, 1)
    assert counts["cdbev"].alias_of == "cbdev"


def test_counts_give_the_reason_for_an_unreadable_user_database(
    sample_db: Database, admin: Session
) -> None:
    kitinfo = mailbox.mail_counts(sample_db, admin, ["kitinfo"])["kitinfo"]
    assert kitinfo.user_db is None and "does not exist" in kitinfo.problem


def test_shared_user_database_counts_each_owner(
    kitinfo_db: Database, sample_path: Path, userdb_path: Path, admin: Session
) -> None:
    sql(sample_path, "UPDATE users SET user_database = ? WHERE user_name = 'spam'",
        (str(userdb_path),))  # fmt: skip
    add_mail(userdb_path, "spam")
    add_mail(userdb_path, "spam", read=1)
    counts = mailbox.mail_counts(kitinfo_db, admin, ["spam", "kitinfo"])
    assert list(counts) == ["spam", "kitinfo"]
    assert (counts["spam"].user_db, counts["spam"].user_db_unread) == (2, 1)
    assert counts["kitinfo"].user_db == 1


def test_counts_rights(sample_db: Database, roles: Path) -> None:
    plain = login(sample_db, "a3", "a3")
    assert list(mailbox.mail_counts(sample_db, plain, [])) == ["a3"]
    with pytest.raises(Denied):
        mailbox.mail_counts(sample_db, plain, ["a3", "cbdev"])
    delegate = login(sample_db, "a2", "a2")
    counts = mailbox.mail_counts(sample_db, delegate, [])
    assert list(counts) == ["a1", "a2", "cbdev"]  # may view cbdev's counts, not its mail
    assert counts["a1"].master == 1


def test_counts_of_unknown_user(sample_db: Database, admin: Session) -> None:
    with pytest.raises(NotFound):
        mailbox.mail_counts(sample_db, admin, ["nobody"])


# --- read flags and deletion -------------------------------------------------------------------


def read_flag(path: Path | str, mail_id: int) -> int | None:
    rows = sql(path, "SELECT mail_read FROM mailbox WHERE mail_id = ?", (mail_id,))
    return rows[0][0] if rows else None


def test_mark_master_mail(sample_db: Database, sample_path: Path, admin: Session) -> None:
    change = mailbox.mark_read(sample_db, admin, "cbdev", "master", 483, True)
    assert read_flag(sample_path, 483) == 1 and "marked read" in change.message
    again = mailbox.mark_read(sample_db, admin, "cbdev", "master", "483", True)
    assert "already read" in again.message
    mailbox.mark_read(sample_db, admin, "cbdev", "master", 483, False)
    assert read_flag(sample_path, 483) == 0
    assert sql(sample_path, "SELECT typeof(mail_read) FROM mailbox") == [("integer",)]


def test_mark_user_database_mail(kitinfo_db: Database, userdb_path: Path, admin: Session):
    mailbox.mark_read(kitinfo_db, admin, "kitinfo", str(userdb_path), 11, True)
    assert read_flag(userdb_path, 11) == 1
    mailbox.mark_read(kitinfo_db, admin, "kitinfo", str(userdb_path), 11, False)
    assert read_flag(userdb_path, 11) == 0


def test_same_id_in_both_sources_is_never_confused(
    sample_path: Path, userdb_path: Path, admin: Session
) -> None:
    """B-M4: master 483 and user-database 483 of the same user are different mails."""
    sql(sample_path, "UPDATE users SET user_database = ? WHERE user_name = 'cbdev'",
        (str(userdb_path),))  # fmt: skip
    add_mail(userdb_path, "cbdev", mail_id=483)
    db = Database(str(sample_path))
    mailbox.mark_read(db, admin, "cbdev", str(userdb_path), 483, True)
    assert (read_flag(userdb_path, 483), read_flag(sample_path, 483)) == (1, 0)
    mailbox.delete_mail(db, admin, "cbdev", "master", 483)
    assert read_flag(sample_path, 483) is None and read_flag(userdb_path, 483) == 1


def test_ownership_is_checked(kitinfo_db: Database, sample_path: Path, admin: Session) -> None:
    """B-M3: a mail id of another user is not found, and nothing changes."""
    before = sample_path.read_bytes()
    with pytest.raises(NotFound, match="kitinfo has no mail 483 in master"):
        mailbox.delete_mail(kitinfo_db, admin, "kitinfo", "master", 483)
    with pytest.raises(NotFound):
        mailbox.mark_read(kitinfo_db, admin, "kitinfo", "master", 483, True)
    assert sample_path.read_bytes() == before


def test_user_database_ownership(kitinfo_db: Database, userdb_path: Path, admin: Session) -> None:
    other = add_mail(userdb_path, "someone-else")
    before = userdb_path.read_bytes()
    with pytest.raises(NotFound):
        mailbox.delete_mail(kitinfo_db, admin, "kitinfo", str(userdb_path), other)
    assert userdb_path.read_bytes() == before


def test_source_must_be_master_or_the_users_own_database(
    kitinfo_db: Database, tmp_path: Path, admin: Session
) -> None:
    elsewhere = tmp_path / "elsewhere.db3"
    create_userdb(str(elsewhere))
    mail = add_mail(elsewhere, "kitinfo")
    before = elsewhere.read_bytes()
    with pytest.raises(Invalid, match="source"):
        mailbox.delete_mail(kitinfo_db, admin, "kitinfo", str(elsewhere), mail)
    with pytest.raises(Invalid, match="no user database"):
        mailbox.delete_mail(kitinfo_db, admin, "cbdev", str(elsewhere), mail)
    assert elsewhere.read_bytes() == before


def test_delete_from_user_database(kitinfo_db: Database, userdb_path: Path, admin: Session):
    change = mailbox.delete_mail(kitinfo_db, admin, "kitinfo", str(userdb_path), 11)
    assert read_flag(userdb_path, 11) is None
    assert change.data == {"user": "kitinfo", "source": str(userdb_path), "id": 11}
    with pytest.raises(NotFound):
        mailbox.delete_mail(kitinfo_db, admin, "kitinfo", str(userdb_path), 11)


def test_bad_mail_id(sample_db: Database, admin: Session) -> None:
    with pytest.raises(Invalid, match="mail id"):
        mailbox.delete_mail(sample_db, admin, "cbdev", "master", "48x")


def test_write_rights(sample_db: Database, sample_path: Path, roles: Path) -> None:
    before = sample_path.read_bytes()
    plain = login(sample_db, "a3", "a3")
    with pytest.raises(Denied):
        mailbox.delete_mail(sample_db, plain, "cbdev", "master", 483)
    delegate = login(sample_db, "a2", "a2")
    with pytest.raises(Denied):
        mailbox.mark_read(sample_db, delegate, "cbdev", "master", 483, True)
    assert sample_path.read_bytes() == before
    (mail,) = mailbox.list_mails(sample_db, delegate, "a1").rows
    mailbox.delete_mail(sample_db, delegate, "a1", "master", mail.id)
    assert read_flag(sample_path, mail.id) is None


def test_locked_maildrop_warns(sample_db: Database, sample_path: Path, admin: Session) -> None:
    sql(sample_path, "UPDATE popd SET pop_lock = 1 WHERE pop_user = 'cbdev'")
    change = mailbox.delete_mail(sample_db, admin, "cbdev", "master", 483)
    assert any("POP session" in w for w in change.warnings)


def test_read_only_master(
    sample_path: Path, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.db.is_writable", lambda path: False)
    db = Database(str(sample_path))
    with pytest.raises(ReadOnly):
        mailbox.mark_read(db, admin, "cbdev", "master", 483, True)
    assert read_flag(sample_path, 483) == 0


def test_read_only_user_database(
    kitinfo_db: Database, userdb_path: Path, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.services.mailbox.is_writable", lambda path: False)
    with pytest.raises(ReadOnly, match="user database"):
        mailbox.delete_mail(kitinfo_db, admin, "kitinfo", str(userdb_path), 11)
    assert read_flag(userdb_path, 11) == 0


def test_busy_user_database(
    kitinfo_db: Database, userdb_path: Path, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMAIL_CONSOLE_BUSY_TIMEOUT", "0.1")
    holder = sqlite3.connect(str(userdb_path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Busy, match="nothing was changed"):
            mailbox.delete_mail(kitinfo_db, admin, "kitinfo", str(userdb_path), 11)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert read_flag(userdb_path, 11) == 0


def test_missing_user_database_refuses_writes(sample_db: Database, admin: Session) -> None:
    path = "/home/cbdev/dev/cmail/userdb.db3"
    with pytest.raises(StorageError, match="does not exist"):
        mailbox.delete_mail(sample_db, admin, "kitinfo", path, 11)
