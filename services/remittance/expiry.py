"""The hub's timer that voids pledges nobody funded by their deadline.

It only proposes: the decider holds the rule (the command carries the time, and is refused if the
pledge was funded meanwhile or is not yet due), and the expiry's id derives from the transfer's, so
two timers, a restart or a retry all record the one same expiry. The grace period lets a rail's
callback that was delayed past the deadline (dated before it) still fund the pledge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.remittance.donations import Donations
from shared import telemetry
from shared.decider import Refused
from shared.periodic import Periodic

_log = telemetry.get_logger("aidmesh.remit.expiry")


class ExpiryTimer:
    def __init__(
        self,
        donations: Donations,
        *,
        every_s: float = 30.0,
        grace: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.donations = donations
        self.grace = grace
        self.clock = clock
        self.expired = 0
        self._periodic = Periodic("remit-expiry", self.tick, every_s)

    async def tick(self) -> int:
        """Expire every pledge past its deadline and the grace; returns how many were expired."""
        now = self.clock()
        count = 0
        for transfer_id in self.donations.due(now, self.grace):
            try:
                result = await self.donations.expire(transfer_id, now)
            except Refused as refusal:
                _log.info("expiry.refused", transfer_id=transfer_id, reason=refusal.code)
                continue
            if result["state"] == "expired":
                count += 1
        self.expired += count
        return count

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
