"""The benchmark's yardstick: a minimal Textual app (a header, two inputs, a footer).

bench/run.py starts it beside the console to compare start time and memory with what Textual
itself costs. `python bench/bare_app.py` runs it in this terminal (ctrl+q quits).
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Input


class BareApp(App[None]):
    TITLE = "bare"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="user name", id="user")
        yield Input(placeholder="password", password=True, id="password")
        yield Footer()


if __name__ == "__main__":
    BareApp().run()
