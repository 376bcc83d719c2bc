"""Entry point: `cmail-console [options] [<module> <verb> [args…]]`.

With no module the Textual console opens. With a module it behaves like cmail's
`cmail-admin-<module>` tools: same verbs, same argument order, options anywhere on the line.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

# Light imports only: the console's start time counts from here. The database, the sessions and
# the output helpers load below, inside the functions that need them (peewee, json, hashlib).
from core.dbfile import DEFAULT_PATH, PATH_ENV, resolve_path
from core.errors import CmailError, Denied, Invalid
from core.services import modules

if TYPE_CHECKING:
    from cli.context import Context
    from core.access import Session
    from core.db import Database

# Module name → the cli module that implements its verbs (imported only when used).
MODULES = {
    "user": "cli.user",
    "address": "cli.address",
    "smtpd": "cli.smtpd",
    "popd": "cli.popd",
    "permissions": "cli.permissions",
    "mailbox": "cli.mailbox",
}
# Commands that are one verb by themselves: name → (cli module, function).
COMMANDS = {
    "init": ("cli.admin", "init"),
    "demo": ("cli.admin", "demo"),
    "lint": ("cli.routing", "lint"),
    "audit": ("cli.audit", "audit"),
}
PASSWORD_ENV = "CMAIL_CONSOLE_PASSWORD"
# Restricted mode (ssh ForceCommand, docs/ssh.md): forced by the environment the administrator
# sets in sshd's configuration; no argument can switch it off.
RESTRICTED_ENV = "CMAIL_CONSOLE_RESTRICTED"
RESTRICTED_DB_ENV = "CMAIL_CONSOLE_RESTRICTED_DB"

USAGE = """usage: cmail-console [-d PATH] [--json] [--login USER] [<module> <verb> [args…]]

Without a module, opens the console (the Textual UI).

modules (the verbs of cmail's cmail-admin-<module> tools):
  user, address, smtpd, popd, permissions, mailbox
commands:
  init PATH          create an empty cmail master database (schema v9)
  demo PATH          create a demo database if absent and print its logins
  lint               report problems in the whole configuration
  audit [filter]     the audit trail, newest first (admins; --user USER, --limit N)

options (anywhere on the line; `--` ends them):
  -d, --dbpath PATH  master database (else $CMAIL_MASTER_DB, else /etc/cmail/databases/master.db3)
  --json             machine-readable output
  --login USER       act with USER's rights (password from $CMAIL_CONSOLE_PASSWORD or a prompt)
  -v N               verbosity (accepted for cmail-admin compatibility)
  --theme NAME       console theme (e.g. textual-dark, textual-light, ansi-dark)
  --no-mouse         the console ignores the mouse (keyboard only)
  --restricted       for ssh ForceCommand: the console only, no -d, no suspend, no screenshots
  -h, --help         this text, or a module's verbs with `<module> --help`"""


@dataclass
class Options:
    dbpath: str | None = None
    json: bool = False
    login: str | None = None
    help: bool = False
    theme: str | None = None
    mouse: bool | None = None
    restricted: bool | None = None
    words: list[str] = field(default_factory=list)


_VALUED = {
    "-d": "dbpath",
    "--dbpath": "dbpath",
    "--login": "login",
    "--theme": "theme",
    "-v": None,
    "--verbosity": None,
}


def parse(argv: Sequence[str]) -> Options:
    """cmail-admin's rule: any token equal to an option name is that option, wherever it is."""
    options = Options()
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            options.words.extend(tokens[index + 1 :])
            break
        if token in _VALUED:
            if index + 1 >= len(tokens):
                raise Invalid("arguments", f"The option {token} needs a value.")
            name = _VALUED[token]
            if name is not None:
                setattr(options, name, tokens[index + 1])
            index += 2
            continue
        if token == "--json":
            options.json = True
        elif token == "--no-mouse":
            options.mouse = False
        elif token == "--restricted":
            options.restricted = True
        elif token in ("-h", "--help"):
            options.help = True
        else:
            options.words.append(token)
        index += 1
    return options


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "no", "false")


