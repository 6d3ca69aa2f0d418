"""The expiry timer: when a message's lifetime ends unconfirmed, say so, never drop it silently.

At every site it ends the lifetime of its own messages the hub has not confirmed taking; at the hub
it ends custody for sites that have not confirmed delivery. Each command's id derives from the
message id and its time is the expiry itself, so a timer that fires twice, or two timers, decide
the very same events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.comms.custody import EndCustodyLifetime
from services.comms.decider import message_ref, tracking_ref
from services.comms.handlers import Comms
from services.comms.message import EndLifetime
from shared import telemetry
from shared.commands import CommandHandler, CommandMeta
from shared.decider import Refused
from shared.ids import child_id
from shared.periodic import Periodic
from shared.subjects import HUB, AggregateRef

SENDER_INDEX, HUB_INDEX = 1, 2
BATCH = 500
_log = telemetry.get_logger("aidmesh.comms.timers")


class ExpiryTimer:
    def __init__(
        self, comms: Comms, interval: float = 1.0, ready: Callable[[], bool] = lambda: True
    ) -> None:
        """``ready``: whether the read models hold what the stream holds. A lifetime looks ended
        in a read model that has replayed a message but not yet the hub's custody of it, and a
        tick then would record it as ended (seen on a rebuild): the timer waits instead."""
        self.comms = comms
        self._ready = ready
        self._periodic = Periodic("comms-expiry", self.tick, interval, at_start=True)
        self._done: dict[tuple[str, int], float] = {}  # decided lately; the read model may lag
        self.ended = 0

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def tick(self) -> int:
        """Decide every lifetime that has ended; returns how many commands were decided."""
        if not self._ready():
            return 0
        now = self.comms.clock()
        self._forget_old()
        decided = 0
        reads = self.comms.reads
        for row in list(reads.lifetimes_ended_here(now, BATCH)):
            mid, expired = row["message_id"], datetime.fromisoformat(row["expires_at"])
            if self._seen(mid, SENDER_INDEX):
                continue
            ref = message_ref(row["priority"], mid, self.comms.site)
            meta = self._meta(mid, SENDER_INDEX, expired)
            decided += await self._decide(self.comms.messages, ref, EndLifetime(expired), meta)
        if self.comms.site == HUB:
            for row in list(reads.lifetimes_ended_in_custody(now, BATCH)):
                mid, expired = row["message_id"], datetime.fromisoformat(row["expires_at"])
                if self._seen(mid, HUB_INDEX):
                    continue
                ref = tracking_ref(row["priority"], mid, row["origin"])
                meta = self._meta(mid, HUB_INDEX, expired)
                command = EndCustodyLifetime(expires_at=expired, at=expired)
                decided += await self._decide(self.comms.tracking, ref, command, meta)
        self.ended += decided
        return decided

    def _meta(self, mid: str, index: int, expired: datetime) -> CommandMeta:
        return CommandMeta(child_id(mid, index), f"timer@{self.comms.site}", expired, mid)

    async def _decide(
        self,
        handler: CommandHandler[Any, Any, Any],
        ref: AggregateRef,
        command: object,
        meta: CommandMeta,
    ) -> int:
        try:
            await handler.handle(ref, command, meta)
        except Refused as refusal:
            _log.info("comms.expiry_refused", reason=refusal.message)
            return 0
        return 1

    def _seen(self, mid: str, index: int) -> bool:
        key = (mid, index)
        if key in self._done:
            return True
        self._done[key] = time.monotonic()
        return False

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - 60
        for key in [k for k, t in self._done.items() if t < cutoff]:
            del self._done[key]
