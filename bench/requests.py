"""Requests service benchmark: commands per second through the service (create + claim + fulfil,
over NATS request-reply to a service instance running in this process at a field site), beside the
raw append rate of the same server measured in the same run."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from bench.harness import PlainAppends, Row, Timer, server
from services.requests.service import wire
from services.requests.subscribers import subject
from shared.ids import uuid7
from shared.service import Service, ServiceEnv
from shared.streams import StreamSpec, dead_letter_stream, ensure_stream, event_stream

SITE = "dili"
CLIENTS = 32
REQUESTS_PER_CLIENT = 40  # three commands each
NOTES = (
    "Commands: each client opens a request (its contact goes to the site's vault), claims it as "
    "its volunteer and fulfils it, one after another, over NATS request-reply to the service at a "
    "field site. A create is one append plus the vault write (no read first: the client's id "
    "is new); a claim and a fulfil each append on the volunteer and on "
    "the request. The raw baseline is `js.publish` with `Nats-Expected-Last-Subject-Sequence` by "
    "as many concurrent writers, one subject each, on the same server. The floor is the least "
    "any Python service can do for the same commands here: a nats-py responder that writes "
    "exactly what they write (the contact create-only to a KV bucket and one append for a "
    "create, two appends for a claim and for a fulfil) and answers, with no validation, "
    "decision, encryption, idempotency or read model; its ratio to the raw rate is the ceiling "
    "of the first row's. This process's CPU per command is printed."
)


async def raw_appends(nc: NATS, writers: int, each: int) -> float:
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="RAWREQ", subjects=("rawreq.>",), allow_atomic=False))
    body = json.dumps({"category": "food", "urgency": "urgent", "ward": "w1"}).encode()

    appends = PlainAppends(js)

    async def writer(i: int) -> None:
        for _ in range(each):
            await appends.append(f"rawreq.{i}", body)

    timer = Timer()
    await asyncio.gather(*(writer(i) for i in range(writers)))
    return timer.rate(writers * each)


async def floor_service(nc: NATS, clients: int, each: int) -> float:
    """The floor of any Python service for these commands on this machine: a nats-py responder
    that does only what the commands need of the store (a create writes the contact create-only
    to a KV bucket and appends one event; a claim and a fulfil each append on the volunteer and on
    the request, with the expected last subject sequence) and answers. No validation, decision,
    encryption, idempotency or read model: what the service adds is the rest of its cost."""
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="FLOOR", subjects=("floor.>",), allow_atomic=False))
    contacts = await js.create_key_value(bucket="floor_contacts", history=1)
    append = PlainAppends(js).append

    async def handle(msg: Msg) -> None:
        body = json.loads(msg.data)
        request = body["request_id"]
        if msg.subject.endswith(".create"):
            await contacts.create(f"c{request.replace('-', '')}", b"sealed contact" * 8)
        else:
            await append(f"floor.volunteer.{body['client']}", msg.data)
        await append(f"floor.request.{request}", msg.data)
        await msg.respond(b'{"ok":true,"result":{}}')

    async def on_request(msg: Msg) -> None:
        asyncio.get_running_loop().create_task(handle(msg))

    sub = await nc.subscribe("floorcmd.*", cb=on_request)

    async def client(i: int) -> None:
        for _ in range(each):
            request = uuid7()
            for operation in ("create", "claim", "fulfil"):
                body = {"client": i, "request_id": request, "category": "food", "area_id": "w1-a"}
                await nc.request(f"floorcmd.{operation}", json.dumps(body).encode(), 30)

    timer = Timer()
    await asyncio.gather(*(client(i) for i in range(clients)))
    rate = timer.rate(clients * each * 3)
    await sub.unsubscribe()
    return rate


async def _ask(nc: NATS, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = json.loads(
        (await nc.request(subject(SITE, operation), json.dumps(body).encode(), 30)).data
    )
    if not reply["ok"]:
        raise RuntimeError(f"{operation}: {reply['error']}")
    result: dict[str, Any] = reply["result"]
    return result


def _cmd(**fields: Any) -> dict[str, Any]:
    return {"command_id": uuid7(), "actor": "coord-bench", "role": "coordinator", **fields}


async def _prepare(nc: NATS) -> None:
    await _ask(nc, "appoint_coordinator", _cmd(coordinator_id="coord-bench"))
    await _ask(nc, "define_area", _cmd(area_id="w1", name="Ward 1", level="ward"))
    await _ask(nc, "define_area", _cmd(area_id="w1-a", name="A St", level="street", parent_id="w1"))
    for i in range(CLIENTS):
        await _ask(
            nc,
            "register_volunteer",
            _cmd(volunteer_id=f"vol-{i}", area_id="w1-a", skills=["food"], max_claims=5),
        )


async def service_commands(nc: NATS, clients: int, each: int) -> float:
    async def client(i: int) -> None:
        volunteer = {"actor": f"vol-{i}", "role": "volunteer"}
        for _ in range(each):
            opened = await _ask(
                nc,
                "create_request",
                _cmd(
                    category="food",
                    urgency="urgent",
                    area_id="w1-a",
                    household_size=4,
                    name="Bench Requester",
                    phone="+670 7700 0000",
                ),
            )
            rid = opened["request_id"]
            await _ask(nc, "claim_request", {"command_id": uuid7(), **volunteer, "request_id": rid})
            await _ask(
                nc, "fulfil_request", {"command_id": uuid7(), **volunteer, "request_id": rid}
            )

    timer = Timer()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return timer.rate(clients * each * 3)


async def run() -> list[Row]:
    with server(name=SITE, domain=SITE) as srv, tempfile.TemporaryDirectory() as tmp:
        client = await nats.connect(srv.url)
        js = client.jetstream()
        await ensure_stream(js, event_stream("requests", SITE))
        await ensure_stream(js, dead_letter_stream(SITE))
        env = ServiceEnv(
            service="requests",
            site=SITE,
            nats_url=srv.url,
            local_url=srv.url,  # the vault's bucket in the same account: one server to compare
            var=Path(tmp),
            http_port=0,
        )
        service = Service(env)
        await service.connect()
        await wire(service)
        await service.start()
        try:
            await asyncio.sleep(0.5)  # the endpoints subscribe
            await _prepare(client)
            await service_commands(client, 4, 5)  # warm up
            raw = await raw_appends(client, CLIENTS, REQUESTS_PER_CLIENT * 3)
            floor = await floor_service(client, CLIENTS, REQUESTS_PER_CLIENT)
            started = time.process_time()
            rate = await service_commands(client, CLIENTS, REQUESTS_PER_CLIENT)
            cpu = (time.process_time() - started) / (CLIENTS * REQUESTS_PER_CLIENT * 3)
        finally:
            await client.close()
            await service.stop()
    print(f"requests bench: {cpu * 1000:.2f} ms of this process's CPU per command")
    return [
        Row(
            f"requests commands (create + claim + fulfil, {CLIENTS} clients)",
            rate,
            "cmd/s",
            "js.publish, expected last subject seq",
            raw,
            0.3,
        ),
        Row(
            "the floor: the same appends by a framework-free nats-py service",
            floor,
            "cmd/s",
            "js.publish, expected last subject seq",
            raw,
        ),
        Row(
            "requests commands against that floor",
            rate,
            "cmd/s",
            "the floor above",
            floor,
        ),
    ]
