"""Running the remittance service for integration tests: the real composition (``build``) on real
nats-servers, commands over NATS request-reply, and kitchen facts as the requests service writes them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from services.remittance.__main__ import build
from services.remittance.projections import kitchen_registry
from services.requests.events import KitchenNeedMet, KitchenNeedPosted, MealsServed
from shared.endpoints import Reply
from shared.envelope import EventPayload, make_envelope
from shared.eventstore import EventStore
from shared.ids import derived_id, uuid7
from shared.service import Service, ServiceEnv
from shared.sites import Sites
from shared.subjects import AggregateRef


@asynccontextmanager
async def remittance(net: Sites, site: str, var: Path) -> AsyncIterator[Service]:
    """The service at ``site`` as ``aidmesh up`` would start it, in this process."""
    env = ServiceEnv(
        service="remittance",
        site=site,
        nats_url=net.runtimes[site].server.url,
        local_url=net.local_url(site),
        var=var,
        http_port=0,
    )
    service = Service(env)
    await service.connect()
    await build(service)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def ask(nc: NATS, site: str, command: str, payload: dict[str, Any]) -> Reply:
    msg = await nc.request(f"cmd.{site}.remit.{command}", json.dumps(payload).encode(), timeout=20)
    return Reply.model_validate_json(msg.data)


async def must(nc: NATS, site: str, command: str, payload: dict[str, Any]) -> Any:
    reply = await ask(nc, site, command, payload)
    assert reply.ok, reply.error
    return reply.result


class Kitchen:
    """A kitchen's facts, written at its site as the requests service would write them."""

    def __init__(self, nc: NATS, site: str, kitchen_id: str) -> None:
        self.store = EventStore(nc, kitchen_registry, site)
        self.ref = AggregateRef("requests", "kitchen", kitchen_id, site)
        self.kitchen_id = kitchen_id
        self.version = 0

    async def write(self, payload: EventPayload) -> None:
        command = uuid7()
        env = make_envelope(
            payload,
            event_id=derived_id(command, 0),
            aggregate=self.ref,
            occurred_at=datetime.now(UTC),
            actor="kitchen-lead",
            correlation_id=command,
        )
        self.version = (await self.store.append(self.ref, [env], self.version)).version

    async def need(self, need_id: str, cost_minor: int, currency: str = "MMK") -> None:
        await self.write(
            KitchenNeedPosted(
                need_id=need_id,
                kitchen_id=self.kitchen_id,
                item="rice",
                quantity=200,
                unit="kg",
                estimated_cost_minor=cost_minor,
                currency=currency,
                ward="ward-7",
            )
        )

    async def met(self, need_id: str) -> None:
        await self.write(KitchenNeedMet(need_id=need_id, kitchen_id=self.kitchen_id, how="funded"))

    async def meals(self, day: date, meals: int) -> None:
        await self.write(MealsServed(kitchen_id=self.kitchen_id, day=day, meals=meals))
