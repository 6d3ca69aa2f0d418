"""One service process: its environment, connections, consumers, command endpoints and HTTP API,
started together and stopped in order on SIGTERM (what ``aidmesh up`` sends) or Ctrl-C.

A service's ``main.py`` is the composition root: it builds a :class:`Service`, adds what it runs,
and calls :meth:`Service.run`. This is the only place that reads the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from shared import telemetry
from shared.endpoints import Endpoints
from shared.projector import ProjectionRunner, start_together
from shared.reactor import Reactor
from shared.subjects import HUB, site_id


@dataclass(frozen=True)
class ServiceEnv:
    service: str
    site: str
    nats_url: str
    local_url: str | None
    var: Path
    http_port: int

    @classmethod
    def from_env(cls, service: str) -> ServiceEnv:
        return cls(
            service=service,
            site=site_id(os.environ.get("AIDMESH_SITE", HUB)),
            nats_url=os.environ.get("AIDMESH_NATS_URL", "nats://127.0.0.1:4222"),
            local_url=os.environ.get("AIDMESH_LOCAL_URL") or None,
            var=Path(os.environ.get("AIDMESH_VAR") or "var"),
            http_port=int(os.environ.get("AIDMESH_HTTP_PORT", "0")),
        )

    def db_path(self, name: str) -> Path:
        path = self.var / "db" / f"{self.service}-{self.site}-{name}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


Hook = Callable[[], Awaitable[None]]


class Service:
    def __init__(self, env: ServiceEnv) -> None:
        self.env = env
        self.nc: NATS | None = None
        self.local: NATS | None = None
        self._endpoints: Endpoints | None = None
        self.projections: list[ProjectionRunner] = []
        self.reactors: list[Reactor] = []
        self.app: FastAPI | None = None
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._http: Any = None

    async def connect(self) -> NATS:
        """The application connection (events, streams); the local one is opened when configured."""
        self.nc = await nats.connect(
            self.env.nats_url, name=f"{self.env.service}@{self.env.site}", max_reconnect_attempts=-1
        )
        if self.env.local_url:
            self.local = await nats.connect(
                self.env.local_url,
                name=f"{self.env.service}-local@{self.env.site}",
                max_reconnect_attempts=-1,
            )
        return self.nc

    @property
    def endpoints(self) -> Endpoints:
        """The NATS command endpoints (request-reply), served once the consumers are running."""
        if self._endpoints is None:
            assert self.nc is not None, "connect() first"
            self._endpoints = Endpoints(self.nc)
        return self._endpoints

    def on_start(self, hook: Hook) -> None:
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        self._on_stop.append(hook)

    async def start(self) -> None:
        if self.nc is None:
            await self.connect()
        for hook in self._on_start:
            await hook()
        await start_together(self.projections)
        for reactor in self.reactors:
            await reactor.start()
        if self._endpoints is not None:
            await self._endpoints.start()
        if self.app is not None and self._endpoints is not None:
            self._describe_endpoints(self.app, self._endpoints)
        if self.app is not None and self.env.http_port:
            await self._serve_http(self.app)

    def _describe_endpoints(self, app: FastAPI, endpoints: Endpoints) -> None:
        """``GET /asyncapi.json`` beside ``/openapi.json``: the NATS side of the same interface."""
        title = f"aidmesh {self.env.service} @ {self.env.site}"
        version = app.version
        doc: dict[str, Any] = {}

        async def asyncapi() -> dict[str, Any]:
            if not doc:
                doc.update(endpoints.asyncapi(title, version))
            return doc

        app.add_api_route("/asyncapi.json", asyncapi, methods=["GET"], include_in_schema=False)

    async def _serve_http(self, app: FastAPI) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.env.http_port, log_config=None, access_log=False
        )
        self._http = uvicorn.Server(config)
        self._http.install_signal_handlers = lambda: None  # the service owns the signals
        asyncio.get_running_loop().create_task(self._http.serve())

    async def stop(self) -> None:
        if self._http is not None:
            self._http.should_exit = True
        if self._endpoints is not None:
            await self._endpoints.stop()
        for reactor in reversed(self.reactors):
            await reactor.stop()
        for runner in reversed(self.projections):
            await runner.stop()
        for hook in reversed(self._on_stop):
            await hook()
        for conn in (self.local, self.nc):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.drain()

    async def run(self) -> None:
        """Start, wait for SIGTERM or SIGINT, stop cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log = telemetry.get_logger("aidmesh.service")
        await self.start()
        log.info("service.started", service=self.env.service, http_port=self.env.http_port)
        await stop.wait()
        log.info("service.stopping", service=self.env.service)
        await self.stop()


def main(service: str, build: Callable[[Service], Awaitable[None]]) -> None:
    """The usual ``python -m services.<name>``: telemetry, build, run."""
    env = ServiceEnv.from_env(service)
    tel = telemetry.configure(service, env.site, var_dir=env.var)

    async def go() -> None:
        svc = Service(env)
        await svc.connect()
        await build(svc)
        await svc.run()

    try:
        asyncio.run(go())
    finally:
        tel.shutdown()
