"""An in-memory event store with the JetStream store's semantics, for fast unit tests of handlers.

The same contract tests run against both stores (``tests/contract``), so this fake cannot drift into
promising something JetStream does not do.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.envelope import Envelope, EventPayload
from shared.eventstore import (
    AppendResult,
    ConcurrencyError,
    EventConflict,
    Loaded,
    NotOwner,
    StoredEvent,
)
from shared.subjects import AggregateRef


class InMemoryEventStore:
    def __init__(self, site: str) -> None:
        self.site = site
        self._seq = 0
        self._by_subject: dict[str, list[StoredEvent]] = {}
        self._by_id: dict[str, tuple[str, StoredEvent]] = {}

    async def append(
        self,
        ref: AggregateRef,
        events: Sequence[Envelope[EventPayload]],
        expected_version: int,
    ) -> AppendResult:
        if ref.site != self.site:
            raise NotOwner(f"{ref.kind} {ref.id} is owned by {ref.site}, not {self.site}")
        if not events:
            return AppendResult(version=expected_version, sequences=())
        history = self._by_subject.setdefault(ref.subject, [])
        ids = [e.envelope.event_id for e in history]
        if events[0].event_id in ids:
            start = ids.index(events[0].event_id)
            head = history[start : start + len(events)]
            if [s.envelope.event_id for s in head] != [e.event_id for e in events]:
                raise EventConflict(events[0].event_id)
            for stored, event in zip(head, events, strict=True):
                if stored.envelope != event:
                    raise EventConflict(event.event_id)
            return AppendResult(head[-1].seq, tuple(s.seq for s in head), replayed=True)
        for event in events:
            if event.event_id in self._by_id:
                raise EventConflict(event.event_id)
        version = history[-1].seq if history else 0
        if version != expected_version:
            raise ConcurrencyError(ref, expected_version, version)
        for event in events:
            self._seq += 1
            stored = StoredEvent(event, self._seq)
            history.append(stored)
            self._by_id[event.event_id] = (ref.subject, stored)
        return AppendResult(self._seq, tuple(range(self._seq - len(events) + 1, self._seq + 1)))

    async def load(self, ref: AggregateRef, after: int = 0) -> Loaded:
        events = tuple(e for e in self._by_subject.get(ref.subject, []) if e.seq > after)
        return Loaded(events=events, version=events[-1].seq if events else after)

    def all_events(self) -> list[StoredEvent]:
        return sorted((s for _, s in self._by_id.values()), key=lambda s: s.seq)
