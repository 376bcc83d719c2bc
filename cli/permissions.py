"""`cmail-console permissions …`: the verbs of cmail-admin-permissions (reference §7.6), plus
`set`. `revoke <user>` without names removes all of the user's permissions, as the C tool meant
to."""

from __future__ import annotations

from cli.context import Context, arity
from cli.output import table
from core.errors import Invalid
from core.services import rights

USAGE = """permissions grant <user> <permission>               give admin or delegate
permissions revoke <user> [permission…]             remove permissions (none named: all)
permissions set <user> [permission…]                make the permissions exactly these
permissions list [user-filter]                      list permissions by user (LIKE pattern)
permissions rlist <permission-filter>               list permissions by permission
permissions delegate [user-filter]                  list delegated users and address space
permissions delegate user [filter]                  list delegated users
permissions delegate address [filter]               list delegated address space
permissions delegate user <manager> <managed>       let manager administer a user
permissions delegate address <manager> <pattern>    let manager administer addresses in pattern
permissions delete user <manager> <managed>         remove a user delegation
permissions delete expression <manager> <pattern>   remove an address delegation"""

GRANT_COLUMNS = [("User", 20), ("Permission", 10)]
USER_COLUMNS = [("Manager", 20), ("Managed user", 20)]
ADDRESS_COLUMNS = [("Manager", 20), ("Expression", 30)]
KIND_WORDS = {"user": "user", "address": "address", "expression": "address"}


def grant(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 2, "permissions grant <user> <permission>")
    return ctx.report(rights.grant(ctx.db, ctx.session, args[0], args[1]))


def revoke(ctx: Context, args: list[str]) -> int:
    if not args:
        arity(args, 1, 1, "permissions revoke <user> [permission…]")
    names = args[1:] or None
    return ctx.report(rights.revoke(ctx.db, ctx.session, args[0], names))


def set_(ctx: Context, args: list[str]) -> int:
    if not args:
        arity(args, 1, 1, "permissions set <user> [permission…]")
    return ctx.report(rights.set_permissions(ctx.db, ctx.session, args[0], args[1:]))


def _print_grants(ctx: Context, grants: list[rights.Grant]) -> int:
    if ctx.json:
        ctx.emit(grants)
    else:
        table(ctx.out, GRANT_COLUMNS, ((g.user, g.permission) for g in grants))
    return 0


def list_(ctx: Context, args: list[str]) -> int:
    arity(args, 0, 1, "permissions list [user-filter]")
    pattern = args[0] if args else None
    return _print_grants(ctx, rights.list_permissions(ctx.db, ctx.session, pattern))


def rlist(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "permissions rlist <permission-filter>")
    return _print_grants(
        ctx, rights.list_permissions(ctx.db, ctx.session, permission_pattern=args[0])
    )


def _print_delegations(ctx: Context, pattern: str | None, kind: str | None) -> int:
    rows = rights.list_delegations(ctx.db, ctx.session, pattern, kind)
    if ctx.json:
        ctx.emit(rows)
        return 0
    if kind in (None, "user"):
        ctx.out.write("Delegated users:\n")
        table(ctx.out, USER_COLUMNS, ((d.manager, d.target) for d in rows if d.kind == "user"))
    if kind is None:
        ctx.out.write("\n")
    if kind in (None, "address"):
        ctx.out.write("Delegated address space:\n")
        table(
            ctx.out, ADDRESS_COLUMNS, ((d.manager, d.target) for d in rows if d.kind == "address")
        )
    return 0


def delegate(ctx: Context, args: list[str]) -> int:
    """Lists with up to one filter, or adds a delegation with a manager and a target."""
    if not args:
        return _print_delegations(ctx, None, None)
    if args[0] not in ("user", "address"):
        arity(args, 1, 1, "permissions delegate [user-filter]")
        return _print_delegations(ctx, args[0], None)
    kind, rest = args[0], args[1:]
    if len(rest) <= 1:
        return _print_delegations(ctx, rest[0] if rest else None, kind)
    arity(
        rest,
        2,
        2,
        f"permissions delegate {kind} <manager> <{'managed' if kind == 'user' else 'pattern'}>",
    )
    if kind == "user":
        return ctx.report(rights.add_delegated_user(ctx.db, ctx.session, rest[0], rest[1]))
    return ctx.report(rights.add_delegated_expression(ctx.db, ctx.session, rest[0], rest[1]))


def delete(ctx: Context, args: list[str]) -> int:
    usage = "permissions delete user <manager> <managed> | delete expression <manager> <pattern>"
    arity(args, 3, 3, usage)
    kind = KIND_WORDS.get(args[0])
    if kind is None:
        raise Invalid("mode", f"Unknown delete mode {args[0]!r}; use user or expression.")
    if kind == "user":
        return ctx.report(rights.remove_delegated_user(ctx.db, ctx.session, args[1], args[2]))
    return ctx.report(rights.remove_delegated_expression(ctx.db, ctx.session, args[1], args[2]))


VERBS = {
    "grant": grant,
    "revoke": revoke,
    "set": set_,
    "list": list_,
    "rlist": rlist,
    "delegate": delegate,
    "delete": delete,
}
