"""A store view for reactions that create aggregates: the first load of an aggregate in this process
answers "empty" without asking JetStream.

Most relay and delivery steps create a new aggregate (a custody copy, a tracking record, a delivery),
and loading what does not exist still costs a consumer round trip per message. Assuming it is new is
safe because the append carries the expected version: if the aggregate does exist, the append is
refused as stale, the handler loads it for real (every later load here is real) and decides again;
if it holds exactly these events (a redelivery), the store recognises the replay. Only commands
that produce events on an empty state may go through here: a decider that says "nothing to do" on
an empty state would never reach the append that reveals the truth.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from shared.commands import AggregateStore
from shared.envelope import Envelope, EventPayload
from shared.eventstore import AppendResult, Loaded
from shared.subjects import AggregateRef

_REMEMBERED = 200_000


class FirstTouchStore:
    def __init__(self, store: AggregateStore) -> None:
        self._store = store
        self._touched: OrderedDict[AggregateRef, None] = OrderedDict()

    async def append(
        self,
        ref: AggregateRef,
        events: Sequence[Envelope[EventPayload]],
        expected_version: int,
    ) -> AppendResult:
        return await self._store.append(ref, events, expected_version)

    async def load(self, ref: AggregateRef, after: int = 0) -> Loaded:
        if ref in self._touched:
            return await self._store.load(ref, after)
        self._touched[ref] = None
        if len(self._touched) > _REMEMBERED:
            self._touched.popitem(last=False)  # forgotten: at worst one stale append later
        return Loaded(events=(), version=after)
