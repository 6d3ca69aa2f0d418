"""How comms reactions commit: command ids derived from the event and from who reacts, and a short
retry for a store that is briefly unavailable.

Several consumers react to the same event here (a message's sender site delivers locally while the
hub takes custody; every site of an area receives the same broadcast alert), and their events end up
in one stream at the hub. ``shared.reactor.reaction_meta`` derives the command id from the event
alone, so two reactors would produce the same event ids there, and the hub's dedup window would
drop one of them. So each reaction names its own index: a fixed one at the hub, one derived from the
site's name at a site.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any, TypeVar

from shared.commands import CommandHandler, CommandMeta, Outcome
from shared.envelope import Envelope, EventPayload
from shared.eventstore import ConcurrencyError, StoreUnavailable
from shared.ids import child_id
from shared.subjects import AggregateRef

S = TypeVar("S")
HUB_INDEX = 100
ATTEMPTS = 8


def site_index(site: str) -> int:
    """A reaction index of its own for each site (far from the hub's)."""
    return 10_000 + int.from_bytes(hashlib.sha256(site.encode()).digest()[:3], "big")


def reaction(event: Envelope[EventPayload], index: int, actor: str, at: datetime) -> CommandMeta:
    return CommandMeta(
        command_id=child_id(event.event_id, index),
        actor=actor,
        occurred_at=at,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
    )


async def commit(
    handler: CommandHandler[Any, S, Any], ref: AggregateRef, command: object, meta: CommandMeta
) -> Outcome[S]:
    """Handle once, riding out a short outage of the local store (a refusal is not retried)."""
    for attempt in range(ATTEMPTS):
        try:
            return await handler.handle(ref, command, meta)
        except (StoreUnavailable, ConcurrencyError):
            if attempt + 1 == ATTEMPTS:
                raise
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
