"""The key footer of the console's screens: Textual's compact `Footer`, rebuilt only when the keys
it shows change.

Textual's Footer throws its key widgets away and makes new ones whenever the screen refreshes its
bindings, changed or not, and a list refreshes them on every move of the cursor (a key may depend
on the row). Those are ten widgets, their styles and rendered lines per cursor move: time, and
garbage that only the cyclic collector frees (about 1 MB more memory at the peak of a session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen

# What a footer shows of one binding: key, action, description, shown, enabled, tooltip.
Shown = tuple[tuple[str, str, str, bool, bool, str], ...]


def shown_keys(screen: Screen) -> Shown:
    return tuple(
        (key, binding.action, binding.description, binding.show, enabled, tooltip)
        for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items()
    )


class KeyFooter(Footer):
    """A compact Footer that recomposes only when its keys change."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._shown: Shown | None = None  # the keys of the last recompose

    def bindings_changed(self, screen: Screen) -> None:
        # As Footer.bindings_changed, but the recompose is asked for only if the keys differ.
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        if not self.is_attached or self._pruning:
            return  # the screen went meanwhile (e.g. a logout): its keys are not asked
        shown = shown_keys(self.screen)
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
