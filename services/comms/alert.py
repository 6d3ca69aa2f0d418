"""Alerts: raised at a site (kind "alert"), broadcast by the hub with its acknowledgement board (kind
"board", audience all), received and acknowledged at each site of the area (kind "ack").

Every site sees the whole board, because the hub folds each site's receipt and acknowledgements into
the broadcast aggregate, which every site sources: a coordinator anywhere sees who has not answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.comms import addresses
from services.comms.addresses import Directory
from services.comms.events import (
    MAX_ALERT_TEXT_BYTES,
    MAX_WIRE_BODY,
    AlertAcknowledged,
    AlertBroadcast,
    AlertRaised,
    AlertReceived,
    AlertSiteAcknowledged,
    AlertSiteReceived,
    AlertSource,
    Severity,
)
from services.comms.message import not_found
from shared.decider import Decider, Refused
from shared.envelope import EventPayload

# --- raised at a site -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaiseAlert:
    site: str
    severity: Severity
    area: tuple[str, ...]
    channel: str | None
    sealed: bool
    text: str
    source: AlertSource
    raised_by: str
    directory: Directory
    ward: str | None = None


@dataclass(frozen=True, slots=True)
class RaisedState:
    raised: AlertRaised | None = None


def decide_raise(command: RaiseAlert, state: RaisedState) -> Sequence[AlertRaised]:
    if state.raised is not None:
        if state.raised == _event(command):
            return []
        raise Refused("this alert id is already used for another alert", code="duplicate_id")
    return [_checked(command)]


def _checked(cmd: RaiseAlert) -> AlertRaised:
    by = addresses.parse(cmd.raised_by)
    if by.kind not in ("person", "role") or by.site != cmd.site:
        raise Refused(
            f"an alert is raised by a person or role at this site ({cmd.site})", code="bad_sender"
        )
    unknown = [s for s in cmd.area if s not in cmd.directory.sites and s != cmd.site]
    if unknown:
        raise Refused(f"unknown site in the area: {', '.join(unknown)}", code="unknown_site")
    if cmd.channel is not None:
        channel = cmd.directory.channels.get(cmd.channel)
        if channel is None:
            raise addresses.unknown_channel(cmd.channel)
        if not channel.public and not cmd.sealed:
            raise Refused(f"channel {cmd.channel!r} is private: seal the text", code="not_sealed")
    elif cmd.sealed:
        raise Refused("a sealed alert names the channel whose key sealed it", code="invalid")
    if not cmd.sealed:
        check_text(cmd.text)
    elif len(cmd.text) > MAX_WIRE_BODY:
        raise Refused(f"an alert's text is at most {MAX_ALERT_TEXT_BYTES} bytes", code="too_large")
    return _event(cmd)


def check_text(text: str) -> None:
    """An alert's text as people wrote it: not blank, and within the limit. The edge checks a text
    before sealing it, because its ciphertext is never blank and is longer than the text."""
    if not text.strip():
        raise Refused("an alert needs a text", code="empty")
    if len(text.encode()) > MAX_ALERT_TEXT_BYTES:
        raise Refused(f"an alert's text is at most {MAX_ALERT_TEXT_BYTES} bytes", code="too_large")


def _event(cmd: RaiseAlert) -> AlertRaised:
    return AlertRaised(
        severity=cmd.severity,
        area=tuple(dict.fromkeys(cmd.area)),
        channel=cmd.channel,
        sealed=cmd.sealed,
        text=cmd.text,
        source=cmd.source,
        raised_by=cmd.raised_by,
        ward=cmd.ward,
    )


def evolve_raise(state: RaisedState, event: EventPayload) -> RaisedState:
    return RaisedState(event) if isinstance(event, AlertRaised) else state


raised = Decider(decide=decide_raise, evolve=evolve_raise, initial_state=RaisedState())

# --- the hub's broadcast and board --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    copy: AlertBroadcast


@dataclass(frozen=True, slots=True)
class RecordReceipt:
    site: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordAck:
    site: str
    by: str
    at: datetime


BoardCommand = Broadcast | RecordReceipt | RecordAck
BoardEvent = AlertBroadcast | AlertSiteReceived | AlertSiteAcknowledged


@dataclass(frozen=True, slots=True)
class BoardState:
    broadcast: AlertBroadcast | None = None
    received: frozenset[str] = frozenset()
    acks: frozenset[tuple[str, str]] = frozenset()


def decide_board(command: BoardCommand, state: BoardState) -> Sequence[BoardEvent]:
    match command:
        case Broadcast(copy=copy):
            return [] if state.broadcast is not None else [copy]
        case RecordReceipt(site=site, at=at):
            return [] if site in state.received else [AlertSiteReceived(site=site, at=at)]
        case RecordAck(site=site, by=by, at=at):
            if (site, by) in state.acks:
                return []
            return [AlertSiteAcknowledged(site=site, by=by, at=at)]


def evolve_board(state: BoardState, event: EventPayload) -> BoardState:
    match event:
        case AlertBroadcast():
            return replace(state, broadcast=event)
        case AlertSiteReceived(site=site):
            return replace(state, received=state.received | {site})
        case AlertSiteAcknowledged(site=site, by=by):
            return replace(state, acks=state.acks | {(site, by)})
    return state


board = Decider(decide=decide_board, evolve=evolve_board, initial_state=BoardState())

# --- at each site of the area -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiveAlert:
    origin: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AcknowledgeAlert:
    site: str
    by: str
    at: datetime


AckCommand = ReceiveAlert | AcknowledgeAlert
AckEvent = AlertReceived | AlertAcknowledged


@dataclass(frozen=True, slots=True)
class AckState:
    origin: str | None = None
    by: frozenset[str] = frozenset()


def decide_ack(command: AckCommand, state: AckState) -> Sequence[AckEvent]:
    match command:
        case ReceiveAlert(origin=origin, at=at):
            return [] if state.origin is not None else [AlertReceived(origin=origin, at=at)]
        case AcknowledgeAlert(site=site, by=by, at=at):
            if state.origin is None:
                raise not_found("this alert has not reached this site")
            who = addresses.parse(by)
            if who.kind not in ("person", "role") or who.site != site:
                raise Refused(
                    f"an alert is acknowledged by a person or role at this site ({site})",
                    code="bad_sender",
                )
            if by in state.by:
                return []
            return [AlertAcknowledged(origin=state.origin, by=by, at=at)]


def evolve_ack(state: AckState, event: EventPayload) -> AckState:
    match event:
        case AlertReceived(origin=origin):
            return replace(state, origin=origin)
        case AlertAcknowledged(by=by):
            return replace(state, by=state.by | {by})
    return state


acks = Decider(decide=decide_ack, evolve=evolve_ack, initial_state=AckState())
