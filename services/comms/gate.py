"""Priority inside one service process: a step of a lower class waits while a higher class has work
under way.

Separate streams and consumers keep an emergency message from queueing behind bulk messages in
JetStream and on the link, but the hub's relay for every class shares one event loop: measured,
twenty lanes of bulk custody work held an emergency relay back by seconds. Each relay or delivery
step passes this gate, so after a link returns the first emergency step only waits for the bulk
steps already begun (one append each), and bulk resumes when no higher class has anything left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.comms.events import PRIORITIES, Priority

RANK: dict[Priority, int] = {p: i for i, p in enumerate(PRIORITIES)}


class PriorityGate:
    def __init__(self) -> None:
        self._active = [0] * len(PRIORITIES)
        self._changed = asyncio.Condition()

    def _clear_above(self, rank: int) -> bool:
        return not any(self._active[:rank])

    @asynccontextmanager
    async def step(self, priority: Priority) -> AsyncIterator[None]:
        rank = RANK[priority]
        if rank == 0:
            self._active[0] += 1  # the top class never waits
        else:
            async with self._changed:
                await self._changed.wait_for(lambda: self._clear_above(rank))
                self._active[rank] += 1
        try:
            yield
        finally:
            self._active[rank] -= 1
            if rank < len(PRIORITIES) - 1 and not self._active[rank]:
                async with self._changed:
                    self._changed.notify_all()

    def busy(self) -> list[int]:
        return list(self._active)
