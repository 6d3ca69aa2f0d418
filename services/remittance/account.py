"""A group's account, owned by the group's site: what the treasurer confirmed receiving and what the
group spent, decided at the site even while it is cut off from the hub.

The rule this aggregate exists for: a group never disburses more than it holds, per currency. Its
money is kept in lots, one per transfer and currency, so every disbursement says whose money it
was: that is how a donor's report follows the money to what it did. A disbursement spends the
transfer the treasurer names, or else money pledged to its kitchen need first, then money pledged
to no need (for any other purpose, money pledged to no need first), oldest first within each
(``_allocate``): a donor who named a need sees their money reach it. The decision records the lots
it spent, and evolve replays exactly those.

A confirmation names a transfer the hub may not have told the site about yet (the agent's slip
carries the reference), so it is accepted on the group's word; the hub matches it when it arrives.
A second confirmation for the same transfer must say it is additional: two devices confirming the
same cash would otherwise double it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from services.remittance import postings
from services.remittance.events import (
    Allocation,
    DisbursementMade,
    ReceiptConfirmed,
    ReceiptCorrected,
    ReceiptDisputed,
)
from services.remittance.money import MAX_BALANCE, check_minor, format_minor
from shared.decider import Decider, Refused
from shared.endpoints import NotFound
from shared.envelope import EventPayload

Purpose = Literal[
    "kitchen_need",
    "cash_assistance",
    "food",
    "supplies",
    "medical",
    "shelter",
    "transport",
    "other",
]
Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class ConfirmReceipt:
    group_id: str
    confirmation_id: str
    transfer_id: str
    amount_minor: int
    currency: str
    received_at: datetime
    additional: bool = False


@dataclass(frozen=True, slots=True)
class CorrectReceipt:
    group_id: str
    correction_id: str
    confirmation_id: str
    amount_minor: int
    corrected_at: datetime


@dataclass(frozen=True, slots=True)
class Disburse:
    group_id: str
    disbursement_id: str
    amount_minor: int
    currency: str
    purpose: Purpose
    need_id: str | None
    receipt_ref: str
    disbursed_at: datetime
    transfer_id: str | None = None
    """Spend this transfer's money only; otherwise lots are chosen by earmark, then age."""
    earmarks: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Transfer id -> the kitchen need its donor pledged to, as far as the site knows (the hub's
    transfer events sourced to it): the order in which lots are spent, nothing else. Not part of
    the record (not compared, not in the replay key): a retry after the site learnt more is the
    same disbursement, and its allocation stays the one recorded. A transfer missing here counts
    as pledged to no need."""


@dataclass(frozen=True, slots=True)
class ReportDispute:
    group_id: str
    dispute_id: str
    transfer_id: str
    reason: str
    reported_at: datetime


Command = ConfirmReceipt | CorrectReceipt | Disburse | ReportDispute


@dataclass(frozen=True, slots=True)
class Lot:
    transfer_id: str
    currency: str
    remaining: int


@dataclass(frozen=True, slots=True)
class Receipt:
    transfer_id: str
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class GroupAccount:
    balances: Mapping[str, int] = field(default_factory=dict)
    receipts: Mapping[str, Receipt] = field(default_factory=dict)
    lots: tuple[Lot, ...] = ()
    done: Mapping[str, Key] = field(default_factory=dict)

    def balance(self, currency: str) -> int:
        return self.balances.get(currency, 0)

    def lot(self, transfer_id: str, currency: str) -> Lot | None:
        return next(
            (x for x in self.lots if (x.transfer_id, x.currency) == (transfer_id, currency)), None
        )


def decide(command: Command, state: GroupAccount) -> Sequence[EventPayload]:
    match command:
        case ConfirmReceipt():
            return _confirm(command, state)
        case CorrectReceipt():
            return _correct(command, state)
        case Disburse():
            return _disburse(command, state)
        case ReportDispute():
            return _dispute(command, state)


def _seen(state: GroupAccount, command_id: str, key: Key) -> bool:
    known = state.done.get(command_id)
    if known is None:
        return False
    if known != key:
        raise Refused(
            "this id was already used for a different record; make a new id for a new one",
            code="conflict",
        )
    return True


def _confirm_key(c: ConfirmReceipt | ReceiptConfirmed) -> Key:
    return ("confirm", c.transfer_id, c.amount_minor, c.currency, c.received_at, c.additional)


def _confirm(c: ConfirmReceipt, state: GroupAccount) -> Sequence[EventPayload]:
    if _seen(state, c.confirmation_id, _confirm_key(c)):
        return []
    check_minor(c.amount_minor, c.currency, "the amount received")
    earlier = [r for r in state.receipts.values() if r.transfer_id == c.transfer_id]
    if earlier and not c.additional:
        got = ", ".join(format_minor(r.amount_minor, r.currency) for r in earlier)
        raise Refused(
            f"this transfer was already confirmed ({got}); if more money arrived for it, "
            "confirm that as additional",
            code="already_confirmed",
        )
    if state.balance(c.currency) + c.amount_minor > MAX_BALANCE:
        raise Refused("the group's balance would pass what the ledger holds", code="overflow")
    return [
        ReceiptConfirmed(
            group_id=c.group_id,
            confirmation_id=c.confirmation_id,
            transfer_id=c.transfer_id,
            amount_minor=c.amount_minor,
            currency=c.currency,
            received_at=c.received_at,
            additional=c.additional,
            postings=postings.receipt(c.transfer_id, c.group_id, c.currency, c.amount_minor),
        )
    ]


def _correct_key(c: CorrectReceipt | ReceiptCorrected) -> Key:
    return ("correct", c.confirmation_id, c.amount_minor, c.corrected_at)


def _correct(c: CorrectReceipt, state: GroupAccount) -> Sequence[EventPayload]:
    if _seen(state, c.correction_id, _correct_key(c)):
        return []
    receipt = state.receipts.get(c.confirmation_id)
    if receipt is None:
        raise NotFound("the group has no receipt with this confirmation id", code="unknown_receipt")
    if c.amount_minor != 0:
        check_minor(c.amount_minor, receipt.currency, "the corrected amount")
    delta = c.amount_minor - receipt.amount_minor
    if delta == 0:
        raise Refused("the receipt already has this amount", code="no_change")
    lot = state.lot(receipt.transfer_id, receipt.currency)
    left = lot.remaining if lot else 0
    if delta < 0 and left + delta < 0:
        raise Refused(
            f"only {format_minor(left, receipt.currency)} of this transfer's money is unspent; "
            f"taking back {format_minor(-delta, receipt.currency)} would spend money the group "
            "no longer holds",
            code="already_spent",
        )
    return [
        ReceiptCorrected(
            group_id=c.group_id,
            correction_id=c.correction_id,
            confirmation_id=c.confirmation_id,
            transfer_id=receipt.transfer_id,
            amount_minor=c.amount_minor,
            currency=receipt.currency,
            corrected_at=c.corrected_at,
            postings=postings.receipt(receipt.transfer_id, c.group_id, receipt.currency, delta),
        )
    ]


def _disburse_key(c: Disburse | DisbursementMade) -> Key:
    return ("disburse", c.amount_minor, c.currency, c.purpose, c.need_id, c.receipt_ref)


def _disburse(c: Disburse, state: GroupAccount) -> Sequence[EventPayload]:
    key = (*_disburse_key(c), c.disbursed_at, c.transfer_id)
    if _seen(state, c.disbursement_id, key):
        return []
    check_minor(c.amount_minor, c.currency, "the amount disbursed")
    if (c.purpose == "kitchen_need") != (c.need_id is not None):
        raise Refused(
            "a disbursement to a kitchen need names the need, and only such a disbursement does",
            code="need_mismatch",
        )
    held = state.balance(c.currency)
    if c.amount_minor > held:
        raise Refused(
            f"the group holds {format_minor(held, c.currency)}; it cannot disburse "
            f"{format_minor(c.amount_minor, c.currency)}",
            code="insufficient_funds",
        )
    return [
        DisbursementMade(
            group_id=c.group_id,
            disbursement_id=c.disbursement_id,
            amount_minor=c.amount_minor,
            currency=c.currency,
            purpose=c.purpose,
            need_id=c.need_id,
            receipt_ref=c.receipt_ref,
            disbursed_at=c.disbursed_at,
            funded_by=_allocate(state, c),
            from_transfer=c.transfer_id,
            postings=postings.disbursement(
                c.group_id, c.purpose, c.need_id, c.currency, c.amount_minor
            ),
        )
    ]


def _allocate(state: GroupAccount, c: Disburse) -> tuple[Allocation, ...]:
    """Whose money pays: the named transfer's; else by preference (``_preference``), oldest first
    among equals (lots are kept in the order their money first arrived; the sort is stable)."""
    lots = [x for x in state.lots if x.currency == c.currency and x.remaining > 0]
    if c.transfer_id is not None:
        named = [x for x in lots if x.transfer_id == c.transfer_id]
        left = named[0].remaining if named else 0
        if left < c.amount_minor:
            raise Refused(
                f"that transfer has {format_minor(left, c.currency)} unspent at this group",
                code="insufficient_funds",
            )
        lots = named
    else:
        lots.sort(key=lambda lot: _preference(c, c.earmarks.get(lot.transfer_id)))
    out: list[Allocation] = []
    need = c.amount_minor
    for lot in lots:
        take = min(need, lot.remaining)
        out.append(Allocation(transfer_id=lot.transfer_id, amount_minor=take))
        need -= take
        if need == 0:
            break
    return tuple(out)


def _preference(c: Disburse, earmark: str | None) -> int:
    """Lower is spent first. For a kitchen need: money pledged to it, then money pledged to no
    need, then money pledged to other needs. For any other purpose: money pledged to no need, then
    earmarked money. Earmarks are a preference, not a prohibition: a group needs flexible money,
    and earmarked money still pays when nothing else can."""
    if earmark is None:
        return 1 if c.need_id is not None else 0
    if c.need_id is not None and earmark == c.need_id:
        return 0
    return 2


def _dispute(c: ReportDispute, state: GroupAccount) -> Sequence[EventPayload]:
    if _seen(state, c.dispute_id, ("dispute", c.transfer_id, c.reason, c.reported_at)):
        return []
    return [
        ReceiptDisputed(
            group_id=c.group_id,
            dispute_id=c.dispute_id,
            transfer_id=c.transfer_id,
            reason=c.reason,
            reported_at=c.reported_at,
        )
    ]


def evolve(state: GroupAccount, event: EventPayload) -> GroupAccount:
    match event:
        case ReceiptConfirmed():
            receipt = Receipt(event.transfer_id, event.currency, event.amount_minor)
            after = _add(state, event.transfer_id, event.currency, event.amount_minor)
            after = replace(after, receipts={**after.receipts, event.confirmation_id: receipt})
            return _did(after, event.confirmation_id, _confirm_key(event))
        case ReceiptCorrected():
            old = state.receipts[event.confirmation_id]
            delta = event.amount_minor - old.amount_minor
            after = _add(state, event.transfer_id, event.currency, delta)
            receipt = replace(old, amount_minor=event.amount_minor)
            after = replace(after, receipts={**after.receipts, event.confirmation_id: receipt})
            return _did(after, event.correction_id, _correct_key(event))
        case DisbursementMade():
            after = state
            for part in event.funded_by:
                after = _add(after, part.transfer_id, event.currency, -part.amount_minor)
            key = (*_disburse_key(event), event.disbursed_at, event.from_transfer)
            return _did(after, event.disbursement_id, key)
        case ReceiptDisputed():
            key = ("dispute", event.transfer_id, event.reason, event.reported_at)
            return _did(state, event.dispute_id, key)
    return state


def _add(state: GroupAccount, transfer_id: str, currency: str, amount: int) -> GroupAccount:
    balances = {**state.balances, currency: state.balance(currency) + amount}
    lots = list(state.lots)
    for i, lot in enumerate(lots):
        if (lot.transfer_id, lot.currency) == (transfer_id, currency):
            lots[i] = replace(lot, remaining=lot.remaining + amount)
            break
    else:
        lots.append(Lot(transfer_id, currency, amount))
    return replace(state, balances=balances, lots=tuple(lots))


def _did(state: GroupAccount, command_id: str, key: Key) -> GroupAccount:
    return replace(state, done={**state.done, command_id: key})


accounts: Decider[Command, GroupAccount, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=GroupAccount()
)
