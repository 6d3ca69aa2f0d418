"""The transfer, owned by the hub: a donor's money from pledge until the group has it in hand.

Two-phase, like Mojaloop's prepare/fulfil and TigerBeetle's pending transfers: a pledge is pending
and voids itself at its deadline unless funded; once the money is sent it sits in the transfer's
in-transit account until the group's confirmations (facts from the site, noted here by a reactor)
settle it, or a dispute is resolved by correcting entries. Site facts are never refused for arriving
late or out of order: a receipt noted before the dispatch is matched when the dispatch is recorded,
and one noted after the transfer was closed (expired, cancelled, resolved) is kept (the ledger shows
it) without reopening it. "received" is not closed: it says the group's figures agree with what was
sent, so the group's own later facts that make them disagree dispute the transfer again.

Every command carries its client-made id; deciding it again with the same content decides nothing
new (the original outcome stands), the same id with other content is refused as a conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from services.remittance import postings
from services.remittance.events import (
    OUTCOMES,
    DisputeResolved,
    ShortfallRecovered,
    Status,
    TransferCancelled,
    TransferDispatched,
    TransferDisputed,
    TransferExpired,
    TransferFunded,
    TransferPledged,
    TransferReceiptCorrected,
    TransferReceiptNoted,
)
from services.remittance.money import MAX_MINOR, check_minor, convert, format_minor, parse_rate
from shared.decider import Decider, Refused
from shared.endpoints import NotFound
from shared.envelope import EventPayload
from shared.ids import child_id

MAX_PLEDGE_DAYS = 366
Resolution = Literal["write_off", "agent_owes"]
Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Pledge:
    transfer_id: str
    donor_ref: str
    group_id: str
    site: str
    need_id: str | None
    amount_minor: int
    currency: str
    expires_at: datetime
    pledged_at: datetime
    rail: str = "manual"


@dataclass(frozen=True, slots=True)
class Fund:
    funding_id: str
    rail: str
    collector_ref: str
    amount_minor: int
    currency: str
    funded_at: datetime
    rail_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Dispatch:
    dispatch_id: str
    channel: str
    agent_ref: str
    fee_minor: int
    rate: str
    delivered_currency: str
    dispatched_at: datetime
    expected_delivered_minor: int | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    cancellation_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Expire:
    now: datetime


@dataclass(frozen=True, slots=True)
class NoteReceipt:
    confirmation_id: str
    amount_minor: int
    currency: str
    received_at: datetime
    group_id: str


@dataclass(frozen=True, slots=True)
class NoteCorrection:
    correction_id: str
    confirmation_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class NoteDispute:
    dispute_id: str
    reason: str
    group_id: str
    """The group that reported it: only the transfer's own group can dispute it."""


@dataclass(frozen=True, slots=True)
class Resolve:
    resolution_id: str
    resolution: Resolution


Command = (
    Pledge
    | Fund
    | Dispatch
    | Cancel
    | Expire
    | NoteReceipt
    | NoteCorrection
    | NoteDispute
    | Resolve
)


@dataclass(frozen=True, slots=True)
class Terms:
    transfer_id: str
    group_id: str
    donor_ref: str
    amount_minor: int
    currency: str
    expires_at: datetime
    key: Key


@dataclass(frozen=True, slots=True)
class Sent:
    agent_ref: str
    currency: str
    delivered_minor: int


