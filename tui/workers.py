"""Getting results of thread workers back to the UI thread.

Database work runs in thread workers (`@work(thread=True, exclusive=True, group=…,
exit_on_error=False)`). Inside one, call `self.attempt(call, then)`: it runs `call()` (a core
service) in the thread and hands the result to `then` on the UI thread, or shows a CmailError as
one sentence. The hand-back is a message posted to the widget that started the work, so:

* it never blocks the worker (unlike `call_from_thread`, which waits for the UI);
* it is dropped if that widget or screen is gone (logged out, dialog closed);
* it is dropped if the worker was cancelled by a newer one in its exclusive group, so a slow
  stale page can never overwrite a fresh one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import NoActiveWorker, get_current_worker

from core.errors import CmailError

if TYPE_CHECKING:
    from tui.app import CmailConsole

T = TypeVar("T")
log = logging.getLogger("cmail.tui")


class Reply(Message, bubble=False):
    """A callable to run on the UI thread, posted from a worker thread to its own widget."""

    def __init__(self, callback: Callable[[], object]) -> None:
        super().__init__()
        self.callback = callback


def deliver(target: MessagePump, callback: Callable[..., object], *args: Any) -> None:
    """From a worker thread: run `callback(*args)` on the UI thread via `target`'s queue."""
    try:
        if get_current_worker().is_cancelled:
            return
    except NoActiveWorker:
        pass
    # RuntimeError is NoActiveAppError (a private class): the widget was detached, so nobody
    # is waiting for this result any more.
    with suppress(RuntimeError):
        target.post_message(Reply(partial(callback, *args)))


class ServiceCalls:
    """Mixin for screens and widgets that call core services from thread workers."""

    @property
    def console(self) -> CmailConsole:
        return self.app  # type: ignore[attr-defined,return-value]

    def on_reply(self, message: Reply) -> None:
        message.callback()

    def attempt(self, call: Callable[[], T], then: Callable[[T], object]) -> bool:
        """Run `call()` here (inside a thread worker) and `then(result)` on the UI thread.
        A CmailError is reported as its sentence; returns whether the call succeeded."""
        target: MessagePump = self  # type: ignore[assignment]
        try:
            result = call()
        except CmailError as error:
            deliver(target, self.console.report_error, error)
            return False
        except Exception as error:  # a bug, not a refusal: one line on screen, details in the log
            log.exception("unexpected error in a worker")
            deliver(target, self.console.report_bug, error)
            return False
        deliver(target, then, result)
        return True
