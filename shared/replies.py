"""Request-reply multiplexed on one inbox subscription, for the store's hot path.

nats-py's ``request`` draws random bytes from the OS and wraps every wait in ``asyncio.wait_for``;
at tens of thousands of appends a second that was a measurable share of a service's CPU. Here a
request is a counter token and a future. Deadlines are checked by one timer that runs while
requests are pending (every ``_SWEEP`` seconds), not by a timer per request: arming and cancelling a
timer handle per append was a third of this module's cost. A request therefore times out up to
``_SWEEP`` late, which is noise beside the store's timeout of seconds.
"""

from __future__ import annotations

import asyncio
import itertools

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

_SWEEP = 0.1


class RequestTimeout(Exception):
    """No reply in time: the server is down, slow, or nothing listens on the subject."""


class Replies:
    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = ""
        self._sub: Subscription | None = None
        self._pending: dict[str, tuple[asyncio.Future[Msg], float]] = {}
        self._tokens = itertools.count()
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweeper_loop: asyncio.AbstractEventLoop | None = None

    async def _ensure(self) -> None:
        if self._sub is not None:
            return
        async with self._lock:
            if self._sub is None:
                self._prefix = self._nc.new_inbox() + "."
                self._sub = await self._nc.subscribe(self._prefix + "*", cb=self._on_reply)

    async def _on_reply(self, msg: Msg) -> None:
        waiting = self._pending.pop(msg.subject[len(self._prefix) :], None)
        if waiting is not None and not waiting[0].done():
            waiting[0].set_result(msg)

    async def request(
        self, subject: str, payload: bytes, timeout: float, headers: dict[str, str] | None = None
    ) -> Msg:
        await self._ensure()
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._pending[token] = (future, loop.time() + timeout)
        if self._sweeper is None or self._sweeper_loop is not loop:  # (a new loop: tests)
            self._sweeper, self._sweeper_loop = loop.call_later(_SWEEP, self._sweep), loop
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
            return await future
        finally:
            self._pending.pop(token, None)

    def _sweep(self) -> None:
        """Fail the requests past their deadline; run again while any are pending."""
        self._sweeper = None
        if not self._pending:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = [token for token, (_, deadline) in self._pending.items() if deadline <= now]
        for token in late:
            future, _ = self._pending.pop(token)
            if not future.done():
                future.set_exception(
                    RequestTimeout(f"no reply within the timeout (request {token})")
                )
        if self._pending:
            self._sweeper = loop.call_later(_SWEEP, self._sweep)

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        await self._nc.publish(subject, payload, headers=headers)
