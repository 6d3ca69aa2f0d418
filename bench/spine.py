"""Spine benchmarks: appends, projection consume and a service hop, each against raw nats-py."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import BaseModel

from bench.harness import Row, Timer, server
from shared.commands import CommandHandler
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.projector import ProjectionRunner
from shared.reactor import Planned, Reactor, ReactorConfig
from shared.streams import StreamSpec, dead_letter_stream, ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Increment, Incremented, TallyProjection, registry, tally

N = 20_000
AGGREGATES = 100


def envelope(ref: AggregateRef, by: int) -> Envelope[EventPayload]:
    return make_envelope(
        Incremented(by=by),
        event_id=uuid7(),
        aggregate=ref,
        occurred_at=datetime.now(UTC),
        actor="bench",
        correlation_id=uuid7(),
    )


async def raw_publish_async(nc: NATS, payloads: list[tuple[str, bytes]]) -> float:
    js = nc.jetstream(publish_async_max_pending=4000)
    await ensure_stream(js, StreamSpec(name="RAW", subjects=("raw.>",), allow_atomic=False))
    timer = Timer()
    for i, (_, data) in enumerate(payloads):
        await js.publish_async(f"raw.{i % AGGREGATES}", data)
    await js.publish_async_completed()
    return timer.rate(len(payloads))


async def store_appends(nc: NATS, refs: list[AggregateRef], per: int) -> float:
    store = EventStore(nc, registry, "hub")
    prepared = {ref: [envelope(ref, i + 1) for i in range(per)] for ref in refs}

    async def writer(ref: AggregateRef) -> None:
        version = 0
        for env in prepared[ref]:
            version = (await store.append(ref, [env], version)).version

    timer = Timer()
    await asyncio.gather(*(writer(r) for r in refs))
    return timer.rate(len(refs) * per)


async def raw_fetch_ack(nc: NATS, stream: str, count: int) -> float:
    js = nc.jetstream()
    await js.add_consumer(
        stream, ConsumerConfig(durable_name="rawbench", ack_policy=AckPolicy.EXPLICIT)
    )
    psub = await js.pull_subscribe_bind("rawbench", stream)
    timer = Timer()
    seen = 0
    while seen < count:
        for msg in await psub.fetch(256, timeout=5):
            await msg.ack()
            seen += 1
    return timer.rate(count)


async def projection_consume(nc: NATS, stream: str, count: int, db: Path) -> float:
    runner = ProjectionRunner(
        nc, TallyProjection("benchproj"), registry, db_path=db, stream=stream, site="hub"
    )
    timer = Timer()
    await runner.run_until_caught_up(timeout=600)
    rate = timer.rate(count)
    await runner.stop()
    return rate


class Hop(BaseModel):
    event_id: str
    type: str
    payload: dict[str, object]


async def raw_hop(nc: NATS, stream: str, count: int) -> float:
    """Consume, validate, publish, ack, done correctly with raw nats-py: a batch's outputs are
    published pipelined, and the inputs are acked only once the outputs are stored (acking first
    would lose messages on a crash). No dedup check or expected sequence on the outputs."""
    js = nc.jetstream(publish_async_max_pending=4000)
    await ensure_stream(js, StreamSpec(name="RAWOUT", subjects=("rawout.>",), allow_atomic=False))
    await js.add_consumer(
        stream, ConsumerConfig(durable_name="rawhop", ack_policy=AckPolicy.EXPLICIT)
    )
    psub = await js.pull_subscribe_bind("rawhop", stream)
    timer = Timer()
    seen = 0
    while seen < count:
        msgs = await psub.fetch(256, timeout=5)
        acks = []
        for msg in msgs:
            hop = Hop.model_validate_json(msg.data)
            out = json.dumps({"cause": hop.event_id, "by": hop.payload.get("by")}).encode()
            subject = f"rawout.{seen % AGGREGATES}"
            acks.append(await js.publish_async(subject, out, headers={"Nats-Msg-Id": hop.event_id}))
            seen += 1
        await asyncio.gather(*acks)
        for msg in msgs:
            await msg.ack()
    return timer.rate(count)


async def service_hop(nc: NATS, stream: str, count: int) -> float:
    """Consume an event, decide a command on another aggregate, append with dedup and expected
    sequence, ack: a reactor over the event store."""
    js = nc.jetstream()
    await ensure_stream(js, event_stream("hop", "hub"))
    store = EventStore(nc, registry, "hub")
    handler = CommandHandler(store, tally)

    async def plan(event: Envelope[EventPayload]) -> Planned:
        assert isinstance(event.payload, Incremented)
        target = AggregateRef("hop", "tally", event.aggregate_id, "hub")
        return Planned(handler, target, Increment(by=event.payload.by))

    reactor = Reactor(
        nc,
        "benchhop",
        registry,
        plan,
        stream=stream,
        site="hub",
        actor="bench",
        config=ReactorConfig(group=1),
    )
    timer = Timer()
    await reactor.start()
    while reactor.handled < count:
        await asyncio.sleep(0.01)
    rate = timer.rate(count)
    await reactor.stop()
    return rate


async def run() -> list[Row]:
    rows: list[Row] = []
    with server() as srv, tempfile.TemporaryDirectory() as tmp:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await ensure_stream(js, event_stream("tally", "hub"))
        await ensure_stream(js, dead_letter_stream("hub"))
        refs = [AggregateRef("tally", "tally", uuid7(), "hub") for _ in range(AGGREGATES)]
        payloads = [
            (refs[i % AGGREGATES].subject, envelope(refs[i % AGGREGATES], 1).encode())
            for i in range(N)
        ]

        raw_pub = await raw_publish_async(nc, payloads)
        appends = await store_appends(nc, refs, N // AGGREGATES)
        rows.append(
            Row(
                "append (dedup + expected seq, 100 aggregates)",
                appends,
                "ev/s",
                "js.publish_async",
                raw_pub,
                0.4,
            )
        )

        raw_fetch = await raw_fetch_ack(nc, "TALLY_HUB", N)
        proj = await projection_consume(nc, "TALLY_HUB", N, Path(tmp) / "bench.db")
        rows.append(
            Row(
                "projection consume (SQLite, position in txn)",
                proj,
                "ev/s",
                "fetch + ack",
                raw_fetch,
                0.5,
            )
        )

        raw = await raw_hop(nc, "TALLY_HUB", N)
        hop = await service_hop(nc, "TALLY_HUB", N)
        rows.append(
            Row(
                "service hop (consume, decide, append, ack)",
                hop,
                "ev/s",
                "consume-validate-publish-ack",
                raw,
                0.5,
            )
        )
        await nc.close()
    return rows
