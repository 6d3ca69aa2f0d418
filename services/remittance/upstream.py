"""Reading another service's stream that may not exist yet: the requests service may be deployed
after this one, or not at all at a site. The kitchen projection starts once its stream appears; until
then donors simply see no kitchen needs, and nothing else waits for it."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from shared import telemetry
from shared.projector import ProjectionRunner

_log = telemetry.get_logger("aidmesh.remit.upstream")


class WhenStreamExists:
    def __init__(self, nc: NATS, runner: ProjectionRunner, every_s: float = 5.0) -> None:
        self._js = nc.jetstream()
        self.runner = runner
        self.every_s = every_s
        self.started = False
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._wait(), name=f"upstream-{self.runner.durable}")

    async def _wait(self) -> None:
        while not self._stop.is_set():
            try:
                await self._js.stream_info(self.runner.stream)
                await self.runner.start()
                self.started = True
                return
            except NotFoundError:
                pass
            except Exception as exc:
                _log.warning("upstream.not_ready", stream=self.runner.stream, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every_s)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.started:
            await self.runner.stop()
            self.started = False
