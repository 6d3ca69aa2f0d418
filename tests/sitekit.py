"""Helpers for tests across sites: a running hub with sites, writing events, reading streams whole."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.client import Client as NATS

from shared.deployment import Deployment
from shared.envelope import EventPayload, EventRegistry, make_envelope
from shared.eventstore import EventStore
from shared.ids import derived_id, uuid7
from shared.sites import Sites
from shared.subjects import AggregateRef
from tests.tally import Incremented, registry


@asynccontextmanager
async def running_sites(
    tmp: Path,
    sites: tuple[str, ...] = ("yangon-north", "dili"),
    contexts: tuple[str, ...] = ("tally",),
) -> AsyncIterator[Sites]:
    net = Sites(Deployment.plan(tmp / "var", list(sites), base_port=0), list(contexts))
    await net.start()
    try:
        await wait_linked(net, *sites)
        yield net
    finally:
        await net.stop()


async def wait_until(
    predicate: Callable[[], object], timeout: float = 60, step: float = 0.05
) -> float:
    """Wait until ``predicate()`` (sync or async) is true; returns the seconds it took."""
    start = time.monotonic()
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


async def wait_linked(net: Sites, *sites: str, timeout: float = 30) -> None:
    async def all_linked() -> bool:
        return all([await net.linked(s) for s in sites])

    await wait_until(all_linked, timeout)


async def write(
    nc: NATS,
    site: str,
    refs: list[AggregateRef],
    count: int,
    concurrency: int = 50,
    payload: Callable[[int], EventPayload] = lambda i: Incremented(by=1),
    registry: EventRegistry = registry,
) -> dict[str, list[str]]:
    """``count`` events spread over ``refs``, appended through the event store (with dedup and
    expected sequence); returns each subject's event ids in the order written."""
    store = EventStore(nc, registry, site)
    written: dict[str, list[str]] = defaultdict(list)
    per_ref = {
        ref: count // len(refs) + (1 if i < count % len(refs) else 0) for i, ref in enumerate(refs)
    }
    sem = asyncio.Semaphore(concurrency)

    async def one(ref: AggregateRef) -> None:
        async with sem:
            version = 0
            for i in range(per_ref[ref]):
                command = uuid7()  # ids as a command handler makes them
                env = make_envelope(
                    payload(i),
                    event_id=derived_id(command, 0),
                    aggregate=ref,
                    occurred_at=datetime.now(UTC),
                    actor="tester",
                    correlation_id=command,
                )
                version = (await store.append(ref, [env], version)).version
                written[ref.subject].append(env.event_id)

    await asyncio.gather(*(one(r) for r in refs))
    return dict(written)


async def read_stream(
    nc: NATS, stream: str, filter_subject: str = ">"
) -> list[tuple[str, str, bytes]]:
    """Every message of a stream as (subject, Nats-Msg-Id, data), in stream order."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    inbox = nc.new_inbox()
    out: list[tuple[str, str, bytes]] = []
    done = asyncio.get_running_loop().create_future()

    async def on_msg(msg: object) -> None:
        m = msg  # nats Msg
        headers = getattr(m, "headers", None) or {}
        if headers.get("Status"):
            if not done.done():
                done.set_result(None)
            return
        out.append((m.subject, headers.get("Nats-Msg-Id", ""), m.data))  # type: ignore[attr-defined]

    sub = await nc.subscribe(inbox, cb=on_msg)
    created = json.loads(
        (
            await nc.request(
                f"$JS.API.CONSUMER.CREATE.{stream}",
                json.dumps(
                    {
                        "stream_name": stream,
                        "config": {
                            "ack_policy": "none",
                            "deliver_policy": "all",
                            "filter_subject": filter_subject,
                            "mem_storage": True,
                            "inactive_threshold": 10_000_000_000,
                        },
                    }
                ).encode(),
            )
        ).data
    )
    pending = created.get("num_pending", 0)
    if pending:
        await nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{created['name']}",
            json.dumps({"batch": pending, "expires": 20_000_000_000}).encode(),
            reply=inbox,
        )
        await wait_until(lambda: len(out) >= pending or done.done(), timeout=30)
    await sub.unsubscribe()
    return out


def by_subject(messages: list[tuple[str, str, bytes]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for subject, msg_id, _ in messages:
        grouped[subject].append(msg_id)
    return dict(grouped)


def assert_holds_exactly(
    messages: list[tuple[str, str, bytes]], written: dict[str, list[str]]
) -> None:
    """Every written event is present exactly once, in the order written per aggregate."""
    grouped = by_subject(messages)
    for subject, ids in written.items():
        assert grouped.get(subject, []) == ids, (
            f"{subject}: {len(grouped.get(subject, []))} != {len(ids)}"
        )
