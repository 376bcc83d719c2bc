"""`cmail-console address …`: the verbs of cmail-admin-address (reference §7.3), plus move, up,
down and show. Unlike the C tool, an unknown router is refused (cmail would silently drop the
mail) and a non-numeric order is an error instead of 0."""

from __future__ import annotations

from collections.abc import Iterable

from cli import routing
from cli.context import Context, all_rows, arity
from cli.output import table
from core.services import addresses
from core.services.addresses import AddressRule

USAGE = """address list [filter]                    rules, highest priority first (filter: LIKE)
address test [path]                      rules matching a recipient path, the winner first
address show <order>                     one rule
address add <expr> <router> [route [order]]
                                         add a rule; without an order it outranks all others
address update <order> <router> [route]  set a rule's router and route (omitted route: none)
address delete <order>                   delete a rule
address swap <a> <b>                     exchange two rules' orders (a free b: move a to b)
address move <order> <new-order>         give a rule a free order
address up <order> / down <order>        swap a rule with its neighbour above / below
address trace <addr> [--from <sender>]   where mail to an address goes, hop by hop, and why
routers: store <user>, redirect <address>, handoff <remote>, reject [reason], drop"""

COLUMNS = [("Order", 5), ("Expression", 30), ("Router", 10), ("Argument", 20)]


def _print(ctx: Context, rules: Iterable[AddressRule]) -> None:
    if ctx.json:
        ctx.emit(list(rules))
    else:
        table(ctx.out, COLUMNS, ((r.order, r.expression, r.router, r.route) for r in rules))


def list_(ctx: Context, args: list[str]) -> int:
    arity(args, 0, 1, "address list [filter]")
    pattern = args[0] if args else None
    _print(ctx, all_rows(lambda **kw: addresses.list_rules(ctx.db, ctx.session, pattern, **kw)))
    return 0


def test(ctx: Context, args: list[str]) -> int:
    arity(args, 0, 1, "address test [path]")
    # cmail-admin-address tests '%' literally when no path is given.
    _print(ctx, addresses.matching_rules(ctx.db, ctx.session, args[0] if args else "%"))
    return 0


def show(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "address show <order>")
    rule = addresses.get_rule(ctx.db, ctx.session, args[0])
    if ctx.json:
        ctx.emit(rule)
    else:
        _print(ctx, [rule])
    return 0


def add(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 4, "address add <expr> <router> [route [order]]")
    route = args[2] if len(args) > 2 else None
    order = args[3] if len(args) > 3 else None
    return ctx.report(addresses.add_rule(ctx.db, ctx.session, args[0], args[1], route, order))


def update(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 3, "address update <order> <router> [route]")
    route = args[2] if len(args) > 2 else None
    return ctx.report(addresses.update_rule(ctx.db, ctx.session, args[0], args[1], route))


def delete(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "address delete <order>")
    return ctx.report(addresses.delete_rule(ctx.db, ctx.session, args[0]))


def swap(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 2, "address swap <a> <b>")
    # cmail-admin-address moves a to b when b is free; the service decides in one unit.
    change = addresses.swap_rules(ctx.db, ctx.session, args[0], args[1], move_if_free=True)
    return ctx.report(change)


def move(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 2, "address move <order> <new-order>")
    return ctx.report(addresses.move_rule(ctx.db, ctx.session, args[0], args[1]))


def up(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "address up <order>")
    return ctx.report(addresses.step_rule(ctx.db, ctx.session, args[0], "up"))


def down(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "address down <order>")
    return ctx.report(addresses.step_rule(ctx.db, ctx.session, args[0], "down"))


VERBS = {
    "trace": routing.address_trace,
    "list": list_,
    "test": test,
    "show": show,
    "add": add,
    "update": update,
    "delete": delete,
    "swap": swap,
    "move": move,
    "up": up,
    "down": down,
}
