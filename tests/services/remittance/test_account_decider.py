"""A group's account at its site: receipts, corrections, disbursements, disputes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from services.remittance import postings
from services.remittance.account import Lot, accounts
from services.remittance.directory import RegisterGroup, groups
from services.remittance.events import (
    Allocation,
    DisbursementMade,
    GroupRegistered,
    ReceiptConfirmed,
    ReceiptCorrected,
    ReceiptDisputed,
)
from shared.ids import uuid7
from tests.services.remittance.builders import (
    GROUP,
    T0,
    TRANSFER,
    confirm,
    correct,
    disburse,
    given,
    report_dispute,
)

OTHER = "0195a0c0-0000-7000-8000-000000000002"


def legs(event: object) -> set[tuple[str, str, int]]:
    return {(p.account, p.currency, p.amount_minor) for p in event.postings}  # type: ignore[attr-defined]


def test_a_confirmed_receipt_moves_money_from_transit_into_the_group() -> None:
    (event,) = given(accounts).when(confirm(475_000))
    assert isinstance(event, ReceiptConfirmed)
    assert legs(event) == {
        (f"transit:{TRANSFER}", "MMK", -475_000),
        (f"group:{GROUP}", "MMK", 475_000),
    }


def test_a_confirmation_sent_twice_decides_nothing_the_second_time() -> None:
    once = confirm(475_000)
    state = given(accounts, once)
    assert state.when(once) == []
    assert state.state.balance("MMK") == 475_000


def test_the_same_confirmation_id_with_another_amount_is_a_conflict() -> None:
    once = confirm(475_000)
    given(accounts, once).refused(confirm(1, confirmation_id=once.confirmation_id), "conflict")


def test_a_second_confirmation_for_a_transfer_must_say_it_is_additional() -> None:
    state = given(accounts, confirm(400_000))
    refusal = state.refused(confirm(75_000), "already_confirmed")
    assert "4,000.00 MMK" in refusal.message
    (event,) = state.when(confirm(75_000, additional=True))
    assert isinstance(event, ReceiptConfirmed)


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (-1, "MMK", "negative_amount"),
        (0, "MMK", "zero_amount"),
        (10**15, "MMK", "amount_too_large"),
        (5, "MMX", "unknown_currency"),
    ],
)
def test_a_receipt_of_a_bad_amount_is_refused(amount: int, currency: str, code: str) -> None:
    given(accounts).refused(confirm(amount, currency=currency), code)


def test_a_group_cannot_disburse_more_than_it_holds() -> None:
    state = given(accounts, confirm(475_000))
    refusal = state.refused(disburse(475_001), "insufficient_funds")
    assert "holds 4,750.00 MMK" in refusal.message
    (event,) = state.when(disburse(475_000))
    assert isinstance(event, DisbursementMade)
    assert legs(event) == {
        (f"group:{GROUP}", "MMK", -475_000),
        ("need:need-rice-1", "MMK", 475_000),
    }


def test_a_group_cannot_spend_a_currency_it_does_not_hold() -> None:
    given(accounts, confirm(475_000)).refused(disburse(100, currency="USD"), "insufficient_funds")


def test_disbursements_spend_the_oldest_money_first_and_say_whose_it_was() -> None:
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER))
    (event,) = state.when(disburse(600))
    assert isinstance(event, DisbursementMade)
    assert [(a.transfer_id, a.amount_minor) for a in event.funded_by] == [
        (TRANSFER, 300),
        (OTHER, 300),
    ]


def test_a_disbursement_can_spend_one_named_transfer() -> None:
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER))
    (event,) = state.when(disburse(400, transfer_id=OTHER))
    assert [(a.transfer_id, a.amount_minor) for a in event.funded_by] == [(OTHER, 400)]  # type: ignore[attr-defined]
    state.refused(disburse(400, transfer_id=TRANSFER), "insufficient_funds")


def test_a_replayed_disbursement_decides_nothing_and_a_changed_one_conflicts() -> None:
    once = disburse(100, transfer_id=TRANSFER)
    state = given(accounts, confirm(300), once)
    assert state.when(once) == []
    state.refused(disburse(101, disbursement_id=once.disbursement_id), "conflict")
    assert state.state.balance("MMK") == 200


def test_a_kitchen_need_disbursement_names_the_need_and_only_it_does() -> None:
    state = given(accounts, confirm(300))
    state.refused(disburse(100, need_id=None), "need_mismatch")
    state.refused(disburse(100, purpose="cash_assistance"), "need_mismatch")
    (event,) = state.when(disburse(100, purpose="cash_assistance", need_id=None))
    assert (f"spend:{GROUP}:cash_assistance", "MMK", 100) in legs(event)


def test_a_receipt_corrected_down_takes_back_only_unspent_money() -> None:
    first = confirm(500)
    state = given(accounts, first, disburse(300))
    state.refused(correct(first.confirmation_id, 199), "already_spent")
    fix = correct(first.confirmation_id, 300)
    (event,) = state.when(fix)
    assert isinstance(event, ReceiptCorrected)
    assert legs(event) == {(f"transit:{TRANSFER}", "MMK", 200), (f"group:{GROUP}", "MMK", -200)}
    assert state.after(fix).state.balance("MMK") == 0


def test_a_receipt_can_be_corrected_up_or_to_nothing() -> None:
    first = confirm(500)
    (up,) = given(accounts, first).when(correct(first.confirmation_id, 800))
    assert (f"group:{GROUP}", "MMK", 300) in legs(up)
    (nothing,) = given(accounts, first).when(correct(first.confirmation_id, 0))
    assert (f"group:{GROUP}", "MMK", -500) in legs(nothing)


def test_a_correction_that_changes_nothing_or_names_no_receipt_is_refused() -> None:
    first = confirm(500)
    given(accounts, first).refused(correct(first.confirmation_id, 500), "no_change")
    given(accounts, first).refused(correct(uuid7(), 5), "unknown_receipt")


@pytest.mark.parametrize(
    "change",
    [{"amount_minor": 301}, {"corrected_at": T0}, {"confirmation_id": OTHER}],
    ids="-".join,
)
def test_a_correction_id_reused_for_any_other_content_is_a_conflict(change: dict[str, Any]) -> None:
    """When the correction was made is part of it (the event keeps it): a retry dated otherwise is
    another record, not the one stored."""
    first = confirm(500)
    fix = correct(first.confirmation_id, 300)
    state = given(accounts, first, fix)
    assert state.when(fix) == []
    state.refused(replace(fix, **change), "conflict")


def test_a_dispute_is_recorded_once() -> None:
    once = report_dispute()
    (event,) = given(accounts).when(once)
    assert isinstance(event, ReceiptDisputed)
    assert given(accounts, once).when(once) == []


def test_a_receipt_that_would_overflow_the_groups_balance_is_refused() -> None:
    nearly_full = given(accounts, *(confirm(10**14, transfer_id=uuid7()) for _ in range(1000)))
    nearly_full.refused(confirm(10**14, transfer_id=uuid7()), "overflow")


def test_a_group_is_registered_once_at_one_site() -> None:
    first = RegisterGroup(GROUP, "dili", "ERR Bahri 7")
    (event,) = given(groups).when(first)
    assert isinstance(event, GroupRegistered)
    assert given(groups, first).when(first) == []
    given(groups, first).refused(RegisterGroup(GROUP, "yangon-north", "ERR Bahri 7"), "conflict")


# --- earmarks: money pledged to a kitchen need pays for that need first ------------------------

THIRD = "0195a0c0-0000-7000-8000-000000000003"


def paid_by(events: Sequence[object]) -> list[tuple[str, int]]:
    (event,) = events
    assert isinstance(event, DisbursementMade)
    return [(a.transfer_id, a.amount_minor) for a in event.funded_by]


def test_a_disbursement_to_a_need_spends_the_money_pledged_to_that_need_first() -> None:
    """The general pledge is older, yet the need is paid from the pledge that named it: spent
    oldest first, the earmarked money would be left for cash assistance."""
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER))
    earmarks = {OTHER: "need-2"}
    assert paid_by(state.when(disburse(400, need_id="need-2", earmarks=earmarks))) == [(OTHER, 400)]
    assert paid_by(state.when(disburse(600, need_id="need-2", earmarks=earmarks))) == [
        (OTHER, 500),
        (TRANSFER, 100),
    ]


def test_a_disbursement_for_another_purpose_spends_money_pledged_to_no_need_first() -> None:
    """Earmarks are a preference, not a prohibition: a group needs flexible money, so earmarked
    money still pays once the rest is spent."""
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER))
    cash = {"purpose": "cash_assistance", "need_id": None, "earmarks": {TRANSFER: "need-2"}}
    assert paid_by(state.when(disburse(400, **cash))) == [(OTHER, 400)]
    assert paid_by(state.when(disburse(600, **cash))) == [(OTHER, 500), (TRANSFER, 100)]


def test_a_disbursement_to_a_need_spends_money_pledged_to_other_needs_last() -> None:
    state = given(
        accounts, confirm(100), confirm(100, transfer_id=OTHER), confirm(100, transfer_id=THIRD)
    )
    earmarks = {TRANSFER: "need-1", THIRD: "need-2"}
    assert paid_by(state.when(disburse(300, need_id="need-2", earmarks=earmarks))) == [
        (THIRD, 100),
        (OTHER, 100),
        (TRANSFER, 100),
    ]


def test_money_whose_earmark_the_site_does_not_know_yet_counts_as_pledged_to_no_need() -> None:
    """Offline, the hub's transfer events may not have reached the site: the money is spent by
    age, as before earmarks were known."""
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER))
    assert paid_by(state.when(disburse(400, need_id="need-2"))) == [(TRANSFER, 300), (OTHER, 100)]


def test_a_transfer_named_by_the_treasurer_is_spent_whatever_it_was_pledged_to() -> None:
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER))
    named = disburse(
        200, purpose="food", need_id=None, transfer_id=OTHER, earmarks={OTHER: "need-2"}
    )
    assert paid_by(state.when(named)) == [(OTHER, 200)]


def test_a_retried_disbursement_decides_nothing_though_the_earmarks_known_changed() -> None:
    """The site may learn a transfer's earmark between a first try and its retry: the earmarks are
    a hint for the allocation, not part of the record, and the allocation stays the one recorded."""
    once = disburse(400, need_id="need-2")  # nothing known yet: oldest first
    state = given(accounts, confirm(300), confirm(500, transfer_id=OTHER), once)
    assert state.when(replace(once, earmarks={OTHER: "need-2"})) == []
    state.refused(replace(once, amount_minor=401, earmarks={OTHER: "need-2"}), "conflict")
    assert state.state.lot(TRANSFER, "MMK") == Lot(TRANSFER, "MMK", 0)
    assert state.state.lot(OTHER, "MMK") == Lot(OTHER, "MMK", 400)


def test_the_account_spends_the_lots_the_event_names_and_never_chooses_again() -> None:
    """Replayed, the history must give the state its decisions saw, whatever the earmarks known
    now: evolve follows ``funded_by`` (here the newer lot, though the older one is unearmarked)."""
    history = given(accounts, confirm(300), confirm(500, transfer_id=OTHER)).history
    spent = DisbursementMade(
        group_id=GROUP,
        disbursement_id=uuid7(),
        amount_minor=100,
        currency="MMK",
        purpose="kitchen_need",
        need_id="need-2",
        receipt_ref="book-4/18",
        disbursed_at=T0,
        funded_by=(Allocation(transfer_id=OTHER, amount_minor=100),),
        postings=postings.disbursement(GROUP, "kitchen_need", "need-2", "MMK", 100),
    )
    state = accounts.fold([*history, spent])
    assert (state.lot(TRANSFER, "MMK"), state.lot(OTHER, "MMK")) == (
        Lot(TRANSFER, "MMK", 300),
        Lot(OTHER, "MMK", 400),
    )
