"""A hub and field sites with the comms service running at each, in this process, against real
nats-servers and link simulators; and small helpers to talk to it as a client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig

from services.comms.assembly import Built, build
from services.comms.events import CONTEXTS
from services.comms.handlers import Comms
from services.comms.keys import encode_key, new_key
from shared.endpoints import Reply
from shared.ids import uuid7
from shared.service import Service, ServiceEnv
from shared.sites import Sites
from shared.subjects import HUB
from tests.sitekit import running_sites, wait_until


@dataclass
class Fleet:
    net: Sites
    services: dict[str, Service] = field(default_factory=dict)
    comms: dict[str, Comms] = field(default_factory=dict)
    built: dict[str, Built] = field(default_factory=dict)

    async def ask(self, site: str, command: str, payload: dict[str, Any]) -> Reply:
        msg = await self.net.nc(site).request(
            f"cmd.{site}.comms.{command}", json.dumps(payload).encode(), timeout=20
        )
        return Reply.model_validate_json(msg.data)

    async def ok(self, site: str, command: str, payload: dict[str, Any]) -> Any:
        reply = await self.ask(site, command, payload)
        assert reply.ok, reply.error
        return reply.result

    async def send(self, site: str, sender: str, to: list[str], body: str, **extra: Any) -> str:
        message_id = extra.pop("message_id", None) or uuid7()
        payload = {"message_id": message_id, "sender": sender, "to": to, "body": body}
        await self.ok(site, "send", {"channel": "main", **payload, **extra})
        return message_id

    async def status(self, site: str, message_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok(site, "status", {"message_id": message_id})
        return result

    async def states(self, site: str, message_id: str) -> dict[str, str]:
        status = await self.status(site, message_id)
        return {d["site"]: d["state"] for d in status["destinations"]}

    async def inbox(self, address: str, site: str) -> list[dict[str, Any]]:
        """The first page (50 messages): enough for every test that does not page."""
        result: list[dict[str, Any]] = (await self.ok(site, "inbox", {"address": address}))["items"]
        return result

    async def open_channel(self, name: str, *, public: bool = False) -> str | None:
        """Open a channel at the hub, give every field site the same key, wait until all know it."""
        await self.ok(HUB, "open_channel", {"command_id": uuid7(), "name": name, "public": public})
        key = None
        if not public:
            key = encode_key(new_key())
            for site in self.field_sites:
                await self.ok(site, "set_key", {"channel": name, "key": key})

        def known() -> bool:
            return all(name in c.reads.directory().channels for c in self.comms.values())

        await wait_until(known, timeout=30)
        return key

    async def list_addresses(self, *addresses: str) -> None:
        for address in addresses:
            site = address.rsplit("@", 1)[1]
            await self.ok(site, "list_address", {"command_id": uuid7(), "address": address})

        def known() -> bool:
            return all(set(addresses) <= c.reads.directory().addresses for c in self.comms.values())

        await wait_until(known, timeout=30)

    @property
    def field_sites(self) -> list[str]:
        return [s for s in self.comms if s != HUB]


@asynccontextmanager
async def comms_sites(
    tmp: Path,
    sites: tuple[str, ...] = ("dili", "yangon-north"),
    *,
    timer_interval: float = 0.5,
    channel: str | None = "main",
    other_contexts: tuple[str, ...] = (),
) -> AsyncIterator[Fleet]:
    async with running_sites(tmp, sites=sites, contexts=(*CONTEXTS, *other_contexts)) as net:
        fleet = Fleet(net)
        try:
            for site in (HUB, *sites):
                env = ServiceEnv(
                    service="comms",
                    site=site,
                    nats_url=net.runtimes[site].server.url,
                    local_url=net.local_url(site),
                    var=tmp / "services",
                    http_port=0,
                )
                service = Service(env)
                await service.connect()
                built = await build(service, timer_interval=timer_interval)
                fleet.comms[site], fleet.built[site] = built.comms, built
                await service.start()
                fleet.services[site] = service

            def everyone_known() -> bool:
                return all(
                    set(fleet.comms) <= c.reads.directory().sites for c in fleet.comms.values()
                )

            await wait_until(everyone_known, timeout=60)
            if channel is not None:
                await fleet.open_channel(channel)
            yield fleet
        finally:
            await asyncio.gather(*(_stop(s) for s in fleet.services.values()))


async def _stop(service: Service) -> None:
    with contextlib.suppress(Exception):
        await service.stop()


@dataclass(frozen=True)
class Stored:
    subject: str
    seq: int
    at: datetime
    data: bytes


async def stored(nc: NATS, stream: str, filter_subject: str) -> list[Stored]:
    """Every message of a stream on ``filter_subject``, in stream order, with the time the stream
    stored it (the server's clock, so messages of two streams of one server compare exactly)."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        filter_subject,
        stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=30.0),
    )
    out: list[Stored] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=2)
            except (NatsTimeout, TimeoutError):
                break
            for m in msgs:
                meta = m.metadata
                out.append(Stored(m.subject, meta.sequence.stream, meta.timestamp, m.data))
    finally:
        await sub.unsubscribe()
    return out
