"""Commands that work on database files themselves: init and demo."""

from __future__ import annotations

from cli.context import Context, arity
from core.db import create_master


def init(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "init PATH")
    create_master(args[0])
    ctx.out.write(f"Created an empty cmail master database (schema 9) at {args[0]}.\n")
    return 0
