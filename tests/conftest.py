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
