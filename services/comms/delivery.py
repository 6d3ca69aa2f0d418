"""A message at a recipient's site (kind "dlv", id = message id): delivered or expired on arrival,
then read by its recipients.

The site that delivers is the only one that can say whether a message arrived in time, so it decides
with its own clock, read at the edge when the message arrives and carried on the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.comms import addresses
from services.comms.events import ArrivedExpired, MessageDelivered, MessageRead
from services.comms.message import not_found
from shared.decider import Decider, Refused
from shared.envelope import EventPayload


@dataclass(frozen=True, slots=True)
class Deliver:
    origin: str
    recipients: tuple[str, ...]
    expires_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class MarkRead:
    site: str
    reader: str
    at: datetime


DeliveryCommand = Deliver | MarkRead
DeliveryEvent = MessageDelivered | ArrivedExpired | MessageRead


@dataclass(frozen=True, slots=True)
class DeliveryState:
    origin: str = ""
    delivered: tuple[str, ...] | None = None
    expired: bool = False
    readers: frozenset[str] = frozenset()


def decide(command: DeliveryCommand, state: DeliveryState) -> Sequence[DeliveryEvent]:
    match command:
        case Deliver(origin=origin, recipients=recipients, expires_at=exp, at=at):
            if state.delivered is not None or state.expired:
                return []  # decided once, on the first arrival: a copy that comes again is no news
            if at >= exp:
                return [ArrivedExpired(origin=origin, at=at)]
            return [MessageDelivered(origin=origin, recipients=recipients, at=at)]
        case MarkRead(site=site, reader=reader, at=at):
            if state.expired:
                raise Refused("this message expired before it reached this site", code="expired")
            if state.delivered is None:
                raise not_found("no such message was delivered at this site")
            if not addresses.covers(state.delivered, reader, site):
                raise Refused(f"this message is not addressed to {reader}", code="not_recipient")
            if reader in state.readers:
                return []
            return [MessageRead(origin=state.origin, recipient=reader, at=at)]


def evolve(state: DeliveryState, event: EventPayload) -> DeliveryState:
    match event:
        case MessageDelivered(origin=origin, recipients=recipients):
            return replace(state, origin=origin, delivered=recipients)
        case ArrivedExpired(origin=origin):
            return replace(state, origin=origin, expired=True)
        case MessageRead(recipient=reader):
            return replace(state, readers=state.readers | {reader})
    return state


delivery = Decider(decide=decide, evolve=evolve, initial_state=DeliveryState())
