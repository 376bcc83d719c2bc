"""`cmail-console mailbox …`: stored mail of a user, headers only (no cmail-admin tool exists)."""

from __future__ import annotations

from datetime import UTC, datetime

from cli.context import Context, arity
from cli.output import table
from core.services import mailbox
from core.services.mailbox import MailHeader

USAGE = """mailbox list <user>                   headers of a user's mail (master and user database)
mailbox counts [user…]                 mail counts (all users you may see without names)
mailbox read <user> <source> <id>      mark a mail read (source: master or the user-db path)
mailbox unread <user> <source> <id>    mark a mail unread
mailbox delete <user> <source> <id>    delete a mail for good"""


def _when(submission: str) -> str:
    """Unix time as UTC for people; anything else as stored."""
    if not submission.isdigit():
        return submission
    try:
        return datetime.fromtimestamp(int(submission), UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return submission


def _row(mail: MailHeader) -> tuple[object, ...]:
    return (
        mail.source,
        mail.id,
        "yes" if mail.read else "no",
        _when(mail.submission),
        mail.envelope_from,
        mail.envelope_to,
        "" if mail.size is None else mail.size,
        mail.subject,
    )


def list_(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "mailbox list <user>")
    user = args[0]
    page = mailbox.list_mails(ctx.db, ctx.session, user, limit=1000)
    first, mails = page, list(page.rows)
    while page.has_more:
        page = mailbox.list_mails(ctx.db, ctx.session, user, after=page.cursor, limit=1000)
        mails.extend(page.rows)
    if ctx.json:
        ctx.emit(
            {
                "user": first.user,
                "alias_of": first.alias_of,
                "user_database": first.user_database,
                "warnings": list(first.warnings),
                "mails": mails,
            }
        )
        return 0
    for warning in first.warnings:
        ctx.warn(warning)
    columns = [
        ("Source", 10),
        ("Id", 6),
        ("Read", 4),
        ("Submitted (UTC)", 19),
        ("From", 24),
        ("To", 24),
        ("Size", 7),
        ("Subject", 30),
    ]
    table(ctx.out, columns, (_row(m) for m in mails))
    return 0


def counts(ctx: Context, args: list[str]) -> int:
    result = mailbox.mail_counts(ctx.db, ctx.session, args)
    if ctx.json:
        ctx.emit(list(result.values()))
        return 0
    for count in result.values():
        if count.problem:
            ctx.warn(f"The user database {count.user_database} of {count.user}: {count.problem}.")
    columns = [("User", 20), ("Master", 6), ("User DB", 7), ("Unread", 6), ("User database", 16)]
    rows = (
        (
            c.user,
            c.master,
            "?" if c.user_db is None and c.user_database else c.user_db,
            c.unread,
            c.user_database,
        )
        for c in result.values()
    )
    table(ctx.out, columns, rows)
    return 0


def _mark(ctx: Context, args: list[str], read: bool) -> int:
    arity(args, 3, 3, f"mailbox {'read' if read else 'unread'} <user> <source> <id>")
    user, source, mail_id = args
    return ctx.report(mailbox.mark_read(ctx.db, ctx.session, user, source, mail_id, read))


def read(ctx: Context, args: list[str]) -> int:
    return _mark(ctx, args, True)


def unread(ctx: Context, args: list[str]) -> int:
    return _mark(ctx, args, False)


def delete(ctx: Context, args: list[str]) -> int:
    arity(args, 3, 3, "mailbox delete <user> <source> <id>")
    user, source, mail_id = args
    return ctx.report(mailbox.delete_mail(ctx.db, ctx.session, user, source, mail_id))


VERBS = {"list": list_, "counts": counts, "read": read, "unread": unread, "delete": delete}
