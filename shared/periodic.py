"""A background step repeated at an interval: timers that expire claims, pledges and messages, and
the sync watcher. One implementation, so that every one of them behaves alike where it matters:
a failing step is logged and the next one tries again (a timer that dies silently would leave
claims and pledges unexpired for good), and ``stop`` lets a running step finish (within a grace
period) instead of cancelling a command half-way through its append."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared import telemetry
from shared.waiting import cancel_and_wait, wait_event

_log = telemetry.get_logger("aidmesh.periodic")


class Periodic:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        interval: float,
        *,
        at_start: bool = False,
    ) -> None:
        """``at_start``: take the first step at once rather than after the first interval."""
        self.name = name
        self.interval = interval
        self._step = step
        self._at_start = at_start
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace: float = 10.0) -> None:
        """Let a running step finish, for at most ``grace`` seconds: a step stuck on a server that
        is going away must not hold up the service's shutdown."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            _log.warning("periodic.step_cancelled", task=self.name, grace_s=grace)
            await cancel_and_wait(task)

    async def _run(self) -> None:
        if not self._at_start:
            await self._wait()
        while not self._stopping.is_set():
            try:
                await self._step()
            except Exception as exc:  # a store, read model or server briefly away: next step
                _log.warning(
                    "periodic.step_failed", task=self.name, error=telemetry.error_text(exc)
                )
            await self._wait()

    async def _wait(self) -> None:
        await wait_event(self._stopping, self.interval)
