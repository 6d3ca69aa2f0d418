"""Property tests for the envelope: whatever is encoded decodes to the same thing, and whatever
arrives that is not a valid event becomes a typed error, never a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.envelope import (
    EventDecodeError,
    EventPayload,
    EventRegistry,
    MalformedEvent,
    SchemaVersionTooNew,
    UnknownEventType,
    make_envelope,
)
from shared.ids import child_id, derived_id, timestamp_ms, uuid7
from shared.subjects import AggregateRef


class StockCounted(EventPayload):
    event_type = "StockCounted"
    schema_version = 2
    item: str
    quantity: int
    unit: str


def upcast_v1(payload: dict[str, object]) -> dict[str, object]:
    return {**payload, "unit": "kg"}


registry = EventRegistry()
registry.register(StockCounted, upcasters={1: upcast_v1})

tokens = st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    item=st.text(max_size=50),
    quantity=st.integers(min_value=-(2**53), max_value=2**53),
    agg_id=tokens,
    site=tokens,
    when=times,
    offset=st.integers(min_value=-12, max_value=14),
)
def test_encode_decode_round_trip(
    item: str, quantity: int, agg_id: str, site: str, when: datetime, offset: int
) -> None:
    local = when.astimezone(timezone(timedelta(hours=offset)))
    env = make_envelope(
        StockCounted(item=item, quantity=quantity, unit="kg"),
        event_id=uuid7(),
        aggregate=AggregateRef("kitchens", "kitchen", agg_id, "hub" if site == "all" else site),
        occurred_at=local,
        actor="coordinator-7",
        correlation_id=uuid7(),
    )
    decoded = registry.decode(env.encode())
    assert decoded == env
    assert decoded.occurred_at.tzinfo == UTC and decoded.occurred_at == when


@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_typed_error_or_an_event(data: bytes) -> None:
    try:
        registry.decode(data)
    except EventDecodeError as exc:
        assert exc.reason


@given(st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.text(max_size=10)))
def test_arbitrary_json_objects_give_a_typed_error(obj: dict[str, object]) -> None:
    with pytest.raises(EventDecodeError):
        registry.decode(json.dumps(obj))


def _raw(**changes: object) -> bytes:
    env = make_envelope(
        StockCounted(item="rice", quantity=200, unit="kg"),
        event_id=uuid7(),
        aggregate=AggregateRef("kitchens", "kitchen", "k1", "dili"),
        occurred_at=datetime.now(UTC),
        actor="c1",
        correlation_id=uuid7(),
    )
    raw = json.loads(env.encode())
    raw.update(changes)
    return json.dumps(raw).encode()


def test_unknown_type_is_a_typed_error() -> None:
    with pytest.raises(UnknownEventType, match="MealsTeleported"):
        registry.decode(_raw(type="MealsTeleported"))


def test_newer_schema_version_is_a_typed_error() -> None:
    with pytest.raises(SchemaVersionTooNew, match="upgrade"):
        registry.decode(_raw(schema_version=3))


def test_older_schema_version_is_upcast() -> None:
    event = registry.decode(_raw(schema_version=1, payload={"item": "oil", "quantity": 3}))
    assert isinstance(event.payload, StockCounted) and event.payload.unit == "kg"
    assert event.schema_version == 2


def test_naive_time_and_named_actor_are_refused() -> None:
    with pytest.raises(MalformedEvent):
        registry.decode(_raw(occurred_at="2026-11-01T08:00:00"))
    with pytest.raises(MalformedEvent):
        registry.decode(_raw(actor="Daw Aye Aye"))


def test_derived_ids_are_stable_and_keep_the_time() -> None:
    parent = uuid7()
    assert derived_id(parent, 0) == derived_id(parent, 0) != derived_id(parent, 1)
    assert timestamp_ms(derived_id(parent, 3)) == timestamp_ms(parent)
    assert child_id(parent, 0) == child_id(parent, 0) != child_id(parent, 1)
    assert timestamp_ms(child_id(parent, 0)) == timestamp_ms(parent)


@given(st.integers(min_value=2, max_value=2000))
def test_a_commands_event_ids_never_collide_with_each_other_or_the_command(n: int) -> None:
    parent = uuid7()
    ids = {derived_id(parent, i) for i in range(n)}
    assert len(ids) == n
    assert parent not in ids


def test_a_reaction_starts_a_new_id_family() -> None:
    event = derived_id(uuid7(), 0)
    reaction = child_id(event, 0)
    assert reaction[:28] != event[:28]


@given(st.integers(min_value=0, max_value=2**47))
def test_uuid7_sorts_by_time(ms: int) -> None:
    assert uuid7(ms) < uuid7(ms + 1)


def test_deeply_nested_json_is_a_typed_error() -> None:
    # json.loads raises RecursionError, not ValueError, past the interpreter's recursion limit.
    with pytest.raises(MalformedEvent, match="not JSON"):
        registry.decode(b"[" * 100_000)


class Weighed(EventPayload):
    event_type = "Weighed"
    schema_version = 2
    grams: int


def test_an_upcaster_that_fails_on_an_old_payload_is_a_typed_error() -> None:
    strict = EventRegistry()
    strict.register(Weighed, upcasters={1: lambda p: {"grams": int(p["kilos"]) * 1000}})
    old = json.loads(_raw(schema_version=1))
    old.update(type="Weighed", payload={"pounds": 3})
    with pytest.raises(MalformedEvent, match="upcasting from version 1 failed: KeyError"):
        strict.decode(json.dumps(old))
