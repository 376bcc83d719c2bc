"""Database strings with markup and escape characters are displayed literally (issue 6).

A user name, an address rule and a send route that hold Rich markup and terminal escapes were
written by someone else (cmail's own tools take anything). The Users, Addresses, Routing and POP
screens must show them as typed: markup not interpreted (no style, no link), ESC and other
control characters as visible escapes, and no raw control character anywhere on the screen.
The expected texts are written out by hand here, not computed with the console's own helper.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from tuikit import MARKUP_USER, settle, sql

from core.passwords import hash_password
from tui.app import CmailConsole

SIZE = (160, 40)  # wide enough that no cell checked here is cropped
# A user whose name sets the window title (OSC 0 … BEL), is a hyperlink, and ends in a C1 CSI.
LINK_USER = "\x1b]0;t\x07[link=https://evil.example]me[/link]\x9b"
LINK_USER_SHOWN = "\\e]0;t\\x07[link=https://evil.example]me[/link]\\x9b"
MARKUP_USER_SHOWN = "[b]x[/b]\\e[31m"
RULE_ORDER = 9001  # highest order: first on the Addresses screen
RULE_EXPRESSION = "[b]x[/b]\x1b[2J%@ex.org"
RULE_EXPRESSION_SHOWN = "[b]x[/b]\\e[2J%@ex.org"
REJECT_ORDER = 9000
REJECT_ROUTE = "[red]no[/red]\x1b[31m\r\nFAKE"
REJECT_ROUTE_SHOWN = "[red]no[/red]\\e[31m\\r\\nFAKE"
SEND_ROUTE = "[b]mx[/b].example\x1b[5m"
SEND_ROUTE_SHOWN = "[b]mx[/b].example\\e[5m"


@pytest.fixture
def hostile_rows(console_path: Path) -> Path:
    """Rows as cmail-admin would store them: straight into the file, no console rule applied."""
    sql(
        console_path,
        "INSERT INTO users (user_name, user_authdata, user_alias) VALUES (?, ?, ?)",
        LINK_USER,
        hash_password("irrelevant"),
        MARKUP_USER,
    )
    sql(console_path, "INSERT INTO popd (pop_user, pop_lock) VALUES (?, 1)", LINK_USER)
    sql(console_path, "INSERT INTO smtpd VALUES (?, 'handoff', ?)", LINK_USER, SEND_ROUTE)
    sql(
        console_path,
        "INSERT INTO addresses (address_order, address_expression, address_router, address_route)"
        " VALUES (?, ?, 'store', ?)",
        RULE_ORDER,
        RULE_EXPRESSION,
        MARKUP_USER,
    )
    sql(
        console_path,
        "INSERT INTO addresses (address_order, address_expression, address_router, address_route)"
        " VALUES (?, '[i]z[/i]@ex.org', 'reject', ?)",
        REJECT_ORDER,
        REJECT_ROUTE,
    )
    return console_path


# --- helpers ---------------------------------------------------------------------------------
async def open_module(pilot: Pilot, key: str) -> None:
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)


def row(app: CmailConsole, key: str) -> list[Text]:
    """The cells of one row of the current screen's table, as the table holds them."""
    return list(app.screen.table.table.get_row(key))


def assert_literal(cell: Text, expected: str) -> None:
    """Exactly the expected characters, and no style or link that markup could have made."""
    assert cell.plain == expected
    assert cell.spans == [], f"markup was interpreted in {cell.plain!r}: {cell.spans}"
    assert "link" not in str(cell.style)


def screen_lines(app: CmailConsole) -> list[str]:
    """What the terminal is sent for the whole screen, as text, line by line."""
    update = app.screen._compositor.render_full_update(simplify=True)
    return ["".join(segment.text for strip in line for segment in strip) for line in update.strips]


def assert_screen_shows(app: CmailConsole, *expected: tuple[str, int]) -> None:
    """No raw control character anywhere on screen, and each text's first `width` characters
    (what its column has room for) shown as typed."""
    lines = screen_lines(app)
    raw = {c for line in lines for c in line if not c.isprintable()}
    assert not raw, f"raw control characters reach the terminal: {raw!r}"
    for text, width in expected:
        assert any(text[:width] in line for line in lines), f"{text[:width]!r} is not shown"


# --- the screens -----------------------------------------------------------------------------
async def test_users_screen(hostile_rows, console, session_for) -> None:
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_module(pilot, "1")
        name, _, alias, *_ = row(app, LINK_USER)
        assert_literal(name, LINK_USER_SHOWN)
        assert_literal(alias, MARKUP_USER_SHOWN)
        assert_literal(row(app, MARKUP_USER)[0], MARKUP_USER_SHOWN)
        assert_screen_shows(app, (LINK_USER_SHOWN, 14), (MARKUP_USER_SHOWN, 14))


async def test_addresses_screen(hostile_rows, console, session_for) -> None:
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_module(pilot, "3")
        _, expression, router, route = row(app, str(RULE_ORDER))[:4]
        assert_literal(expression, RULE_EXPRESSION_SHOWN)
        assert_literal(router, "store")
        assert_literal(route, MARKUP_USER_SHOWN)
        assert_literal(row(app, str(REJECT_ORDER))[3], REJECT_ROUTE_SHOWN)
        assert_screen_shows(app, (RULE_EXPRESSION_SHOWN, 21), (REJECT_ROUTE_SHOWN, 27))


async def test_routing_screen(hostile_rows, console, session_for) -> None:
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_module(pilot, "4")
        user, router, route, note = row(app, LINK_USER)
        assert_literal(user, LINK_USER_SHOWN)
        assert_literal(router, "handoff")
        assert_literal(route, SEND_ROUTE_SHOWN)
        assert_literal(note, f"alias of {MARKUP_USER_SHOWN}: ignored")
        assert_screen_shows(app, (LINK_USER_SHOWN, 13), (SEND_ROUTE_SHOWN, 21))


async def test_pop_screen(hostile_rows, console, session_for) -> None:
    app = console(session=session_for("cbdev"))
    async with app.run_test(size=SIZE) as pilot:
        await open_module(pilot, "5")
        user, _, note = row(app, LINK_USER)
        assert_literal(user, LINK_USER_SHOWN)
        assert_literal(note, f"alias of {MARKUP_USER_SHOWN} (uses {MARKUP_USER_SHOWN}'s row)")
        assert_literal(row(app, MARKUP_USER)[0], MARKUP_USER_SHOWN)
        assert_screen_shows(app, (LINK_USER_SHOWN, 14), (MARKUP_USER_SHOWN, 14))
