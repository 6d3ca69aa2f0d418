"""The command handler around a decider: load, decide, append, retry on a stale version.

A small per-process cache keeps each aggregate's (state, version), so a hot aggregate is not re-read
for every command; the expected-sequence check on append makes a stale cache harmless (the append is
refused, the handler reloads and decides again). Event ids derive from the command id, so a client
retrying after a timeout produces the very same events and the store recognises them.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from shared.decider import Decider, Refused
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.eventstore import AppendResult, ConcurrencyError, EventConflict, Loaded
from shared.ids import derived_id, timestamp_ms
from shared.locks import KeyedLocks
from shared.subjects import AggregateRef

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=EventPayload)


class AggregateStore(Protocol):
    """What a handler needs of a store; JetStream and in-memory stores both provide it."""

    async def append(
        self,
        ref: AggregateRef,
        events: Sequence[Envelope[EventPayload]],
        expected_version: int,
    ) -> AppendResult: ...

    async def load(self, ref: AggregateRef, after: int = 0) -> Loaded: ...


@dataclass(frozen=True, slots=True)
class CommandMeta:
    """Who asked, when (in the field), and under which client-generated id."""

    command_id: str
    actor: str
    occurred_at: datetime
    correlation_id: str | None = None
    causation_id: str | None = None


def meta(
    command_id: str,
    actor: str,
    occurred_at: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> CommandMeta:
    """Metadata for a command received at an edge. Without an explicit time, the time is the one in
    the client's UUIDv7 command id (when it was made, perhaps offline hours ago), so a retry of the
    same command decides into byte-identical events."""
    when = occurred_at or datetime.fromtimestamp(timestamp_ms(command_id) / 1000, UTC)
    return CommandMeta(command_id, actor, when, correlation_id, causation_id)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[S]):
    state: S
    version: int
    events: tuple[Envelope[EventPayload], ...]
    replayed: bool = False


_TOUCHED_REMEMBERED = 200_000


class CommandHandler(Generic[C, S, E]):
    def __init__(
        self,
        store: AggregateStore,
        decider: Decider[C, S, E],
        *,
        max_attempts: int = 5,
        cache_size: int = 4096,
        new_on_first_touch: bool = False,
    ) -> None:
        """``new_on_first_touch``: :meth:`assume_new` for every aggregate this handler has not seen
        yet, for reactions that mostly create aggregates (custody copies, deliveries), where loading
        what does not exist would cost a consumer round trip per event. Safe for the reasons given
        there; an aggregate that did exist costs one stale append and a real load."""
        self._store = store
        self._decider = decider
        self._max_attempts = max_attempts
        self._cache: OrderedDict[AggregateRef, tuple[S, int]] = OrderedDict()
        self._cache_size = cache_size
        self._touched: OrderedDict[AggregateRef, None] | None = (
            OrderedDict() if new_on_first_touch else None
        )
        self._locks: KeyedLocks[AggregateRef] = KeyedLocks()

    async def handle(self, ref: AggregateRef, command: C, meta: CommandMeta) -> Outcome[S]:
        """Commit the command's events exactly once, or raise ``Refused`` / ``ConcurrencyError``."""
        (result,) = await self.handle_batch(ref, [(command, meta)])
        if isinstance(result, Refused):
            raise result
        return result

    async def handle_batch(
        self, ref: AggregateRef, items: Sequence[tuple[C, CommandMeta]]
    ) -> list[Outcome[S] | Refused]:
        """Several commands for one aggregate, decided in order and committed in one append (a group
        commit: one round trip instead of one per command). A refused command is skipped and its
        refusal returned in its place; the others still commit."""
        async with self._locks(
            ref
        ):  # one decision per aggregate at a time in this process: fewer conflicts
            try:
                return await self._handle(ref, items)
            except EventConflict:
                if len(items) == 1:
                    raise
            # Part of the group was stored before (a redelivery): settle each command on its own.
            return [await self._handle_one(ref, item) for item in items]

    async def _handle_one(
        self, ref: AggregateRef, item: tuple[C, CommandMeta]
    ) -> Outcome[S] | Refused:
        (result,) = await self._handle(ref, [item])
        return result

    def assume_new(self, ref: AggregateRef) -> None:
        """Decide the next command for ``ref`` without reading the store: the client made the id
        just now (creating an ephemeral consumer to read an empty aggregate was the costliest step
        of a create). Safe by the store's rules: the append expects version 0, so if the aggregate
        exists after all it is a replay or a concurrency error (read, decide again), and a refusal
        or no-op on the assumed empty state is checked against the store before it is answered."""
        if ref not in self._cache:
            self._remember(ref, self._decider.initial_state, 0)

    async def state_of(self, ref: AggregateRef) -> tuple[S, int]:
        return await self._current(ref, fresh=False)

    async def _handle(
        self, ref: AggregateRef, items: Sequence[tuple[C, CommandMeta]]
    ) -> list[Outcome[S] | Refused]:
        for attempt in range(self._max_attempts):
            state, version = await self._current(ref, fresh=attempt > 0)
            decided, envelopes, new_state = self._decide_all(ref, items, state)
            if attempt == 0 and (not envelopes or any(isinstance(d, Refused) for d in decided)):
                # A refusal or a no-op appends nothing, so no version check would catch a stale
                # cache (another process may have moved the aggregate): read what came after.
                newer = await self._store.load(ref, after=version)
                if newer.events:
                    state = self._decider.fold(
                        (e.envelope.payload for e in newer.events),  # type: ignore[misc]
                        state,
                    )
                    version = newer.version
                    self._remember(ref, state, version)
                    decided, envelopes, new_state = self._decide_all(ref, items, state)
            if not envelopes:
                return [
                    d if isinstance(d, Refused) else Outcome(d[0], version, ()) for d in decided
                ]
            try:
                result = await self._store.append(ref, envelopes, version)
            except ConcurrencyError:
                self._cache.pop(ref, None)
                if attempt + 1 == self._max_attempts:
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                continue
            except BaseException:
                # No answer (a timeout, a lost connection, a cancel): the events may have landed,
                # so what this process holds of the aggregate is no longer known. Kept, a retry
                # carrying a hint learnt since (a disbursement's earmarks) was decided on the
                # state before its own first try, into other events under the same ids: answered
                # as a conflict, where a fresh read recognises the command as done. An id stored
                # with other content (EventConflict) is answered as such, and the next command
                # reads the aggregate afresh too.
                self._cache.pop(ref, None)
                raise
            if result.replayed:
                self._cache.pop(ref, None)
            else:
                self._remember(ref, new_state, result.version)
            return self._outcomes(decided, envelopes, result, version)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide_all(
        self, ref: AggregateRef, items: Sequence[tuple[C, CommandMeta]], state: S
    ) -> tuple[list[tuple[S, int] | Refused], list[Envelope[EventPayload]], S]:
        """Decide each command on the state its predecessors left; (state, event count) or refusal."""
        decided: list[tuple[S, int] | Refused] = []
        envelopes: list[Envelope[EventPayload]] = []
        for command, meta in items:
            try:
                payloads = self._decider.decide(command, state)
            except Refused as refusal:
                decided.append(refusal)
                continue
            facts: Sequence[EventPayload] = payloads
            envelopes.extend(
                make_envelope(
                    payload,
                    event_id=derived_id(meta.command_id, i),
                    aggregate=ref,
                    occurred_at=meta.occurred_at,
                    actor=meta.actor,
                    correlation_id=meta.correlation_id or meta.command_id,
                    causation_id=meta.causation_id,
                )
                for i, payload in enumerate(facts)
            )
            state = self._decider.fold(payloads, state)
            decided.append((state, len(payloads)))
        return decided, envelopes, state

    @staticmethod
    def _outcomes(
        decided: list[tuple[S, int] | Refused],
        envelopes: list[Envelope[EventPayload]],
        result: AppendResult,
        version: int,
    ) -> list[Outcome[S] | Refused]:
        out: list[Outcome[S] | Refused] = []
        at = 0
        for d in decided:
            if isinstance(d, Refused):
                out.append(d)
                continue
            state, count = d
            mine = tuple(envelopes[at : at + count])
            seqs = result.sequences[at : at + count]
            at += count
            out.append(Outcome(state, seqs[-1] if seqs else version, mine, result.replayed))
        return out

    async def _current(self, ref: AggregateRef, fresh: bool) -> tuple[S, int]:
        cached = None if fresh else self._cache.get(ref)
        if cached is not None:
            self._cache.move_to_end(ref)
            return cached
        if not fresh and self._touched is not None and ref not in self._touched:
            self._touched[ref] = None
            if len(self._touched) > _TOUCHED_REMEMBERED:
                self._touched.popitem(last=False)  # forgotten: at worst one stale append later
            self._remember(ref, self._decider.initial_state, 0)
            return self._decider.initial_state, 0
        loaded = await self._store.load(ref)
        state = self._decider.fold(e.envelope.payload for e in loaded.events)  # type: ignore[misc]
        self._remember(ref, state, loaded.version)
        return state, loaded.version

    def _remember(self, ref: AggregateRef, state: S, version: int) -> None:
        self._cache[ref] = (state, version)
        self._cache.move_to_end(ref)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
