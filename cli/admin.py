"""Commands that work on database files themselves: init and demo."""

from __future__ import annotations

import os

from cli.context import Context, arity
from cli.output import printable
from core.db import create_master
from core.demo import LOGINS, create_demo


def init(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "init PATH")
    create_master(args[0])
    ctx.out.write(f"Created an empty cmail master database (schema 9) at {printable(args[0])}.\n")
    return 0


def demo(ctx: Context, args: list[str]) -> int:
    arity(args, 1, 1, "demo PATH")
    path = args[0]
    if os.path.exists(path):
        ctx.out.write(f"{printable(path)} already exists; it was left unchanged.\n")
    else:
        info = create_demo(path)
        ctx.out.write(
            f"Created a demo cmail master database at {printable(info.path)} "
            f"(bob's user database: {printable(info.userdb_path)}).\n"
        )
    ctx.out.write("Demo logins (user / password / role):\n")
    for login in LOGINS:
        ctx.out.write(f"  {login.user} / {login.password} / {login.role}\n")
    return 0
