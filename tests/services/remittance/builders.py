"""Commands with sensible defaults, and given / when / then for the remittance deciders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import pytest

from services.remittance.account import ConfirmReceipt, CorrectReceipt, Disburse, ReportDispute
from services.remittance.transfer import (
    Cancel,
    Dispatch,
    Fund,
    NoteCorrection,
    NoteDispute,
    NoteReceipt,
    Pledge,
    Resolve,
)
from shared.decider import Decider, Refused
from shared.envelope import EventPayload
from shared.ids import uuid7

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
TRANSFER = "0195a0c0-0000-7000-8000-000000000001"
GROUP = "err-bahri-7"
SITE = "dili"

C = TypeVar("C")
S = TypeVar("S")


def pledge(**kw: Any) -> Pledge:
    base: dict[str, Any] = {
        "transfer_id": TRANSFER,
        "donor_ref": "donor-1",
        "group_id": GROUP,
        "site": SITE,
        "need_id": None,
        "amount_minor": 10_000,
        "currency": "GBP",
        "expires_at": T0 + timedelta(days=3),
        "pledged_at": T0,
    }
    return Pledge(**(base | kw))


def fund(**kw: Any) -> Fund:
    base: dict[str, Any] = {
        "funding_id": uuid7(),
        "rail": "manual",
        "collector_ref": "collector-london",
        "amount_minor": 10_000,
        "currency": "GBP",
        "funded_at": T0 + timedelta(hours=2),
    }
    return Fund(**(base | kw))


def dispatch(**kw: Any) -> Dispatch:
    """100.00 GBP, 2.00 GBP fee, 4850.25 MMK per GBP: 98.00 GBP makes 475,324.50 MMK."""
    base: dict[str, Any] = {
        "dispatch_id": uuid7(),
        "channel": "agent",
        "agent_ref": "agent-hundi-3",
        "fee_minor": 200,
        "rate": "4850.25",
        "delivered_currency": "MMK",
        "dispatched_at": T0 + timedelta(hours=5),
    }
    return Dispatch(**(base | kw))


DELIVERED = 47_532_450  # minor units of MMK for the dispatch above


def note_receipt(amount: int = DELIVERED, currency: str = "MMK", **kw: Any) -> NoteReceipt:
    base: dict[str, Any] = {
        "confirmation_id": uuid7(),
        "amount_minor": amount,
        "currency": currency,
        "received_at": T0 + timedelta(days=2),
        "group_id": GROUP,
    }
    return NoteReceipt(**(base | kw))


def note_dispute(reason: str = "less_than_sent", group_id: str = GROUP) -> NoteDispute:
    return NoteDispute(dispute_id=uuid7(), reason=reason, group_id=group_id)


def note_correction(confirmation_id: str, amount: int, currency: str = "MMK") -> NoteCorrection:
    return NoteCorrection(uuid7(), confirmation_id, amount, currency)


def resolve(resolution: str = "write_off") -> Resolve:
    return Resolve(resolution_id=uuid7(), resolution=resolution)  # type: ignore[arg-type]


def cancel(reason: str = "donor_request") -> Cancel:
    return Cancel(cancellation_id=uuid7(), reason=reason)


def confirm(amount: int = DELIVERED, **kw: Any) -> ConfirmReceipt:
    base: dict[str, Any] = {
        "group_id": GROUP,
        "confirmation_id": uuid7(),
        "transfer_id": TRANSFER,
        "amount_minor": amount,
        "currency": "MMK",
        "received_at": T0 + timedelta(days=2),
    }
    return ConfirmReceipt(**(base | kw))


def correct(confirmation_id: str, amount: int) -> CorrectReceipt:
    return CorrectReceipt(GROUP, uuid7(), confirmation_id, amount, T0 + timedelta(days=3))


def disburse(amount: int, **kw: Any) -> Disburse:
    base: dict[str, Any] = {
        "group_id": GROUP,
        "disbursement_id": uuid7(),
        "amount_minor": amount,
        "currency": "MMK",
        "purpose": "kitchen_need",
        "need_id": "need-rice-1",
        "receipt_ref": "book-4/17",
        "disbursed_at": T0 + timedelta(days=2, hours=3),
    }
    return Disburse(**(base | kw))


def report_dispute(transfer_id: str = TRANSFER) -> ReportDispute:
    return ReportDispute(GROUP, uuid7(), transfer_id, "less_than_sent", T0 + timedelta(days=2))


@dataclass
class Given(Generic[C, S]):
    decider: Decider[C, S, EventPayload]
    history: list[EventPayload] = field(default_factory=list)

    @property
    def state(self) -> S:
        return self.decider.fold(self.history)

    def after(self, *commands: C) -> Given[C, S]:
        """More history: what these commands decided, in order."""
        _, events = self.decider.run(commands, self.state)
        return Given(self.decider, [*self.history, *events])

    def when(self, command: C) -> Sequence[EventPayload]:
        return self.decider.decide(command, self.state)

    def refused(self, command: C, code: str) -> Refused:
        with pytest.raises(Refused) as caught:
            self.decider.decide(command, self.state)
        assert caught.value.code == code, caught.value.message
        return caught.value


def given(decider: Decider[C, S, EventPayload], *commands: C) -> Given[C, S]:
    """The history that ``commands`` leave (each decided on what the previous ones left)."""
    return Given(decider).after(*commands)
