"""Custody at the hub: a relay copy per destination site, and the tracking the sender sees.

The tracking aggregate decides first (custody taken, or refused because the lifetime already ended
when the message reached the hub) and the relay copies follow from what it recorded, so a relay
redelivered after a crash repeats the recorded decision instead of deciding again on a later clock.
Receipts fold into it: a site's delivery in time wins over a provisional "lifetime ended" the hub
recorded while that site was silent; a definitive expiry at the recipient never turns into delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.comms.events import (
    CustodyRefused,
    CustodyTaken,
    DeliveryReported,
    ExpiredAtRecipient,
    LifetimeEndedInCustody,
    MessageRelayed,
    ReadReported,
)
from shared.decider import Decider, Refused
from shared.envelope import EventPayload

# --- one relay copy (kind "relay", id "<message>_<site>", audience = that site) ----------------


@dataclass(frozen=True, slots=True)
class Relay:
    copy: MessageRelayed


@dataclass(frozen=True, slots=True)
class RelayState:
    relayed: MessageRelayed | None = None


def decide_relay(command: Relay, state: RelayState) -> Sequence[MessageRelayed]:
    return [] if state.relayed is not None else [command.copy]


def evolve_relay(state: RelayState, event: EventPayload) -> RelayState:
    return RelayState(event) if isinstance(event, MessageRelayed) else state


relay = Decider(decide=decide_relay, evolve=evolve_relay, initial_state=RelayState())

# --- tracking (kind "track", id = message id, audience = the sender's site) ---------------------


@dataclass(frozen=True, slots=True)
class OpenTracking:
    destinations: tuple[str, ...]
    unknown_sites: tuple[str, ...]
    expires_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordDelivery:
    site: str
    recipients: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordArrivedExpired:
    site: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordRead:
    site: str
    recipient: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EndCustodyLifetime:
    expires_at: datetime
    at: datetime


TrackingCommand = (
    OpenTracking | RecordDelivery | RecordArrivedExpired | RecordRead | EndCustodyLifetime
)
TrackingEvent = (
    CustodyTaken
    | CustodyRefused
    | DeliveryReported
    | ExpiredAtRecipient
    | LifetimeEndedInCustody
    | ReadReported
)


@dataclass(frozen=True, slots=True)
class TrackingState:
    opened: bool = False
    custody: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    delivered: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
    reads: frozenset[tuple[str, str]] = frozenset()

    def settled(self, site: str) -> bool:
        return site in self.delivered or site in self.expired


def decide_tracking(command: TrackingCommand, state: TrackingState) -> Sequence[TrackingEvent]:
    match command:
        case OpenTracking(destinations=dests, unknown_sites=unknown, expires_at=exp, at=at):
            if state.opened:
                return []
            if at >= exp:
                return [CustodyRefused(sites=(*dests, *unknown), reason="expired")]
            taken: list[TrackingEvent] = [CustodyTaken(sites=dests)]
            if unknown:
                taken.append(CustodyRefused(sites=unknown, reason="unknown_site"))
            return taken
        case RecordDelivery(site=site, recipients=recipients, at=at):
            if state.settled(site):
                return []
            return [DeliveryReported(site=site, recipients=recipients, at=at)]
        case RecordArrivedExpired(site=site, at=at):
            return [] if state.settled(site) else [ExpiredAtRecipient(site=site, at=at)]
        case RecordRead(site=site, recipient=recipient, at=at):
            if (site, recipient) in state.reads:
                return []
            return [ReadReported(site=site, recipient=recipient, at=at)]
        case EndCustodyLifetime(expires_at=exp, at=at):
            if at < exp:
                raise Refused("the message's lifetime has not ended yet", code="not_expired")
            silent = tuple(
                s for s in state.custody if not state.settled(s) and s not in state.ended
            )
            return [LifetimeEndedInCustody(sites=silent)] if silent else []


def evolve_tracking(state: TrackingState, event: EventPayload) -> TrackingState:
    match event:
        case CustodyTaken(sites=sites):
            return replace(state, opened=True, custody=(*state.custody, *sites))
        case CustodyRefused(sites=sites):
            return replace(state, opened=True, refused=(*state.refused, *sites))
        case DeliveryReported(site=site):
            return replace(state, delivered=(*state.delivered, site))
        case ExpiredAtRecipient(site=site):
            return replace(state, expired=(*state.expired, site))
        case LifetimeEndedInCustody(sites=sites):
            return replace(state, ended=(*state.ended, *sites))
        case ReadReported(site=site, recipient=recipient):
            return replace(state, reads=state.reads | {(site, recipient)})
    return state


tracking = Decider(decide=decide_tracking, evolve=evolve_tracking, initial_state=TrackingState())
