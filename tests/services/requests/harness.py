"""Running the requests service in-process against real nats-servers, and talking to it over NATS
the way the CLI and other services do."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from services.requests.handlers import Handlers
from services.requests.service import Wiring, wire
from services.requests.subscribers import subject
from shared.endpoints import Reply
from shared.ids import uuid7
from shared.service import Service, ServiceEnv
from shared.sites import Sites
from tests.sitekit import wait_until

COORDINATOR = {"actor": "coord-aye", "role": "coordinator"}


@dataclass
class Running:
    service: Service
    wiring: Wiring

    @property
    def handlers(self) -> Handlers:
        assert self.wiring.handlers is not None, "the hub has no command side"
        return self.wiring.handlers


@asynccontextmanager
async def service_at(net: Sites, site: str, var: Path) -> AsyncIterator[Running]:
    """The service as ``aidmesh up`` runs it at ``site`` (without HTTP: tests use the ASGI app)."""
    env = ServiceEnv(
        service="requests",
        site=site,
        nats_url=net.runtimes[site].server.url,
        local_url=net.local_url(site),
        var=var,
        http_port=0,
    )
    service = Service(env)
    await service.connect()
    wiring = await wire(service)
    await service.start()
    try:
        yield Running(service, wiring)
    finally:
        await service.stop()


async def ask(nc: NATS, site: str, operation: str, body: dict[str, Any] | bytes) -> Reply:
    """One request-reply; waits out the moment before the service's subscriptions exist."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    for _ in range(100):
        try:
            msg = await nc.request(subject(site, operation), data, timeout=20)
            return Reply.model_validate_json(msg.data)
        except NoRespondersError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing answers {operation} at {site}")


async def ok(nc: NATS, site: str, operation: str, body: dict[str, Any]) -> Any:
    reply = await ask(nc, site, operation, body)
    assert reply.ok, f"{operation}: {reply.error}"
    return reply.result


async def refused(nc: NATS, site: str, operation: str, body: dict[str, Any] | bytes) -> Any:
    reply = await ask(nc, site, operation, body)
    assert not reply.ok, f"{operation} should have been refused"
    assert reply.error is not None
    return reply.error


def command(**fields: Any) -> dict[str, Any]:
    return {"command_id": uuid7(), **COORDINATOR, **fields}


async def set_up_site(nc: NATS, site: str, *, max_claims: int = 3) -> None:
    """A coordinator, two wards with streets, a directory entry and the claim settings."""
    await ok(nc, site, "appoint_coordinator", command(coordinator_id="coord-aye"))
    for ward in ("w1", "w2"):
        await ok(nc, site, "define_area", command(area_id=ward, name=f"Ward {ward}", level="ward"))
        for street in ("a", "b"):
            await ok(
                nc,
                site,
                "define_area",
                command(
                    area_id=f"{ward}-{street}",
                    name=f"Street {street}",
                    level="street",
                    parent_id=ward,
                ),
            )
    await ok(
        nc,
        site,
        "list_directory_entry",
        command(entry_id="clinic-1", name="Clinic", kind="clinic", how_to_reach="Mon-Fri 8-16"),
    )
    await ok(
        nc,
        site,
        "change_settings",
        command(default_max_claims=max_claims, claim_expiry_minutes=60, urgent_alert_minutes=15),
    )


async def register(nc: NATS, site: str, volunteer: str, area: str = "w1-a") -> None:
    await ok(
        nc,
        site,
        "register_volunteer",
        command(volunteer_id=volunteer, area_id=area, skills=["food", "medicine", "care"]),
    )


def as_volunteer(volunteer: str, **fields: Any) -> dict[str, Any]:
    return {"command_id": uuid7(), "actor": volunteer, "role": "volunteer", **fields}


async def until_listed(
    nc: NATS, site: str, operation: str, body: dict[str, Any], count: int
) -> Any:
    """Poll a read model until it holds ``count`` rows (projections follow the stream)."""
    rows: list[Any] = []

    async def enough() -> bool:
        nonlocal rows
        found = await ok(nc, site, operation, body)
        rows = found["items"] if isinstance(found, dict) else found  # a page or a whole list
        return len(rows) >= count

    await wait_until(enough, timeout=60, step=0.1)
    return rows


async def cli(
    net: Sites, site: str, *args: str, actor: str = "coord-aye"
) -> subprocess.CompletedProcess[str]:
    """``aidmesh`` requests subcommands in a process of their own, against ``site``'s server (the
    service answers from the test's event loop meanwhile)."""
    env = {**os.environ, "AIDMESH_NATS_URL": net.runtimes[site].server.url, "AIDMESH_ACTOR": actor}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.requests.cli", *args, "--site", site],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
