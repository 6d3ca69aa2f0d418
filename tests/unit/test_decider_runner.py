"""Property tests for the command handler: whatever commands arrive, in whatever interleaving and
with retries, the stored history replays to the state a serial run gives."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.commands import CommandHandler, CommandMeta
from shared.decider import Refused
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
