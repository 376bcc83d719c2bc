"""`cmail-console popd …`: the verbs of cmail-admin-popd (reference §7.5)."""

from __future__ import annotations

from cli.context import Context, all_rows, arity
from cli.output import table
from core.services import popd

USAGE = """popd list [filter]        list POP entries (filter: LIKE pattern on the user)
popd enable <user>        allow POP logins for a user
popd disable <user>       remove a user's POP entry (mail is kept)
popd unlock <user>        clear a maildrop lock left by a crashed session (emergency action)"""


def list_(ctx: Context, args: list[str]) -> int:
    arity(args, 0, 1, "popd list [filter]")
    rows = all_rows(
        lambda **kw: popd.list_entries(ctx.db, ctx.session, args[0] if args else None, **kw)
    )
    if ctx.json:
        ctx.emit(list(rows))
    else:
        table(ctx.out, [("User", 20), ("Lock", 5)], ((r.user, int(r.locked)) for r in rows))
    return 0


def enable(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "popd enable <user>")
    return ctx.report(popd.enable(ctx.db, ctx.session, args[0]))


def disable(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "popd disable <user>")
    return ctx.report(popd.disable(ctx.db, ctx.session, args[0]))


def unlock(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "popd unlock <user>")
    return ctx.report(popd.unlock(ctx.db, ctx.session, args[0]))


VERBS = {"list": list_, "enable": enable, "disable": disable, "unlock": unlock}
