"""Field rules shared by services and the lint: what cmail's daemons can and cannot handle
(reference §10). Each rule raises Invalid naming the field and the rule, or returns a warning."""

from __future__ import annotations

import re

from core.errors import Invalid

INBOUND_ROUTERS = ("store", "redirect", "handoff", "reject", "drop")
OUTBOUND_ROUTERS = ("any", "defined", "handoff", "reject", "drop")
PLACEHOLDERS = ("(to-local)", "(to-domain)", "(from-local)", "(from-domain)")
MAX_PATH = 299  # smtpd truncates paths and refuses longer redirect expansions
MAX_TEXT = 1024
RESERVED_NAMES = ("main", "temp")
_PLACEHOLDER_LIKE = re.compile(r"\((?:to|from)-[a-z]+\)")
_HANDOFF = re.compile(
    r"^(?:(?P<user>[^:@]*):(?P<password>[^@]*)@)?(?P<host>[^:@/]+)"
    r"(?::(?P<port>\d{1,5})(?:/(?P<tls>[A-Za-z]+))?)?$"
)


def _control_characters(text: str) -> bool:
    # C0, DEL and C1 (U+0080-U+009F: U+009B is CSI, which some terminals act on like ESC [).
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def text(field: str, value: object, *, allow_empty: bool = False, limit: int = MAX_TEXT) -> str:
    """Common checks for any string the console stores."""
    if not isinstance(value, str):
        raise Invalid(field, f"The {field} must be text.")
    if not allow_empty and value == "":
        raise Invalid(field, f"The {field} must not be empty.")
    if _control_characters(value):
        raise Invalid(field, f"The {field} must not contain control characters.")
    if len(value) > limit:
        raise Invalid(field, f"The {field} can be at most {limit} characters long.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(field, f"The {field} must be valid UTF-8 text.") from None
    return value


def user_name(value: object, field: str = "user name") -> str:
    name = text(field, value, limit=MAX_PATH)
    if name.strip() == "":
        raise Invalid(field, f"The {field} must not be only whitespace.")
    return name


def user_name_warnings(name: str) -> list[str]:
    warnings = []
    if name != name.strip():
        warnings.append(f"The user name {name!r} has leading or trailing spaces.")
    if name.isdigit():
        warnings.append(f"The user name {name} is all digits; cmail's PHP API mangles such names.")
    if name.lower() in RESERVED_NAMES:
        warnings.append(f"The user name {name} is reserved by cmail's PHP API.")
    if "%" in name or "_" in name:
        warnings.append(
            f"The user name {name} contains % or _, which act as wildcards in list filters."
        )
    return warnings


def expression(value: object, field: str = "expression") -> str:
    return text(field, value, limit=MAX_PATH)


def order(value: object, field: str = "order") -> int:
    """An explicit rule order: any integer SQLite stores as a 64-bit rowid."""
    if isinstance(value, bool):
        raise Invalid(field, f"The {field} must be a whole number.")
    if isinstance(value, str):
        stripped = value.strip()
        # ASCII digits only: int() also reads other scripts' digits ("٣" is 3), strtol does not.
        if not re.fullmatch(r"[+-]?[0-9]+", stripped):
            raise Invalid(field, f"The {field} must be a whole number, not {value!r}.")
        value = int(stripped)
    if not isinstance(value, int):
        raise Invalid(field, f"The {field} must be a whole number.")
    if not -(2**63) <= value < 2**63:
        raise Invalid(field, f"The {field} must fit in a 64-bit integer.")
    return value


def inbound_router(value: object) -> str:
    if value not in INBOUND_ROUTERS:
        raise Invalid(
            "router",
            f"The router must be one of {', '.join(INBOUND_ROUTERS)} (exact case), "
            f"not {value!r}: cmail silently drops mail for unknown routers.",
        )
    return str(value)


def outbound_router(value: object) -> str:
    if value not in OUTBOUND_ROUTERS:
        raise Invalid(
            "router",
            f"The router must be one of {', '.join(OUTBOUND_ROUTERS)} (exact case), not {value!r}.",
        )
    return str(value)


def handoff_problem(route: str) -> str | None:
    """Why cmail-dispatchd would skip this remote, or None (`[user:pass@]host[:port[/tls]]`)."""
    match = _HANDOFF.match(route)
    if match is None:
        return "must look like [user:password@]host[:port[/tls|/starttls]]"
    if len(match["host"]) < 2:
        return "needs a host name of at least 2 characters"
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        return "needs a port between 1 and 65535"
    if match["tls"] is not None and match["tls"] not in ("tls", "starttls"):
        return "may only end in /tls or /starttls"
    return None


def redirect_problem(route: str) -> str | None:
    """Why a redirect target cannot work, or None: only cmail's four placeholders expand."""
    for token in _PLACEHOLDER_LIKE.findall(route):
        if token not in PLACEHOLDERS:
            return f"uses the unknown placeholder {token} (known: {', '.join(PLACEHOLDERS)})"
    if len(route) > MAX_PATH:
        return f"is longer than {MAX_PATH} characters"
    return None


def inbound_route(router: str, route: object) -> str | None:
    """Normalise and check an inbound route for its router. Empty means NULL, never ''.
    `store` targets are checked against the users table by the address service."""
    if route is not None:
        route = text("route", route, allow_empty=True, limit=MAX_PATH)
    route = route or None
    if router in ("store", "redirect", "handoff") and route is None:
        raise Invalid(
            "route",
            f"A {router} rule needs a route; without one cmail rejects every message "
            + ("and an authenticated sender crashes cmail-smtpd." if router == "store" else "."),
        )
    if router == "redirect":
        problem = redirect_problem(route)
        if problem:
            raise Invalid("route", f"The redirect target {problem}.")
    if router == "handoff":
        problem = handoff_problem(route)
        if problem:
            raise Invalid("route", f"The handoff remote {problem}.")
    if router == "drop":
        return None
    return route


def outbound_route(router: str, route: object) -> str | None:
    if route is not None:
        route = text("route", route, allow_empty=True, limit=MAX_PATH)
    route = route or None
    if router == "handoff" and route is not None:
        problem = handoff_problem(route)
        if problem:
            raise Invalid("route", f"The handoff remote {problem}.")
    if router in ("any", "defined", "drop"):
        return None
    return route


def permission(value: object) -> str:
    if value not in ("admin", "delegate"):
        raise Invalid("permission", f"The permission must be admin or delegate, not {value!r}.")
    return str(value)
