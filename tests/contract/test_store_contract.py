"""One contract, two stores: what the JetStream store promises, the in-memory fake promises too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NATS

from shared.commands import AggregateStore
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.eventstore import ConcurrencyError, EventConflict, EventStore, NotOwner
from shared.ids import uuid7
from shared.memorystore import InMemoryEventStore
from shared.streams import ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Incremented, registry


@pytest.fixture(params=["memory", "jetstream"])
async def store(request: pytest.FixtureRequest, nc: NATS) -> AsyncIterator[AggregateStore]:
    if request.param == "memory":
        yield InMemoryEventStore("hub")
    else:
        await ensure_stream(nc.jetstream(), event_stream("tally", "hub"))
        yield EventStore(nc, registry, "hub")


def new_ref() -> AggregateRef:
    return AggregateRef(context="tally", kind="tally", id=uuid7(), site="hub")


def event(ref: AggregateRef, by: int, event_id: str | None = None) -> Envelope[EventPayload]:
    return make_envelope(
        Incremented(by=by),
        event_id=event_id or uuid7(),
        aggregate=ref,
        occurred_at=datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
        actor="tester",
        correlation_id=uuid7(),
    )


async def test_append_then_load_round_trips(store: AggregateStore) -> None:
    ref = new_ref()
    first = [event(ref, 1), event(ref, 2)]
    result = await store.append(ref, first, 0)
    loaded = await store.load(ref)
    assert [e.envelope for e in loaded.events] == first
    assert loaded.version == result.version == result.sequences[-1]
    assert len(result.sequences) == 2


async def test_empty_aggregate_loads_as_version_zero(store: AggregateStore) -> None:
    loaded = await store.load(new_ref())
    assert loaded.events == () and loaded.version == 0


async def test_retry_of_the_same_events_is_a_noop_with_the_same_result(
    store: AggregateStore,
) -> None:
    ref = new_ref()
    events = [event(ref, 1), event(ref, 2)]
    first = await store.append(ref, events, 0)
    again = await store.append(ref, events, 0)  # the first ack was "lost"
    assert again.replayed and again.sequences == first.sequences
    single = [event(ref, 5)]
    one = await store.append(ref, single, first.version)
    assert (await store.append(ref, single, first.version)).sequences == one.sequences
    assert len((await store.load(ref)).events) == 3


async def test_retry_after_others_appended_still_returns_the_original(
    store: AggregateStore,
) -> None:
    ref = new_ref()
    mine = [event(ref, 1)]
    first = await store.append(ref, mine, 0)
    await store.append(ref, [event(ref, 7)], first.version)
    again = await store.append(ref, mine, 0)
    assert again.replayed and again.sequences == first.sequences


async def test_same_id_different_content_is_a_conflict(store: AggregateStore) -> None:
    ref = new_ref()
    original = event(ref, 1)
    await store.append(ref, [original], 0)
    with pytest.raises(EventConflict):
        await store.append(ref, [event(ref, 99, event_id=original.event_id)], 0)
    assert [e.envelope for e in (await store.load(ref)).events] == [original]


async def test_stale_writer_gets_a_concurrency_error(store: AggregateStore) -> None:
    ref = new_ref()
    await store.append(ref, [event(ref, 1)], 0)
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(ref, [event(ref, 2)], 0)
    assert caught.value.expected == 0 and caught.value.actual > 0


async def test_stale_batch_lands_nothing(store: AggregateStore) -> None:
    ref = new_ref()
    await store.append(ref, [event(ref, 1)], 0)
    with pytest.raises(ConcurrencyError):
        await store.append(ref, [event(ref, 2), event(ref, 3), event(ref, 4)], 0)
    assert len((await store.load(ref)).events) == 1


async def test_batch_reusing_an_id_lands_nothing(store: AggregateStore) -> None:
    ref, other = new_ref(), new_ref()
    used = event(other, 1)
    await store.append(other, [used], 0)
    with pytest.raises(EventConflict):
        await store.append(ref, [event(ref, 2), event(ref, 3, event_id=used.event_id)], 0)
    assert (await store.load(ref)).events == ()


async def test_only_the_owning_site_writes(store: AggregateStore) -> None:
    ref = AggregateRef(context="tally", kind="tally", id=uuid7(), site="dili")
    with pytest.raises(NotOwner):
        await store.append(ref, [event(ref, 1)], 0)


async def test_load_after_a_version_returns_only_later_events(store: AggregateStore) -> None:
    ref = new_ref()
    first = await store.append(ref, [event(ref, 1)], 0)
    later = [event(ref, 2), event(ref, 3)]
    await store.append(ref, later, first.version)
    loaded = await store.load(ref, after=first.version)
    assert [e.envelope for e in loaded.events] == later
