"""The event store against a real nats-server: concurrency, retries, atomic batches."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NATS

from shared.commands import CommandHandler, CommandMeta
from shared.decider import Refused
from shared.eventstore import ConcurrencyError, EventStore, StoreUnavailable
from shared.ids import uuid7
from shared.streams import ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import DoReset, Increment, registry, tally


@pytest.fixture
async def store(nc: NATS) -> EventStore:
    await ensure_stream(nc.jetstream(), event_stream("tally", "hub"))
    return EventStore(nc, registry, "hub")


def meta() -> CommandMeta:
    return CommandMeta(command_id=uuid7(), actor="tester", occurred_at=datetime.now(UTC))


def new_ref() -> AggregateRef:
    return AggregateRef(context="tally", kind="tally", id=uuid7(), site="hub")


async def test_fifty_concurrent_writers_commit_once_or_get_the_typed_error(
    store: EventStore,
) -> None:
    ref = new_ref()
    commands = [(Increment(by=i + 1), meta()) for i in range(50)]

    async def writer(cmd: Increment, m: CommandMeta) -> str:
        handler = CommandHandler(store, tally, max_attempts=1)  # a separate writer: no shared cache
        try:
            await handler.handle(ref, cmd, m)
        except ConcurrencyError:
            return "conflict"
        return "committed"

    results = await asyncio.gather(*(writer(c, m) for c, m in commands))
    loaded = await store.load(ref)
    committed = [
        m.command_id for (_, m), r in zip(commands, results, strict=True) if r == "committed"
    ]
    stored_causes = [e.envelope.correlation_id for e in loaded.events]
    assert sorted(stored_causes) == sorted(committed)  # each committed command exactly once
    assert len(set(stored_causes)) == len(stored_causes)
    assert results.count("committed") >= 1
    by_id = {m.command_id: c for c, m in commands}
    serial, _ = tally.run(by_id[c] for c in stored_causes)
    final, version = await CommandHandler(store, tally).state_of(ref)
    assert final == serial and version == loaded.version


async def test_fifty_concurrent_writers_with_retries_all_commit(store: EventStore) -> None:
    ref = new_ref()
    handlers = [CommandHandler(store, tally, max_attempts=60) for _ in range(50)]
    await asyncio.gather(*(h.handle(ref, Increment(by=1), meta()) for h in handlers))
    final, _ = await CommandHandler(store, tally).state_of(ref)
    assert final.total == 50 and final.increments == 50


async def test_a_retried_command_creates_no_duplicate(store: EventStore) -> None:
    ref = new_ref()
    m = meta()
    first = await CommandHandler(store, tally).handle(ref, Increment(by=3), m)
    # Another process (empty cache) receives the client's retry after a timeout and decides it
    # again on the newer state: the same command id yields the same event, which is a replay.
    again = await CommandHandler(store, tally).handle(ref, Increment(by=3), m)
    loaded = await store.load(ref)
    assert again.replayed
    assert [e.envelope.event_id for e in loaded.events] == [first.events[0].event_id]


async def test_lost_ack_retry_reads_back_instead_of_duplicating(
    store: EventStore, nc: NATS
) -> None:
    ref = new_ref()
    m = meta()
    outcome = await CommandHandler(store, tally).handle(ref, Increment(by=2), m)
    raw = outcome.events[0]
    # Send the identical message again by hand: the server answers 10071, not a duplicate ack.
    reply = await nc.request(
        ref.subject,
        raw.encode(),
        headers={"Nats-Msg-Id": raw.event_id, "Nats-Expected-Last-Subject-Sequence": "0"},
    )
    assert json.loads(reply.data)["error"]["err_code"] == 10071
    again = await store.append(ref, [raw], 0)
    assert again.replayed and again.version == outcome.version
    assert len((await store.load(ref)).events) == 1


async def test_multi_event_decision_lands_atomically(store: EventStore, nc: NATS) -> None:
    ref = new_ref()
    info_before = await nc.jetstream().stream_info(store.stream_for(ref))
    m = meta()
    handler = CommandHandler(store, tally)
    await handler.handle(ref, Increment(by=1), m)
    from shared.envelope import make_envelope
    from tests.tally import Incremented

    batch = [
        make_envelope(
            Incremented(by=i),
            event_id=uuid7(),
            aggregate=ref,
            occurred_at=datetime.now(UTC),
            actor="tester",
            correlation_id=uuid7(),
        )
        for i in range(1, 6)
    ]
    stale = 0
    with pytest.raises(ConcurrencyError):
        await store.append(ref, batch, stale)
    loaded = await store.load(ref)
    assert len(loaded.events) == 1
    result = await store.append(ref, batch, loaded.version)
    assert len(result.sequences) == 5
    assert result.sequences == tuple(range(result.sequences[0], result.sequences[0] + 5))
    info_after = await nc.jetstream().stream_info(store.stream_for(ref))
    assert info_after.state.last_seq >= info_before.state.last_seq + 6


async def test_a_refusal_is_never_decided_on_a_stale_cache(store: EventStore) -> None:
    ref = new_ref()
    here = CommandHandler(store, tally)  # this process, with the aggregate cached at total 9
    await here.handle(ref, Increment(by=9, limit=10), meta())
    await CommandHandler(store, tally).handle(ref, DoReset(), meta())  # another process resets
    outcome = await here.handle(ref, Increment(by=5, limit=10), meta())  # fine on the fresh state
    assert outcome.state.total == 5


async def test_assuming_new_is_safe_when_the_aggregate_exists(store: EventStore) -> None:
    ref = new_ref()
    await CommandHandler(store, tally).handle(ref, Increment(by=9, limit=10), meta())
    cold = CommandHandler(store, tally)
    cold.assume_new(ref)  # wrong: it exists
    with pytest.raises(Refused):  # decided on the real state (9 + 5 > 10), not the assumed one
        await cold.handle(ref, Increment(by=5, limit=10), meta())
    fresh = CommandHandler(store, tally)
    fresh.assume_new(ref)
    outcome = await fresh.handle(ref, Increment(by=1, limit=10), meta())
    assert outcome.state.total == 10


async def test_new_on_first_touch_is_safe_when_the_aggregate_exists(store: EventStore) -> None:
    ref, other = new_ref(), new_ref()
    await CommandHandler(store, tally).handle(ref, Increment(by=9, limit=10), meta())
    await CommandHandler(store, tally).handle(other, Increment(by=4, limit=10), meta())
    reacting = CommandHandler(store, tally, new_on_first_touch=True)
    with pytest.raises(Refused):  # decided on the real state (9 + 5 > 10), not the assumed one
        await reacting.handle(ref, Increment(by=5, limit=10), meta())
    outcome = await reacting.handle(
        other, Increment(by=1, limit=10), meta()
    )  # stale append, reload
    assert outcome.state.total == 5
    assert (await CommandHandler(store, tally).state_of(other))[0].total == 5
    assert (await reacting.handle(new_ref(), Increment(by=2), meta())).state.total == 2


async def test_last_subject_finds_an_aggregate_by_a_wildcard(store: EventStore) -> None:
    ref = new_ref()
    await CommandHandler(store, tally).handle(ref, Increment(by=1), meta())
    stream = store.stream_for(ref)
    assert await store.last_subject(stream, f"ev.tally.hub.*.tally.{ref.id}") == ref.subject
    assert await store.last_subject(stream, f"ev.tally.hub.*.tally.{uuid7()}") is None
    with pytest.raises(StoreUnavailable):
        await store.last_subject("NO_SUCH_STREAM", "ev.>")
