"""Consuming another service's stream that may not exist yet: the requests service may be deployed
after remittance or comms, or not at all at a site. The consumer starts once the stream appears;
until then its read model or reactions are simply empty, and nothing else waits for it."""

from __future__ import annotations

import asyncio
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from shared import telemetry
from shared.waiting import wait_event

_log = telemetry.get_logger("aidmesh.upstream")


class StreamConsumer(Protocol):
    """A projection runner or a reactor."""

    @property
    def stream(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class WhenStreamExists:
    def __init__(self, nc: NATS, consumer: StreamConsumer, every_s: float = 5.0) -> None:
        self._js = nc.jetstream()
        self.consumer = consumer
        self.every_s = every_s
        self.started = False
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._wait(), name=f"upstream-{self.consumer.stream}")

    async def _wait(self) -> None:
        while not self._stop.is_set():
            try:
                await self._js.stream_info(self.consumer.stream)
                await self.consumer.start()
                self.started = True
                return
            except NotFoundError:
                pass
            except Exception as exc:  # the server is restarting: look again shortly
                _log.warning(
                    "upstream.not_ready",
                    stream=self.consumer.stream,
                    error=telemetry.error_text(exc),
                )
            await wait_event(self._stop, self.every_s)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.started:
            await self.consumer.stop()
            self.started = False
