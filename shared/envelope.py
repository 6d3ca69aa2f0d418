"""The event envelope: what every fact carries besides its payload, and how it is (de)coded.

Events outlive the code that wrote them and arrive from sites running older or newer releases, so
decoding never crashes: an unknown type or a newer schema version becomes a typed
:class:`EventDecodeError` with a sentence a dead-letter reader can act on. Trace context travels in
NATS headers, never here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StringConstraints,
    ValidationError,
)

from shared.subjects import AggregateRef

# Patterns are checked inside pydantic-core: decoding runs once per event per consumer.
UUIDStr = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
ActorStr = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:_.@-]{1,64}$")]
"""Pseudonymous: an id, a role or a handle, never a name with spaces."""


class EventPayload(BaseModel):
    """Base of every event payload: frozen facts, past tense, no personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


P = TypeVar("P", bound=EventPayload)


class Envelope(BaseModel, Generic[P]):
    """One event as stored and exchanged. ``occurred_at`` is when it happened in the field, which can
    be hours before the event reached any server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUIDStr
    type: str
    schema_version: int = Field(ge=1)
    aggregate_kind: str
    aggregate_id: str
    site: str
    occurred_at: AwareDatetime
    actor: ActorStr
    correlation_id: UUIDStr
    causation_id: UUIDStr | None = None
    payload: SerializeAsAny[P]

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


def make_envelope(
    payload: P,
    *,
    event_id: str,
    aggregate: AggregateRef,
    occurred_at: datetime,
    actor: str,
    correlation_id: str,
    causation_id: str | None = None,
) -> Envelope[P]:
    return Envelope[Any](
        event_id=event_id,
        type=payload.event_type,
        schema_version=payload.schema_version,
        aggregate_kind=aggregate.kind,
        aggregate_id=aggregate.id,
        site=aggregate.site,
        occurred_at=occurred_at.astimezone(UTC),
        actor=actor,
        correlation_id=correlation_id,
        causation_id=causation_id,
        payload=payload,
    )


class EventDecodeError(Exception):
    """An event this code cannot turn into a typed envelope; ``reason`` is for humans."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedEvent(EventDecodeError):
    pass


class UnknownEventType(EventDecodeError):
    pass


class SchemaVersionTooNew(EventDecodeError):
    pass


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Maps ``type`` to payload class; upcasters lift old payloads one version at a time."""

    def __init__(self, *payload_types: type[EventPayload]) -> None:
        self._types: dict[str, type[EventPayload]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for cls in payload_types:
            self.register(cls)

    def register(
        self, cls: type[EventPayload], upcasters: Mapping[int, Upcaster] | None = None
    ) -> None:
        known = self._types.get(cls.event_type)
        if known is not None and known is not cls:
            raise ValueError(f"event type {cls.event_type!r} registered twice")
        self._types[cls.event_type] = cls
        for version, fn in (upcasters or {}).items():
            self._upcasters[(cls.event_type, version)] = fn

    def merge(self, other: EventRegistry) -> EventRegistry:
        merged = EventRegistry(*self._types.values(), *other._types.values())
        merged._upcasters = {**self._upcasters, **other._upcasters}
        return merged

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def decode(self, data: bytes | str) -> Envelope[EventPayload]:
        event = self.decode_if(data, None)
        assert event is not None
        return event

    def decode_if(
        self, data: bytes | str, only: frozenset[str] | None
    ) -> Envelope[EventPayload] | None:
        """Like ``decode``, but an event whose type is not in ``only`` is None, not an error: a
        consumer of another service's stream skips the facts it has no use for (including ones
        that service adds later) instead of dead-lettering them."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            # RecursionError: arrays or objects nested deeper than the interpreter's stack.
            raise MalformedEvent(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise MalformedEvent("an event must be a JSON object")
        type_name, version, payload = raw.get("type"), raw.get("schema_version"), raw.get("payload")
        if not isinstance(type_name, str) or not isinstance(version, int):
            raise MalformedEvent("missing or mistyped 'type' / 'schema_version'")
        if only is not None and type_name not in only:
            return None
        cls = self._types.get(type_name)
        if cls is None:
            raise UnknownEventType(f"unknown event type {type_name!r}")
        if version > cls.schema_version:
            raise SchemaVersionTooNew(
                f"{type_name} schema version {version} is newer than this code's "
                f"{cls.schema_version}: upgrade this service"
            )
        if not isinstance(payload, dict):
            raise MalformedEvent(f"{type_name}: payload must be an object")
        while version < cls.schema_version:
            upcast = self._upcasters.get((type_name, version))
            if upcast is None:
                raise MalformedEvent(f"{type_name}: no upcaster from version {version}")
            try:
                payload = upcast(payload)
            except Exception as exc:  # an old payload its upcaster did not foresee: bad data
                raise MalformedEvent(
                    f"{type_name}: upcasting from version {version} failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            version += 1
        try:
            raw["payload"] = cls.model_validate(payload)
            raw["schema_version"] = version
            return Envelope[EventPayload].model_validate(raw)
        except ValidationError as exc:
            raise MalformedEvent(f"{type_name}: {_brief(exc)}") from None


def _brief(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
