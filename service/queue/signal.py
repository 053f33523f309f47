"""Wakes long-polling lease requests as soon as a job is enqueued in this process.

Enqueues happen in threadpool workers, waiters are coroutines on the event loop, so
`notify` hops onto the loop with call_soon_threadsafe. Each wake-up replaces the event:
a waiter that took the event before checking the queue cannot miss a notification that
arrives between its check and its wait. Jobs enqueued by another process are still
found by the waiters' periodic re-check.

On shutdown the server closes its signals (service.app.AppServer): every waiter wakes,
every later wait returns at once, and the loops that wait (lease long polls, event
streams) see `closed` and answer, so uvicorn need not wait for them or cancel them.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress


class QueueSignal:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (at startup)."""
        self._loop = loop
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event | None:
        """The event the next notification sets; take it *before* checking the queue."""
        return self._event

    def notify(self) -> None:
        """Wake every current waiter. Callable from any thread; a no-op before bind."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._wake)

    def close(self) -> None:
        """The server is shutting down: wake every waiter, now and from now on."""
        self._closed = True
        self.notify()

    @property
    def closed(self) -> bool:
        return self._closed

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        if self._closed:
            self._event.set()
        if event is not None:
            event.set()

    @staticmethod
    async def wait(event: asyncio.Event | None, timeout: float) -> None:
        """Sleep until `event` is set or `timeout` seconds pass."""
        if event is None:
            await asyncio.sleep(timeout)
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
