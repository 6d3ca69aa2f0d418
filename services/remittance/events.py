"""The facts the remittance service publishes: its public contract.

Money moves only inside events that carry balanced postings: every event with ``postings`` sums to
zero in each currency, and that is checked when the event is built *and* when it is decoded, so an
unbalanced fact can neither be written nor read (a consumer dead-letters it). The ledger is the fold
of all postings; nothing is edited, mistakes are corrected by further events.

Hub-owned (transfer and group aggregates, sourced to the receiving site): what donors, collectors and
agents did. Site-owned (a group's account, sourced up to the hub): what the group received and spent.
Hub transfer events carry ``status``, the transfer's public state after the event; internal reasons
travel in separate fields and never become states.

No personal data: donors, collectors and agents appear as pseudonymous references; people helped never
appear at all (a disbursement names a purpose, a kitchen need and a receipt-book reference).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.envelope import EventPayload, EventRegistry, UUIDStr

CONTEXT = "remit"

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
"""A pseudonymous reference (donor, collector, agent, group): never a name."""
NeedId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Account = Annotated[str, StringConstraints(pattern=r"^[a-z]+:[A-Za-z0-9_.:-]{1,200}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,31}$")]
"""A stable lower-case code (purpose, channel, reason): plain strings in events so that a newer
release adding a code does not make older consumers dead-letter the fact."""
Amount = Annotated[int, Field(gt=0, le=10**17)]
Status = Literal[
    "pledged", "funded", "sent", "received", "expired", "cancelled", "disputed", "resolved"
]
"""Public states a transfer event can carry; "disbursed" is read from the group's disbursements."""
OUTCOMES: frozenset[str] = frozenset({"expired", "cancelled", "resolved"})
"""The irrevocable outcomes: a transfer reaches at most one of these, and never leaves it. "received"
is not one of them: it holds while the group's own confirmations agree with what was sent, and a
later fact of the group's (a correction, an additional receipt, a dispute) that makes them disagree
takes the transfer back to "disputed", since otherwise money would sit in transit under a state that
says it arrived."""


class Posting(BaseModel):
    """One leg of a movement: ``amount_minor`` > 0 adds to the account, < 0 takes from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    account: Account
    currency: Currency
    amount_minor: int = Field(ge=-(10**17), le=10**17)

    @model_validator(mode="after")
    def _not_zero(self) -> Posting:
        if self.amount_minor == 0:
            raise ValueError("a posting of zero moves nothing")
        return self


class MoneyMoved(EventPayload):
    """Base of every event that moves money: its postings balance to zero per currency."""

    postings: tuple[Posting, ...] = ()

    @model_validator(mode="after")
    def _balanced(self) -> MoneyMoved:
        totals: dict[str, int] = defaultdict(int)
        for leg in self.postings:
            totals[leg.currency] += leg.amount_minor
        unbalanced = sorted(c for c, total in totals.items() if total)
        if unbalanced:
            raise ValueError(f"postings do not balance in {', '.join(unbalanced)}")
        return self


# --- hub: groups and transfers --------------------------------------------------------------


class GroupRegistered(EventPayload):
    """A mutual-aid group that can receive money, at the site where its treasurer works. Public."""

    event_type = "GroupRegistered"
    group_id: Ref
    site: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
    label: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class TransferPledged(EventPayload):
    """A donor promised an amount to a group (or one of its kitchen needs) until ``expires_at``."""

    event_type = "TransferPledged"
    transfer_id: UUIDStr
    donor_ref: Ref
    group_id: Ref
    site: str
    need_id: NeedId | None = None
    amount_minor: Amount
    currency: Currency
    expires_at: AwareDatetime
    rail: Code
    status: Status


class TransferFunded(MoneyMoved):
    """The money reached a collector or a payment rail: donor -> collector."""

    event_type = "TransferFunded"
    transfer_id: UUIDStr
    funding_id: UUIDStr
    rail: Code
    collector_ref: Ref
    rail_ref: Annotated[str, StringConstraints(max_length=128)] | None = None
    amount_minor: Amount
    currency: Currency
    funded_at: AwareDatetime
    status: Status


class TransferDispatched(MoneyMoved):
    """Handed to a channel: collector -> fees, FX, and the transfer's in-transit account. ``rate`` is
    the agent's rate exactly as given (receiving units per sending unit)."""

    event_type = "TransferDispatched"
    transfer_id: UUIDStr
    dispatch_id: UUIDStr
    channel: Code
    agent_ref: Ref
    sent_minor: Amount
    sent_currency: Currency
    fee_minor: int = Field(ge=0)
    rate: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,12})?$")]
    delivered_minor: Amount
    delivered_currency: Currency
    dispatched_at: AwareDatetime
    status: Status


