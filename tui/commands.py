"""Command palette (ctrl+p): jump to any module this role may open."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import CmailConsole


class ModuleCommands(Provider):
    """ "Go to POP locks" etc.: the modules of the logged-in role (none before login)."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        console: CmailConsole = self.app  # type: ignore[assignment]
        if console.session is None:
            return []
        return [
            (
                f"Go to {module.title}",
                partial(console.run_action, f"open_module('{module.id}')"),
                f"Open the {module.title} module (key {module.key})",
            )
            for module in console.visible_modules()
        ]

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
