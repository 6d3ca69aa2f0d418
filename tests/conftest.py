"""Fixtures: a real nats-server per test session on free loopback ports, data in a temp dir,
stopped by PID at the end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from shared.natsserver import NatsServer, ServerSpec, free_port

os.environ.setdefault("AIDMESH_VAR", "")


def start_server(tmp: Path, name: str = "hub", domain: str = "hub", **kwargs: object) -> NatsServer:
    spec = ServerSpec(
        name=name,
        domain=domain,
        store_dir=tmp / name / "js",
        port=free_port(),
        http_port=free_port(),
        **kwargs,  # type: ignore[arg-type]
    )
    return NatsServer(spec, tmp / name / "run").start()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = start_server(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1)
    yield client
    await client.drain()


@pytest.fixture(scope="session")
def traces_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Spans of this whole test session go to JSON-lines files here (the default exporter)."""
    from shared import telemetry

    base = tmp_path_factory.mktemp("var")
    provider = telemetry.configure_tracing("tests", "hub", var_dir=base)
    yield base / "traces"
    provider.shutdown()


@pytest.fixture(autouse=True)
async def _stacks_before_timeout(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A test that hangs is killed by pytest-timeout with the main thread's stack only, which for
    asyncio code is the event loop's select; the task that never ended is invisible. Shortly before
    the timeout, print every task's stack (and every thread's) so a hang seen once in CI can be
    read from its log."""
    import asyncio
    import faulthandler
    import sys
    import threading

    marker = request.node.get_closest_marker("timeout")
    limit = float(
        marker.args[0] if marker and marker.args else request.config.getini("timeout") or 0
    )
    loop = asyncio.get_running_loop()

    def dump() -> None:
        print(f"\n--- {request.node.nodeid} still running: asyncio tasks ---", file=sys.stderr)
        for task in list(asyncio.all_tasks(loop)):
            task.print_stack(file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)

    watchdog = threading.Timer(max(limit - 15, 1), dump) if limit else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    yield
    if watchdog is not None:
        watchdog.cancel()