def _restricted_path(options: Options) -> str:
    """The administrator chose the database in sshd's configuration; whoever types may not."""
    if options.dbpath is not None or os.environ.get(PATH_ENV):
        raise Invalid(
            "dbpath",
            "The database path cannot be chosen in restricted mode; "
            f"the administrator sets it with {RESTRICTED_DB_ENV}.",
        )
    return os.environ.get(RESTRICTED_DB_ENV) or DEFAULT_PATH


def _scrub_textual_environment() -> None:
    """Textual reads switches from the environment as it is imported: TEXTUAL_SCREENSHOT and
    TEXTUAL_LOG write files, TEXTUAL_DRIVER imports a module by name, TEXTUAL=devtools sends the
    screen to a network port, TEXTUAL_ALLOW_SIGNALS lets ctrl+z suspend. sshd passes on only what
    AcceptEnv allows, but a restricted console does not rely on the server's configuration."""
    for name in [name for name in os.environ if name == "TEXTUAL" or name.startswith("TEXTUAL_")]:
        del os.environ[name]


def _on_terminal() -> bool:
    """Without a terminal (scp, sftp, `ssh host cmd` under ForceCommand) the console would keep
    running on closed pipes after the client left: refuse at once instead."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _session(options: Options, db: Database, ctx: Context) -> Session:
    from core.access import Session
    from core.session import login

    if options.login is None:
        return Session.system()
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = ctx.prompt(f"Password for {options.login}: ")
    return login(db, options.login, password)


def _context(path: str, options: Options, out: TextIO, err: TextIO, prompt=None) -> Context:
    """What a verb receives; the database opens when the verb first asks for it."""
    from cli.context import Context
    from core.db import Database

    ctx = Context(open_db=lambda: Database(path), json=options.json, out=out, err=err)
    if prompt is not None:
        ctx.prompt = prompt
    return ctx


def run(
    argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None, prompt=None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        options = parse(argv)
        restricted = bool(options.restricted) or _flag(os.environ.get(RESTRICTED_ENV))
        path = _restricted_path(options) if restricted else resolve_path(options.dbpath)
        if not options.words:
            if options.help:
                out.write(USAGE + "\n")
                return 0
            if restricted:
                if not _on_terminal():
                    raise Invalid(
                        "terminal",
                        "Restricted mode runs only the console, which needs a terminal "
                        "(ssh -t); file transfers and commands are not available.",
                    )
                _scrub_textual_environment()  # before Textual is imported, just below
            from tui.app import run_console  # the UI loads only when it is wanted

            return run_console(
                path,
                login_as=options.login,
                mouse=options.mouse,
                restricted=restricted,
                theme=options.theme,
            )
        if restricted:
            raise Denied(
                f"Restricted mode runs only the console; {options.words[0]!r} is not available."
            )
        name, rest = options.words[0], options.words[1:]
        if name == "help":
            out.write(USAGE + "\n")
            return 0
        ctx = _context(path, options, out, err, prompt)
        if name in COMMANDS:
            module_name, function = COMMANDS[name]
            handler = getattr(importlib.import_module(module_name), function)
            if options.login is not None:
                ctx.session = _session(options, ctx.db, ctx)
            return handler(ctx, rest)
        if name not in MODULES:
            raise Invalid("module", f"Unknown module {name!r}; known: {', '.join(MODULES)}.")
        if not modules.is_enabled(name):
            raise Denied(
                f"The {name} module is disabled on this console "
                f"(by {modules.ENABLE_ENV} or {modules.DISABLE_ENV})."
            )
        module = importlib.import_module(MODULES[name])
        if options.help or not rest:
            out.write(module.USAGE + "\n")
            return 0 if options.help else 1
        verb, args = rest[0], rest[1:]
        if verb not in module.VERBS:
            raise Invalid(
                "verb", f"Unknown {name} verb {verb!r}; known: {', '.join(module.VERBS)}."
            )
        _ = ctx.db  # open and check the database before a verb prints anything
        if options.login is not None:
            ctx.session = _session(options, ctx.db, ctx)
        return module.VERBS[verb](ctx, args)
    except CmailError as error:
        from cli.output import printable

        err.write(f"cmail-console: {printable(str(error))}\n")
        return error.exit_code
    except KeyboardInterrupt:
        err.write("cmail-console: interrupted; nothing more was changed.\n")
        return 130


def main() -> None:
    sys.exit(run(sys.argv[1:]))
