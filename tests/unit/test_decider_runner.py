"""Property tests for the command handler: whatever commands arrive, in whatever interleaving and
with retries, the stored history replays to the state a serial run gives."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.commands import CommandHandler, CommandMeta
from shared.decider import Decider, Refused
from shared.envelope import EventPayload
from shared.eventstore import StoreUnavailable
from shared.ids import uuid7
from shared.memorystore import InMemoryEventStore
from shared.subjects import AggregateRef
from tests.tally import DoReset, Increment, tally

commands = st.lists(
    st.one_of(
        st.builds(Increment, by=st.integers(min_value=-2, max_value=20), limit=st.just(100)),
        st.just(DoReset()),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(cmds=commands, retries=st.lists(st.booleans(), min_size=30, max_size=30))
def test_history_replays_to_the_serial_state(
    cmds: list[Increment | DoReset], retries: list[bool]
) -> None:
    async def scenario() -> None:
        store = InMemoryEventStore("hub")
        handler = CommandHandler(store, tally)
        ref = AggregateRef("tally", "tally", uuid7(), "hub")
        accepted = []
        for cmd, retry in zip(cmds, retries, strict=False):
            meta = CommandMeta(uuid7(), "tester", datetime.now(UTC))
            try:
                await handler.handle(ref, cmd, meta)
            except Refused:
                continue
            accepted.append(cmd)
            if retry:  # a client retry of an accepted command through a cold handler
                with contextlib.suppress(Refused):  # the tally is not idempotent by itself
                    await CommandHandler(store, tally).handle(ref, cmd, meta)
        serial, _ = tally.run(accepted)
        loaded = await store.load(ref)
        assert tally.fold(e.envelope.payload for e in loaded.events) == serial  # type: ignore[misc]
        assert (await handler.state_of(ref))[0] == serial

    asyncio.run(scenario())


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=1, max_value=25))
def test_concurrent_handlers_with_retries_all_commit(n: int) -> None:
    async def scenario() -> None:
        store = InMemoryEventStore("hub")
        ref = AggregateRef("tally", "tally", uuid7(), "hub")
        handlers = [CommandHandler(store, tally, max_attempts=n + 1) for _ in range(n)]
        await asyncio.gather(
            *(
                h.handle(ref, Increment(by=1), CommandMeta(uuid7(), "t", datetime.now(UTC)))
                for h in handlers
            )
        )
        state, _ = await CommandHandler(store, tally).state_of(ref)
        assert state.total == n

    asyncio.run(scenario())


class Noted(EventPayload):
    event_type = "Noted"
    note_id: str
    text: str


@dataclass(frozen=True)
class Note:
    """A command whose events depend on more than its identity (``text`` stands for a hint that
    may change between a first try and its retry), recognised by ``note_id`` once done."""

    note_id: str
    text: str


def _remember(seen: frozenset[str], event: EventPayload) -> frozenset[str]:
    return seen | {event.note_id} if isinstance(event, Noted) else seen


notes = Decider(
    decide=lambda c, seen: [] if c.note_id in seen else [Noted(note_id=c.note_id, text=c.text)],
    evolve=_remember,
    initial_state=frozenset[str](),
)


class LosesOneAnswer(InMemoryEventStore):
    """Stores the first append, then fails as a timeout would: the writer never hears it landed."""

    lost = False

    async def append(self, ref: AggregateRef, events: Any, expected_version: int) -> Any:
        result = await super().append(ref, events, expected_version)
        if not self.lost:
            self.lost = True
            raise StoreUnavailable("no answer from JetStream")
        return result


def test_a_retry_after_a_lost_answer_is_decided_on_what_the_store_holds() -> None:
    """Decided again on the state cached before its first try, the retry (with a hint learnt
    since) made other events under the same ids and was refused as a conflict."""

    async def scenario() -> None:
        store = LosesOneAnswer("hub")
        handler = CommandHandler(store, notes)
        ref = AggregateRef("tally", "notes", uuid7(), "hub")
        await handler.state_of(ref)  # cached: nothing yet
        first = CommandMeta(uuid7(), "t", datetime.now(UTC))
        with pytest.raises(StoreUnavailable):
            await handler.handle(ref, Note("n-1", "first try"), first)
        outcome = await handler.handle(ref, Note("n-1", "the retry knows more"), first)
        assert outcome.events == () and outcome.state == frozenset({"n-1"})
        assert len((await store.load(ref)).events) == 1

    asyncio.run(scenario())