@dataclass(frozen=True)
class Transfer:
    status: Status | None = None
    terms: Terms | None = None
    collector: str | None = None
    sent: Sent | None = None
    receipts: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """Confirmation id -> (currency, amount as last corrected)."""
    misdirected: frozenset[str] = frozenset()
    """Confirmations by another group than the one the money was pledged to."""
    dispute_open: bool = False
    agreed: bool = False
    """The group's figures have matched what was sent: a shortfall after that is the group saying
    less arrived (a dispute), not money still on its way."""
    outcome: Status | None = None
    """The irrevocable outcome (``events.OUTCOMES``), once reached."""
    settled: Mapping[str, int] = field(default_factory=dict)
    """Written off or owed at the resolution, per currency, that late money can still win back."""
    settled_into: str | None = None
    done: Mapping[str, Key] = field(default_factory=dict)

    def received(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for currency, amount in self.receipts.values():
            if amount:
                out[currency] = out.get(currency, 0) + amount
        return out

    def astray(self) -> bool:
        """Money confirmed by another group and not corrected away."""
        return any(self.receipts[c][1] for c in self.misdirected)

    def outstanding(self) -> dict[str, int]:
        """Still in transit per currency: sent minus received (negative: more arrived)."""
        out = {c: -a for c, a in self.received().items()}
        if self.sent is not None:
            out[self.sent.currency] = out.get(self.sent.currency, 0) + self.sent.delivered_minor
        return {c: a for c, a in out.items() if a}


def decide(command: Command, state: Transfer) -> Sequence[EventPayload]:
    match command:
        case Pledge():
            return _pledge(command, state)
        case Fund():
            return _fund(command, state)
        case Dispatch():
            return _dispatch(command, state)
        case Cancel():
            return _cancel(command, state)
        case Expire():
            return _expire(command, state)
        case NoteReceipt():
            return _note_receipt(command, state)
        case NoteCorrection():
            return _note_correction(command, state)
        case NoteDispute():
            return _note_dispute(command, state)
        case Resolve():
            return _resolve(command, state)


def _terms(state: Transfer) -> Terms:
    if state.terms is None:
        raise NotFound("no transfer with this id has been pledged", code="unknown_transfer")
    return state.terms


def _seen(state: Transfer, command_id: str, key: Key) -> bool:
    """True when this id was decided before with the same content; a conflict when not."""
    known = state.done.get(command_id)
    if known is None:
        return False
    if known != key:
        raise _conflict()
    return True


def _conflict() -> Refused:
    return Refused(
        "this id was already used for a different request; make a new id for a new one",
        code="conflict",
    )


def _closed(state: Transfer) -> Refused:
    return Refused(f"this transfer is already {state.outcome}", code=f"already_{state.outcome}")


def _pledge(c: Pledge, state: Transfer) -> Sequence[EventPayload]:
    key = _pledge_key(c.donor_ref, c.group_id, c.site, c.need_id, c.amount_minor, c.currency)
    key += (c.expires_at, c.rail)
    if state.terms is not None:
        if state.terms.key == key:
            return []
        raise Refused("this transfer id is already used for another pledge", code="conflict")
    check_minor(c.amount_minor, c.currency, "the pledged amount")
    if c.expires_at <= c.pledged_at:
        raise Refused("a pledge must expire after it is made", code="invalid_deadline")
    if c.expires_at - c.pledged_at > timedelta(days=MAX_PLEDGE_DAYS):
        raise Refused("a pledge can stay open for at most a year", code="invalid_deadline")
    return [
        TransferPledged(
            transfer_id=c.transfer_id,
            donor_ref=c.donor_ref,
            group_id=c.group_id,
            site=c.site,
            need_id=c.need_id,
            amount_minor=c.amount_minor,
            currency=c.currency,
            expires_at=c.expires_at,
            rail=c.rail,
            status="pledged",
        )
    ]


def _pledge_key(*fields: object) -> Key:
    return ("pledge", *fields)


def _fund(c: Fund, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    key = ("fund", c.rail, c.collector_ref, c.rail_ref, c.amount_minor, c.currency, c.funded_at)
    if _seen(state, c.funding_id, key):
        return []
    if state.outcome == "expired" or c.funded_at > terms.expires_at:
        raise Refused(
            f"the pledge expired at {terms.expires_at.isoformat()} before this money arrived; "
            "return it to the donor",
            code="pledge_expired",
        )
    if state.outcome is not None:
        raise _closed(state)
    if state.collector is not None:
        raise Refused("this transfer is already funded", code="already_funded")
    check_minor(c.amount_minor, c.currency, "the funded amount")
    if (c.amount_minor, c.currency) != (terms.amount_minor, terms.currency):
        raise Refused(
            f"the pledge is for {format_minor(terms.amount_minor, terms.currency)}; "
            f"{format_minor(c.amount_minor, c.currency)} does not match it",
            code="amount_mismatch",
        )
    after = replace(state, collector=c.collector_ref)
    return [
        TransferFunded(
            transfer_id=terms.transfer_id,
            funding_id=c.funding_id,
            rail=c.rail,
            collector_ref=c.collector_ref,
            rail_ref=c.rail_ref,
            amount_minor=c.amount_minor,
            currency=c.currency,
            funded_at=c.funded_at,
            postings=postings.funding(terms.donor_ref, c.collector_ref, c.currency, c.amount_minor),
            status=_status(after),
        )
    ]


def _dispatch(c: Dispatch, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    key = ("dispatch", c.channel, c.agent_ref, c.fee_minor, c.rate, c.delivered_currency)
    if _seen(state, c.dispatch_id, (*key, c.dispatched_at)):
        _same_delivered(c, state)
        return []
    if state.outcome in ("expired", "cancelled"):
        raise _closed(state)
    if state.sent is not None:
        raise Refused("this transfer was already dispatched", code="already_sent")
    if state.collector is None:
        raise Refused("record the funding before the dispatch", code="not_funded")
    amount, currency = terms.amount_minor, terms.currency
    delivered = _delivered(c, amount, currency)
    after = replace(state, sent=Sent(c.agent_ref, c.delivered_currency, delivered))
    status = _status(after)
    dispatched = TransferDispatched(
        transfer_id=terms.transfer_id,
        dispatch_id=c.dispatch_id,
        channel=c.channel,
        agent_ref=c.agent_ref,
        sent_minor=amount,
        sent_currency=currency,
        fee_minor=c.fee_minor,
        rate=c.rate,
        delivered_minor=delivered,
        delivered_currency=c.delivered_currency,
        dispatched_at=c.dispatched_at,
        postings=postings.dispatch(
            transfer_id=terms.transfer_id,
            collector=state.collector,
            agent=c.agent_ref,
            sent=(currency, amount),
            fee=c.fee_minor,
            delivered=(c.delivered_currency, delivered),
        ),
        status=status,
    )
    return [dispatched, *_dispute_if_needed(after, status, c.dispatch_id)]


def _same_delivered(c: Dispatch, state: Transfer) -> None:
    """The agent's figure is part of a dispatch's content though no event keeps it: given, it either
    equals what the dispatch delivers or refuses the dispatch. So a retry naming another figure is
    other content (a conflict, not the original's answer); one naming none asks for the same."""
    expected = c.expected_delivered_minor
    if expected is not None and state.sent is not None and expected != state.sent.delivered_minor:
        raise _conflict()


def _delivered(c: Dispatch, amount: int, currency: str) -> int:
    """What the agent owes the group: the amount after the fee at the agent's rate, rounded down."""
    if not 0 <= c.fee_minor < amount:
        raise Refused(
            f"the fee must be at least zero and less than the {format_minor(amount, currency)} sent",
            code="invalid_fee",
        )
    rate = parse_rate(c.rate)
    check_minor(1, c.delivered_currency)
    if c.delivered_currency == currency and rate != 1:
        raise Refused(
            f"sending and receiving in {currency} needs no exchange: the rate must be 1",
            code="invalid_rate",
        )
    delivered = convert(amount - c.fee_minor, currency, c.delivered_currency, rate)
    if not 0 < delivered <= MAX_MINOR:
        raise Refused(
            "at this rate the amount delivered is out of range (nothing, or more than the "
            "ledger accepts)",
            code="invalid_rate",
        )
    expected = c.expected_delivered_minor
    if expected is not None and expected != delivered:
        raise Refused(
            f"at {c.rate} {c.delivered_currency} per {currency}, "
            f"{format_minor(amount - c.fee_minor, currency)} after the fee makes "
            f"{format_minor(delivered, c.delivered_currency)}, not "
            f"{format_minor(expected, c.delivered_currency)}",
            code="delivered_mismatch",
        )
    return delivered


def _cancel(c: Cancel, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    if _seen(state, c.cancellation_id, ("cancel", c.reason)):
        return []
    if state.outcome is not None:
        raise _closed(state)
    if state.sent is not None:
        raise Refused(
            "the money is already with the agent and can no longer be cancelled; if it does not "
            "arrive, the group raises a dispute",
            code="already_sent",
        )
    if state.receipts:
        raise Refused(
            "the group has confirmed money for this transfer: it can no longer be cancelled",
            code="money_arrived",
        )
    refund = (
        postings.refund(terms.donor_ref, state.collector, terms.currency, terms.amount_minor)
        if state.collector is not None
        else ()
    )
    return [
        TransferCancelled(
            transfer_id=terms.transfer_id,
            cancellation_id=c.cancellation_id,
            reason=c.reason,
            postings=refund,
            status="cancelled",
        )
    ]


def _expire(c: Expire, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    if state.outcome == "expired":
        return []  # expiring twice is the same expiry
    if state.status != "pledged" or state.receipts:
        raise Refused("only a pledge that was never funded can expire", code="not_pending")
    if c.now < terms.expires_at:
        raise Refused(f"this pledge is open until {terms.expires_at.isoformat()}", code="not_due")
    return [
        TransferExpired(
            transfer_id=terms.transfer_id, expires_at=terms.expires_at, status="expired"
        )
    ]


def _note_receipt(c: NoteReceipt, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    key = ("receipt", c.amount_minor, c.currency, c.received_at, c.group_id)
    if _seen(state, c.confirmation_id, key):
        return []
    receipts = {**state.receipts, c.confirmation_id: (c.currency, c.amount_minor)}
    after = replace(state, receipts=receipts)
    if c.group_id != terms.group_id:
        after = replace(after, misdirected=after.misdirected | {c.confirmation_id})
    status = _status(after)
    noted = TransferReceiptNoted(
        transfer_id=terms.transfer_id,
        confirmation_id=c.confirmation_id,
        group_id=c.group_id,
        amount_minor=c.amount_minor,
        currency=c.currency,
        received_at=c.received_at,
        status=status,
    )
    recovered = _recovery(after, c.confirmation_id, c.currency, c.amount_minor)
    return [noted, *recovered, *_dispute_if_needed(after, status, c.confirmation_id)]


def _note_correction(c: NoteCorrection, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    key = ("correction", c.confirmation_id, c.amount_minor, c.currency)
    if _seen(state, c.correction_id, key):
        return []
    if c.confirmation_id not in state.receipts:
        raise NotFound("no such receipt was noted for this transfer", code="unknown_receipt")
    before = state.receipts[c.confirmation_id][1]
    receipts = {**state.receipts, c.confirmation_id: (c.currency, c.amount_minor)}
    after = replace(state, receipts=receipts)
    status = _status(after)
    noted = TransferReceiptCorrected(
        transfer_id=terms.transfer_id,
        correction_id=c.correction_id,
        confirmation_id=c.confirmation_id,
        amount_minor=c.amount_minor,
        currency=c.currency,
        status=status,
    )
    recovered = _recovery(after, c.correction_id, c.currency, c.amount_minor - before)
    return [noted, *recovered, *_dispute_if_needed(after, status, c.correction_id)]


def _note_dispute(c: NoteDispute, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    if c.group_id != terms.group_id:
        # Any group's site can record a dispute naming any transfer id; only the group the money
        # was pledged to knows what reached it. The reactor logs this and moves on.
        raise Refused(
            "this transfer was pledged to another group: only that group can dispute it",
            code="wrong_group",
        )
    if _seen(state, c.dispute_id, ("dispute", c.reason)):
        return []
    if state.outcome is not None:
        raise _closed(state)
    return [
        TransferDisputed(
            transfer_id=terms.transfer_id,
            dispute_id=c.dispute_id,
            reason=c.reason,
            status="disputed",
        )
    ]


def _resolve(c: Resolve, state: Transfer) -> Sequence[EventPayload]:
    terms = _terms(state)
    if _seen(state, c.resolution_id, ("resolve", c.resolution)):
        return []
    if state.outcome is not None:
        raise _closed(state)
    if state.status != "disputed":
        raise Refused("only a disputed transfer can be resolved", code="not_disputed")
    if state.sent is None:
        raise Refused(
            "record the dispatch first: what was sent decides what is written off",
            code="not_sent",
        )
    target = _settlement_account(c.resolution, state.sent)
    return [
        DisputeResolved(
            transfer_id=terms.transfer_id,
            resolution_id=c.resolution_id,
            resolution=c.resolution,
            postings=postings.settle_transit(terms.transfer_id, target, state.outstanding()),
            status="resolved",
        )
    ]


def _settlement_account(resolution: str, sent: Sent) -> str:
    kind = postings.LOSS if resolution == "write_off" else postings.RECEIVABLE
    return postings.account(kind, sent.agent_ref)


def _recovery(
    state: Transfer, confirmation_id: str, currency: str, amount: int
) -> list[EventPayload]:
    """After a resolution, money that arrives late wins back what was written off or owed."""
    if state.outcome != "resolved" or state.settled_into is None or state.terms is None:
        return []
    back = min(amount, state.settled.get(currency, 0))
    if back <= 0:
        return []
    transit = postings.account(postings.TRANSIT, state.terms.transfer_id)
    return [
        ShortfallRecovered(
            transfer_id=state.terms.transfer_id,
            confirmation_id=confirmation_id,
            postings=postings.move(state.settled_into, transit, currency, back),
            status="resolved",
        )
    ]


def _dispute_if_needed(state: Transfer, status: Status, cause: str) -> list[EventPayload]:
    """What arrived disagrees with what was sent (more, another currency, another group, or less
    once the group had confirmed it all): open a dispute, unless one is open already."""
    if status != "disputed" or state.dispute_open or state.terms is None:
        return []
    if state.astray() or state.sent is None:
        reason = "other_group"  # without a dispatch, only money astray disputes by itself
    elif any(c != state.sent.currency for c in state.received()):
        reason = "other_currency"
    elif state.outstanding().get(state.sent.currency, 0) > 0:
        reason = "less_than_sent"
    else:
        reason = "more_than_sent"
    return [
        TransferDisputed(
            transfer_id=state.terms.transfer_id,
            dispute_id=child_id(cause, 1),
            reason=reason,
            status=status,
        )
    ]


def _status(state: Transfer) -> Status:
    """The public state, from the facts. An irrevocable outcome (expired, cancelled, resolved), once
    reached, never changes; "received" holds only while the group's figures agree with what was
    sent, and a shortfall once they had agreed is disputed rather than "sent" again."""
    if state.outcome is not None:
        return state.outcome
    if state.astray():
        return "disputed"
    if state.sent is None:
        if state.dispute_open:
            return "disputed"
        return "funded" if state.collector is not None else "pledged"
    received = state.received()
    if received == {state.sent.currency: state.sent.delivered_minor}:
        return "received"
    short = set(received) <= {state.sent.currency} and (
        received.get(state.sent.currency, 0) < state.sent.delivered_minor
    )
    return "sent" if short and not (state.dispute_open or state.agreed) else "disputed"


def evolve(state: Transfer, event: EventPayload) -> Transfer:
    match event:
        case TransferPledged():
            key = _pledge_key(
                event.donor_ref,
                event.group_id,
                event.site,
                event.need_id,
                event.amount_minor,
                event.currency,
            )
            terms = Terms(
                event.transfer_id,
                event.group_id,
                event.donor_ref,
                event.amount_minor,
                event.currency,
                event.expires_at,
                (*key, event.expires_at, event.rail),
            )
            return _at(replace(state, terms=terms), event.status)
        case TransferFunded():
            key = ("fund", event.rail, event.collector_ref, event.rail_ref, event.amount_minor)
            key += (event.currency, event.funded_at)
            after = replace(state, collector=event.collector_ref)
            return _at(_did(after, event.funding_id, key), event.status)
        case TransferDispatched():
            key = ("dispatch", event.channel, event.agent_ref, event.fee_minor, event.rate)
            key += (event.delivered_currency, event.dispatched_at)
            sent = Sent(event.agent_ref, event.delivered_currency, event.delivered_minor)
            return _at(_did(replace(state, sent=sent), event.dispatch_id, key), event.status)
        case TransferCancelled():
            after = _did(state, event.cancellation_id, ("cancel", event.reason))
            return _at(after, event.status)
        case TransferExpired():
            return _at(state, event.status)
        case TransferReceiptNoted():
            key = ("receipt", event.amount_minor, event.currency, event.received_at)
            key += (event.group_id,)
            receipts = {
                **state.receipts,
                event.confirmation_id: (event.currency, event.amount_minor),
            }
            after = _did(replace(state, receipts=receipts), event.confirmation_id, key)
            if state.terms is not None and event.group_id != state.terms.group_id:
                after = replace(after, misdirected=after.misdirected | {event.confirmation_id})
            return _at(after, event.status)
        case TransferReceiptCorrected():
            key = ("correction", event.confirmation_id, event.amount_minor, event.currency)
            receipts = {
                **state.receipts,
                event.confirmation_id: (event.currency, event.amount_minor),
            }
            after = _did(replace(state, receipts=receipts), event.correction_id, key)
            return _at(after, event.status)
        case TransferDisputed():
            after = _did(
                replace(state, dispute_open=True), event.dispute_id, ("dispute", event.reason)
            )
            return _at(after, event.status)
        case DisputeResolved():
            assert state.sent is not None
            after = replace(
                state,
                settled={c: a for c, a in state.outstanding().items() if a > 0},
                settled_into=_settlement_account(event.resolution, state.sent),
                dispute_open=False,
            )
            key = ("resolve", event.resolution)
            return _at(_did(after, event.resolution_id, key), event.status)
        case ShortfallRecovered():
            back = {p.currency: p.amount_minor for p in event.postings if p.amount_minor > 0}
            settled = {c: a - back.get(c, 0) for c, a in state.settled.items()}
            return _at(replace(state, settled=settled), event.status)
    return state


def _did(state: Transfer, command_id: str, key: Key) -> Transfer:
    return replace(state, done={**state.done, command_id: key})


def _at(state: Transfer, status: Status) -> Transfer:
    """The state an event leaves. Reaching "received" (the figures agree) closes whatever dispute
    was open, so that a later disagreement opens one of its own, with its own reason."""
    if status == "received":
        state = replace(state, agreed=True, dispute_open=False)
    outcome = state.outcome or (status if status in OUTCOMES else None)
    return replace(state, status=status, outcome=outcome)


transfers: Decider[Command, Transfer, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=Transfer()
)
