"""`cmail-console user …`: the verbs of cmail-admin-user (reference §7.2), plus rename, show and
delete-preview."""

from __future__ import annotations

import os

from cli.context import Context, all_rows, arity, split_options
from cli.main import PASSWORD_ENV
from cli.output import printable, table
from core.errors import Invalid
from core.services import users

USAGE = """user list [filter]              list users (filter: LIKE pattern on the name)
user add <name> [password]      add a user (prompts for the password when omitted)
user password <user> [password] set a password (prompts when omitted; empty disables login)
user passwd <user> [password]   the same as password
user revoke <user>              disable a user's login
user alias <user> [target]      make user an alias of target (no target, or the user: clear)
user userdb <user> [path]       store the user's mail in a user database (no path: clear)
user delete <user>              delete a user and everything that cascades with it; its store
  [--delete-store-rules]        rules stay (mail to them gets 554) unless deleted with it,
  [--store-rules-to <user>]     or made to store to another user
user delete-preview <user>      show what deleting a user would take with it
user rename <old> <new>         rename a user and retarget its store routes
user show <user>                everything about one user"""

NEW_PASSWORD_PROMPT = "Enter new password (leave blank to disable login): "
CURRENT_PASSWORD_PROMPT = "Current password of {name}: "

LIST_COLUMNS = [
    ("User", 20),
    ("Auth", 5),
    ("Alias", 15),
    ("Linked addresses", 16),
    ("Mails", 6),
    ("User database", 14),
]


def list_(ctx: Context, args: list[str]) -> int:
    arity(args, 0, 1, "user list [filter]")
    pattern = args[0] if args else None
    if ctx.json:
        rows = all_rows(lambda **kw: users.list_users(ctx.db, ctx.session, pattern, **kw))
        ctx.emit(list(rows))
        return 0
    # cmail-admin's columns only, in large chunks: a whole table costs one pass, not a page's
    # worth of queries per page.
    lines = users.user_lines(ctx.db, ctx.session, pattern)
    table(ctx.out, LIST_COLUMNS, (line for chunk in lines for line in chunk))
    return 0


def add(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 2, "user add <name> [password]")
    password = args[1] if len(args) > 1 else ctx.prompt(NEW_PASSWORD_PROMPT)
    return ctx.report(users.add_user(ctx.db, ctx.session, args[0], password))


def _current_password(ctx: Context, name: str) -> str | None:
    """Only a logged-in user changing its own password is asked for the current one."""
    if ctx.session.user is None or ctx.session.user != name:
        return None
    given = os.environ.get(PASSWORD_ENV)
    return given if given is not None else ctx.prompt(CURRENT_PASSWORD_PROMPT.format(name=name))


def password(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 2, "user password <user> [password]")
    name = args[0]
    current = _current_password(ctx, name)
    new = args[1] if len(args) > 1 else ctx.prompt(NEW_PASSWORD_PROMPT)
    return ctx.report(users.set_password(ctx.db, ctx.session, name, new, current=current))


def revoke(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "user revoke <user>")
    return ctx.report(users.revoke_login(ctx.db, ctx.session, args[0]))


def alias(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 2, "user alias <user> [target]")
    target = args[1] if len(args) > 1 else None
    return ctx.report(users.set_alias(ctx.db, ctx.session, args[0], target))


def userdb(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 2, "user userdb <user> [path]")
    path = args[1] if len(args) > 1 else None
    return ctx.report(users.set_user_database(ctx.db, ctx.session, args[0], path))


DELETE_USAGE = "user delete <user> [--delete-store-rules | --store-rules-to <user>]"


def delete(ctx: Context, args: list[str]) -> int:
    rest, values, flags = split_options(
        args, {"--store-rules-to": "a user name"}, ("--delete-store-rules",)
    )
    arity(rest, 1, 1, DELETE_USAGE)
    store_rules = None
    if "--delete-store-rules" in flags and "--store-rules-to" in values:
        raise Invalid(
            "store rules",
            "Either delete the store rules (--delete-store-rules) or move them to another user "
            "(--store-rules-to), not both.",
        )
    if "--delete-store-rules" in flags:
        store_rules = users.SettledRules()
    elif "--store-rules-to" in values:
        store_rules = users.SettledRules(values["--store-rules-to"])
    return ctx.report(users.delete_user(ctx.db, ctx.session, rest[0], store_rules=store_rules))


def delete_preview(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "user delete-preview <user>")
    preview = users.delete_preview(ctx.db, ctx.session, args[0])
    if ctx.json:
        ctx.emit(preview)
        return 0
    message, warnings = users.delete_summary(preview, done=False)
    ctx.out.write(printable(message) + "\n")
    for warning in warnings:
        ctx.out.write(printable(warning) + "\n")
    ctx.out.write("Nothing was changed.\n")
    return 0


def rename(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 2, "user rename <old> <new>")
    return ctx.report(users.rename_user(ctx.db, ctx.session, args[0], args[1]))


def _joined(values: tuple[str, ...]) -> str:
    return ", ".join(printable(v) for v in values) or "-"


def show(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "user show <user>")
    detail = users.get_user(ctx.db, ctx.session, args[0])
    if ctx.json:
        ctx.emit(detail)
        return 0
    login = detail.login + (f" ({detail.login_problem})" if detail.login_problem else "")
    smtpd = (
        f"{detail.smtpd_router} {printable(detail.smtpd_route)}".rstrip()
        if detail.smtpd_router is not None
        else "-"
    )
    pop = "-" if detail.pop_locked is None else ("locked" if detail.pop_locked else "unlocked")
    routes = ", ".join(f"{r.order} {printable(r.expression)}" for r in detail.store_routes)
    lines = [
        ("User", printable(detail.name)),
        ("Login", login),
        ("Shares password with", _joined(detail.shared_with)),
        ("Alias of", printable(detail.alias) or "-"),
        ("Aliased by", _joined(detail.aliased_by)),
        ("User database", printable(detail.database) or "-"),
        ("Store routes", routes or "-"),
        ("Mails (master)", str(detail.mails)),
        ("smtpd", smtpd),
        ("POP", pop),
        ("Rights", _joined(detail.rights)),
        ("Managed by", _joined(detail.managers)),
        ("Manages users", _joined(detail.managed)),
        ("Manages addresses", _joined(detail.expressions)),
    ]
    for label, value in lines:
        ctx.out.write(f"{label:>20}: {value}\n")
    return 0


VERBS = {
    "list": list_,
    "add": add,
    "password": password,
    "passwd": password,
    "revoke": revoke,
    "alias": alias,
    "userdb": userdb,
    "delete": delete,
    "delete-preview": delete_preview,
    "rename": rename,
    "show": show,
}
