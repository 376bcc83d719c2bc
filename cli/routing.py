"""Routing insight on the command line: `address trace`, `smtpd trace` and `lint`.

The lead wires `address_trace` into cli/address.py and `smtpd_trace` into cli/smtpd.py;
`lint` is the top-level `cmail-console lint` command.

Exit status: both traces exit 0 whatever the outcome (the outcome is the answer, not a failure);
`lint` exits 0 when it finds nothing of severity error and 1 otherwise, so scripts and cron jobs
can alert on it. Failures (denied, unknown user, bad arguments) use the usual CmailError codes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cli.context import Context, arity, split_options
from cli.output import printable
from core.services import lint as lint_service
from core.services import routing
from core.services.routing import Hop, InboundTrace, OutboundTrace, Rule

ADDRESS_TRACE_USAGE = "address trace <address> [--from <sender>]"
SMTPD_TRACE_USAGE = "smtpd trace <user> <address>"
LINT_USAGE = "lint"


# --- address trace ------------------------------------------------------------------------------


def address_trace(ctx: Context, args: list[str]) -> int:
    rest, values, _ = split_options(args, {"--from": "a sender address"})
    arity(rest, 1, 1, ADDRESS_TRACE_USAGE)
    trace = routing.trace_inbound(ctx.db, ctx.session, rest[0], values.get("--from"))
    if ctx.json:
        ctx.emit(inbound_json(trace))
    else:
        _print_inbound(ctx, trace)
    return 0


def _rule_json(rule: Rule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {
        "order": rule.order,
        "expression": rule.expression,
        "router": rule.router,
        "route": rule.route,
    }


def _hop_json(hop: Hop) -> dict[str, Any]:
    mailbox = hop.mailbox
    return {
        "address": hop.address,
        "rule": _rule_json(hop.rule),
        "hidden": hop.hidden,
        "shadowed": [_rule_json(r) for r in hop.shadowed],
        "action": hop.action,
        "target": hop.target,
        "reply": hop.reply,
        "failed": hop.failed,
        "notes": list(hop.notes),
        "mailbox": None if mailbox is None else asdict(mailbox),
    }


def inbound_json(trace: InboundTrace) -> dict[str, Any]:
    return {
        "recipient": trace.recipient,
        "sender": trace.sender,
        "hops": [_hop_json(h) for h in trace.hops],
        "outcome": trace.outcome,
        "target": trace.target,
        "reason": trace.reason,
        "reply": trace.reply,
        "failed": trace.failed,
    }


def _rule_line(rule: Rule) -> str:
    route = "" if rule.route is None else f" {printable(rule.route)}"
    return f"#{rule.order} {printable(rule.expression)} → {printable(rule.router)}{route}"


def _print_inbound(ctx: Context, trace: InboundTrace) -> None:
    out = ctx.out
    sender = "" if trace.sender is None else f" from <{printable(trace.sender)}>"
    out.write(f"Trace of <{printable(trace.recipient)}>{sender}\n")
    for number, hop in enumerate(trace.hops, 1):
        out.write(f"hop {number}: <{printable(hop.address)}>\n")
        winner = _rule_line(hop.rule) if hop.rule is not None else routing.HIDDEN
        out.write(f"  {winner}\n")
        for rule in hop.shadowed:
            out.write(f"    shadowed: {_rule_line(rule)}\n")
        if hop.reply:
            out.write(f"  reply: {printable(hop.reply)}\n")
        for note in hop.notes:
            out.write(f"  - {printable(note)}\n")
    target = "" if trace.target is None else f" → {printable(trace.target)}"
    out.write(f"outcome: {trace.outcome}{target}\n")
    if trace.reply and not trace.hops:
        out.write(f"reply: {printable(trace.reply)}\n")
    out.write(f"{printable(trace.reason)}\n")


# --- smtpd trace --------------------------------------------------------------------------------


def smtpd_trace(ctx: Context, args: list[str]) -> int:
    arity(args, 2, 2, SMTPD_TRACE_USAGE)
    trace = routing.trace_outbound(ctx.db, ctx.session, args[0], args[1])
    if ctx.json:
        ctx.emit(outbound_json(trace))
    else:
        _print_outbound(ctx, trace)
    return 0


def outbound_json(trace: OutboundTrace) -> dict[str, Any]:
    return {
        "user": trace.user,
        "address": trace.address,
        "identity": trace.identity,
        "allowed": trace.allowed,
        "router": trace.router,
        "reason": trace.reason,
        "rule": _rule_json(trace.rule),
        "notes": list(trace.notes),
    }


def _print_outbound(ctx: Context, trace: OutboundTrace) -> None:
    out = ctx.out
    user, address = printable(trace.user), printable(trace.address)
    if trace.identity != trace.user:
        out.write(f"{user} logs in as {printable(trace.identity)}\n")
    router = "(no smtpd entry)" if trace.router is None else printable(trace.router)
    out.write(f"smtpd router of {printable(trace.identity)}: {router}\n")
    if trace.rule is not None:
        out.write(f"rule: {_rule_line(trace.rule)}\n")
    for note in trace.notes:
        out.write(f"- {printable(note)}\n")
    verdict = "may" if trace.allowed else "may NOT"
    out.write(f"{user} {verdict} send as <{address}>: {printable(trace.reason)}\n")


# --- lint ---------------------------------------------------------------------------------------


def lint(ctx: Context, args: list[str]) -> int:
    """`cmail-console lint`: exit 1 when any finding is an error, else 0."""
    arity(args, 0, 0, LINT_USAGE)
    report = lint_service.lint(ctx.db, ctx.session)
    if ctx.json:
        ctx.emit(
            {
                "findings": [asdict(f) for f in report.findings],
                "counts": {"severity": report.counts, "kind": report.kinds},
            }
        )
    else:
        _print_lint(ctx, report)
    return 1 if report.errors else 0


def _print_lint(ctx: Context, report: lint_service.LintReport) -> None:
    out = ctx.out
    for finding in report.findings:
        where = f"#{finding.order}" if finding.order is not None else (finding.user or "")
        out.write(
            f"{finding.severity:<7} {finding.kind:<22} {printable(where):<12} "
            f"{printable(finding.message)}\n"
        )
    counts = report.counts
    out.write(
        f"{counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
        f"{counts.get('info', 0)} notes in {report.rules} rules and {report.users} users.\n"
    )
