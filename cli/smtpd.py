"""`cmail-console smtpd …`: the verbs of cmail-admin-smtpd (reference §7.4), plus show. Unlike
the C tool, router names are checked (outbound: any, defined, handoff, reject, drop)."""

from __future__ import annotations

from collections.abc import Iterable

from cli import routing
from cli.context import Context, all_rows, arity
from cli.output import table
from core.services import smtpd
from core.services.smtpd import SmtpdEntry

USAGE = """smtpd list [filter]                    send entries (filter: LIKE pattern on the user)
smtpd show <user>                      one user's send entry
smtpd enable <user> [router [route]]   allow a user to send (no router: drop, i.e. discard)
smtpd update <user> <router> [route]   change a user's send router (omitted route: none)
smtpd disable <user>                   remove a user's send entry (every MAIL FROM gets 551)
smtpd trace <user> <address>           may the user send as that address, and why
routers: any, defined, handoff <remote>, reject [reason], drop"""

COLUMNS = [("User", 20), ("Router", 10), ("Argument", 15)]


def _print(ctx: Context, entries: Iterable[SmtpdEntry]) -> None:
    if ctx.json:
        ctx.emit(list(entries))
    else:
        table(ctx.out, COLUMNS, ((e.user, e.router, e.route) for e in entries))


def list_(ctx: Context, args: list[str]) -> int:
    arity(args, 0, 1, "smtpd list [filter]")
    pattern = args[0] if args else None
    _print(ctx, all_rows(lambda **kw: smtpd.list_entries(ctx.db, ctx.session, pattern, **kw)))
    return 0


def show(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "smtpd show <user>")
    entry = smtpd.get(ctx.db, ctx.session, args[0])
    if ctx.json:
        ctx.emit(entry)
    else:
        _print(ctx, [entry])
    return 0


def enable(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 3, "smtpd enable <user> [router [route]]")
    router = args[1] if len(args) > 1 else None
    route = args[2] if len(args) > 2 else None
    return ctx.report(smtpd.enable(ctx.db, ctx.session, args[0], router, route))


def update(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 3, "smtpd update <user> <router> [route]")
    route = args[2] if len(args) > 2 else None
    return ctx.report(smtpd.update(ctx.db, ctx.session, args[0], args[1], route))


def disable(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "smtpd disable <user>")
    return ctx.report(smtpd.disable(ctx.db, ctx.session, args[0]))


VERBS = {
    "trace": routing.smtpd_trace,
    "list": list_,
    "show": show,
    "enable": enable,
    "update": update,
    "disable": disable,
}
