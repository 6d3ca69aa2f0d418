"""A reactor against a real nats-server: redelivery leaves effects exactly once; bad events go to
the dead-letter stream and the rest carry on."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from shared import deadletter
from shared.commands import CommandHandler
from shared.envelope import Envelope, EventPayload
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.reactor import Planned, Reactor, ReactorConfig
from shared.streams import StreamSpec, dead_letter_stream, ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Increment, Incremented, incremented, registry, tally

pytestmark = pytest.mark.slow


async def wait_for(predicate: object, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_redelivered_events_take_effect_once(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="SRC_HUB", subjects=("ev.src.hub.>",)))
    await ensure_stream(js, event_stream("hop", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))
    sources = [AggregateRef("src", "tally", uuid7(), "hub") for _ in range(5)]
    for i in range(200):
        ref = sources[i % 5]
        env = incremented(ref, 1)
        await js.publish(ref.subject, env.encode())
    store = EventStore(nc, registry, "hub")

    def make_reactor(name: str) -> Reactor:
        handler = CommandHandler(store, tally)  # a fresh process: nothing cached

        async def plan(event: Envelope[EventPayload]) -> Planned:
            target = AggregateRef("hop", "tally", event.aggregate_id, "hub")
            assert isinstance(event.payload, Incremented)
            return Planned(handler, target, Increment(by=event.payload.by))

        return Reactor(nc, name, registry, plan, stream="SRC_HUB", site="hub")

    first = make_reactor("hopper")
    await first.start()
    await wait_for(lambda: first.handled >= 200)
    await first.stop()
    # Everything is delivered again, as after losing the consumer: no effect may double.
    await js.delete_consumer("SRC_HUB", "hopper")
    again = make_reactor("hopper")
    await again.start()
    await wait_for(lambda: again.handled >= 200)
    await again.stop()

    checker = CommandHandler(store, tally)
    for src in sources:
        state, _ = await checker.state_of(AggregateRef("hop", "tally", src.id, "hub"))
        assert state.total == 40


async def test_bad_events_are_dead_lettered_and_the_rest_handled(nc: NATS) -> None:
    js = nc.jetstream()
    with contextlib.suppress(Exception):
        await js.delete_stream("BAD_HUB")
    await ensure_stream(js, StreamSpec(name="BAD_HUB", subjects=("ev.bad.hub.>",)))
    await ensure_stream(js, event_stream("hop", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))
    ref = AggregateRef("bad", "tally", uuid7(), "hub")
    for by in (1, 2, 666, 3):
        env = incremented(ref, by)
        await js.publish(ref.subject, env.encode())
    await js.publish(ref.subject, b"\x00garbage")
    handler = CommandHandler(EventStore(nc, registry, "hub"), tally)
    target = AggregateRef("hop", "tally", ref.id, "hub")

    async def plan(event: Envelope[EventPayload]) -> Planned:
        assert isinstance(event.payload, Incremented)
        if event.payload.by == 666:
            raise ValueError("cannot plan 666")
        return Planned(handler, target, Increment(by=event.payload.by))

    before = (await js.stream_info("DLQ_HUB")).state.last_seq
    reactor = Reactor(nc, "badhop", registry, plan, stream="BAD_HUB", site="hub")
    await reactor.start()
    await wait_for(lambda: reactor.handled + reactor.dead_lettered >= 5)
    await reactor.stop()
    state, _ = await handler.state_of(target)
    assert state.total == 6
    info = await js.stream_info("DLQ_HUB")
    reasons = []
    for seq in range(before + 1, info.state.last_seq + 1):
        msg = await js.get_msg("DLQ_HUB", seq)
        assert msg.headers is not None
        if msg.headers[deadletter.CONSUMER] == "badhop":
            reasons.append(msg.headers[deadletter.REASON])
    assert len(reasons) == 2
    assert "planning failed: ValueError" in reasons  # not what it said: it may quote data
    assert any("not JSON" in r for r in reasons)


async def test_a_message_that_breaks_the_json_parser_is_dead_lettered_and_the_reactor_runs_on(
    nc: NATS,
) -> None:
    js = nc.jetstream()
    with contextlib.suppress(Exception):
        await js.delete_stream("DEEP_HUB")
    await ensure_stream(js, StreamSpec(name="DEEP_HUB", subjects=("ev.deep.hub.>",)))
    await ensure_stream(js, event_stream("hop", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))
    ref = AggregateRef("deep", "tally", uuid7(), "hub")

    await js.publish(ref.subject, incremented(ref, 1).encode())
    await js.publish(ref.subject, b"[" * 100_000)  # json.loads: RecursionError, not ValueError
    handler = CommandHandler(EventStore(nc, registry, "hub"), tally)
    target = AggregateRef("hop", "tally", ref.id, "hub")

    async def plan(event: Envelope[EventPayload]) -> Planned:
        assert isinstance(event.payload, Incremented)
        return Planned(handler, target, Increment(by=event.payload.by))

    reactor = Reactor(nc, "deephop", registry, plan, stream="DEEP_HUB", site="hub")
    await reactor.start()
    try:
        await wait_for(lambda: reactor.handled + reactor.dead_lettered >= 2, timeout=10)
        await js.publish(
            ref.subject, incremented(ref, 2).encode()
        )  # the reactor is still there to take it
        await wait_for(lambda: reactor.handled >= 2, timeout=10)
    finally:
        await reactor.stop()
    assert reactor.dead_lettered == 1
    state, _ = await handler.state_of(target)
    assert state.total == 3


async def test_a_dead_letter_that_cannot_be_written_is_tried_again_and_the_reactor_runs_on(
    nc: NATS,
) -> None:
    """The dead-letter stream not answering (its server busy or away) ended the reactor's task: it
    consumed nothing more, silently."""
    js = nc.jetstream()
    with contextlib.suppress(Exception):
        await js.delete_stream("AWAY_HUB")
    await ensure_stream(js, StreamSpec(name="AWAY_HUB", subjects=("ev.away.hub.>",)))
    await ensure_stream(js, event_stream("hop", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))
    ref = AggregateRef("away", "tally", uuid7(), "hub")
    await js.publish(ref.subject, b"not json")
    handler = CommandHandler(EventStore(nc, registry, "hub"), tally)
    target = AggregateRef("hop", "tally", ref.id, "hub")

    async def plan(event: Envelope[EventPayload]) -> Planned:
        assert isinstance(event.payload, Incremented)
        return Planned(handler, target, Increment(by=event.payload.by))

    config = ReactorConfig(ack_wait_seconds=1.0, idle_wait_seconds=0.2)
    reactor = Reactor(nc, "awayhop", registry, plan, stream="AWAY_HUB", site="hub", config=config)
    send, failures = reactor._dlq.send, [1]

    async def flaky(**kwargs: Any) -> None:
        if failures:
            failures.pop()
            raise TimeoutError("the dead-letter stream did not answer")
        await send(**kwargs)

    reactor._dlq.send = flaky  # type: ignore[method-assign]
    await reactor.start()
    try:
        await wait_for(lambda: reactor.dead_lettered == 1, timeout=20)
        event = incremented(ref, 2)
        await js.publish(ref.subject, event.encode())
        await wait_for(lambda: reactor.handled >= 1, timeout=20)
    finally:
        await reactor.stop()
    assert not failures
    state, _ = await handler.state_of(target)
    assert state.total == 2