class TransferCancelled(MoneyMoved):
    """Stopped before the money left the collector; funded money goes back to the donor."""

    event_type = "TransferCancelled"
    transfer_id: UUIDStr
    cancellation_id: UUIDStr
    reason: Code
    status: Status


class TransferExpired(EventPayload):
    """A pledge nobody funded by its deadline is void. Happens at ``expires_at`` whenever recorded."""

    event_type = "TransferExpired"
    transfer_id: UUIDStr
    expires_at: AwareDatetime
    status: Status


class TransferReceiptNoted(EventPayload):
    """The hub learnt of a receipt the group confirmed at its site (the site posted the money)."""

    event_type = "TransferReceiptNoted"
    transfer_id: UUIDStr
    confirmation_id: UUIDStr
    group_id: Ref
    amount_minor: int = Field(ge=0)
    currency: Currency
    received_at: AwareDatetime
    status: Status


class TransferReceiptCorrected(EventPayload):
    """The hub learnt that the group corrected a confirmed amount (``amount_minor`` is the new one)."""

    event_type = "TransferReceiptCorrected"
    transfer_id: UUIDStr
    correction_id: UUIDStr
    confirmation_id: UUIDStr
    amount_minor: int = Field(ge=0)
    currency: Currency
    status: Status


class TransferDisputed(EventPayload):
    """What arrived and what was sent disagree; ``reason`` says how (internal, not a state)."""

    event_type = "TransferDisputed"
    transfer_id: UUIDStr
    dispute_id: UUIDStr
    reason: Code
    status: Status


class DisputeResolved(MoneyMoved):
    """A dispute closed by correcting entries: what is still in transit is written off or owed."""

    event_type = "DisputeResolved"
    transfer_id: UUIDStr
    resolution_id: UUIDStr
    resolution: Code
    status: Status


class ShortfallRecovered(MoneyMoved):
    """Money written off (or owed) arrived after all: the correcting entry is reversed that far."""

    event_type = "ShortfallRecovered"
    transfer_id: UUIDStr
    confirmation_id: UUIDStr
    status: Status


# --- site: a group's account ----------------------------------------------------------------


class ReceiptConfirmed(MoneyMoved):
    """The group's treasurer confirmed money in hand for a transfer: in transit -> group.
    ``received_at`` is when it was captured in the field, perhaps days before the hub hears."""

    event_type = "ReceiptConfirmed"
    group_id: Ref
    confirmation_id: UUIDStr
    transfer_id: UUIDStr
    amount_minor: Amount
    currency: Currency
    received_at: AwareDatetime
    additional: bool = False


class ReceiptCorrected(MoneyMoved):
    """A confirmed amount was wrong; ``amount_minor`` is the right one (may be 0: nothing came)."""

    event_type = "ReceiptCorrected"
    group_id: Ref
    correction_id: UUIDStr
    confirmation_id: UUIDStr
    transfer_id: UUIDStr
    amount_minor: int = Field(ge=0, le=10**17)
    currency: Currency
    corrected_at: AwareDatetime


class Allocation(BaseModel):
    """How much of a disbursement came from one transfer's money."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    transfer_id: UUIDStr
    amount_minor: Amount


class DisbursementMade(MoneyMoved):
    """The group spent money: group -> a kitchen need or a purpose. ``funded_by`` says whose."""

    event_type = "DisbursementMade"
    group_id: Ref
    disbursement_id: UUIDStr
    amount_minor: Amount
    currency: Currency
    purpose: Code
    need_id: NeedId | None = None
    receipt_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./#:-]{1,64}$")]
    disbursed_at: AwareDatetime
    funded_by: tuple[Allocation, ...]
    from_transfer: UUIDStr | None = None
    """The transfer the treasurer chose to spend from, if any (else by earmark, then age)."""


class ReceiptDisputed(EventPayload):
    """The group says less arrived than was sent for a transfer."""

    event_type = "ReceiptDisputed"
    group_id: Ref
    dispute_id: UUIDStr
    transfer_id: UUIDStr
    reason: Code
    reported_at: AwareDatetime


HUB_EVENTS: tuple[type[EventPayload], ...] = (
    GroupRegistered,
    TransferPledged,
    TransferFunded,
    TransferDispatched,
    TransferCancelled,
    TransferExpired,
    TransferReceiptNoted,
    TransferReceiptCorrected,
    TransferDisputed,
    DisputeResolved,
    ShortfallRecovered,
)
SITE_EVENTS: tuple[type[EventPayload], ...] = (
    ReceiptConfirmed,
    ReceiptCorrected,
    DisbursementMade,
    ReceiptDisputed,
)
registry = EventRegistry(*HUB_EVENTS, *SITE_EVENTS)
