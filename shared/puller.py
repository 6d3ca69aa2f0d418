"""A pull-consumer fetcher on one long-lived inbox.

nats-py's ``fetch`` starts a task (named with a fresh uuid4) for every message it waits for; a
consumer of tens of thousands of events a second spent a noticeable share of its CPU there. Here one
subscription receives every delivery into a queue, at most one pull request is outstanding, and a
delivery that arrives after a fetch returned simply waits in the queue for the next one: nothing is
delivered into a dead inbox, so consumer sequences stay gap-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared.waiting import wait_event

_END = {"404", "408", "409"}  # no messages, request expired, request or consumer gone


class Puller:
    def __init__(self, nc: NATS, stream: str, consumer: str, api_prefix: str = "$JS.API") -> None:
        self._nc = nc
        self._next = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = ""
        self._sub: Subscription | None = None
        self._queue: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._outstanding = 0  # messages the current pull request may still deliver

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    def reset(self) -> None:
        """Forget queued deliveries (the consumer was recreated; they will come again)."""
        self._queue.clear()
        self._outstanding = 0

    async def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._queue.append(msg)
            self._outstanding = max(0, self._outstanding - 1)
        elif status in _END:
            self._outstanding = 0
        else:
            return  # heartbeats and flow control carry nothing for us
        self._arrived.set()

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` deliveries; waits at most ``timeout`` when none are queued."""
        if not self._queue:
            if not self._outstanding:
                request = {"batch": batch, "expires": int(timeout * 1e9)}
                self._outstanding = batch
                await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
            self._arrived.clear()
            if not await wait_event(self._arrived, timeout + 0.5):
                self._outstanding = 0  # the request has surely expired by now
                return []
        take = min(batch, len(self._queue))
        return [self._queue.popleft() for _ in range(take)]
