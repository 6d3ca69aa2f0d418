"""The transfer's rules, in given / when / then form: every refusal and every movement."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.remittance.events import (
    DisputeResolved,
    Posting,
    ReceiptDisputed,
    ShortfallRecovered,
    TransferCancelled,
    TransferDispatched,
    TransferDisputed,
    TransferExpired,
    TransferFunded,
    TransferPledged,
    TransferReceiptCorrected,
    TransferReceiptNoted,
)
from services.remittance.handlers import account_ref, transfer_ref
from services.remittance.subscribers import site_fact_note
from services.remittance.transfer import Expire, NoteDispute, Transfer, transfers
from shared.envelope import make_envelope
from shared.ids import uuid7
from tests.services.remittance.builders import (
    DELIVERED,
    SITE,
    T0,
    TRANSFER,
    Given,
    cancel,
    dispatch,
    fund,
    given,
    note_correction,
    note_dispute,
    note_receipt,
    pledge,
    resolve,
)

DEADLINE = T0 + timedelta(days=3)


def legs(event: object) -> set[tuple[str, str, int]]:
    assert hasattr(event, "postings")
    return {(p.account, p.currency, p.amount_minor) for p in event.postings}


def test_a_pledge_is_pending_and_moves_no_money() -> None:
    (event,) = given(transfers).when(pledge())
    assert isinstance(event, TransferPledged)
    assert (event.status, event.amount_minor, event.currency) == ("pledged", 10_000, "GBP")


def test_the_same_pledge_again_decides_nothing() -> None:
    assert given(transfers, pledge()).when(pledge()) == []


def test_the_same_transfer_id_for_another_pledge_is_a_conflict() -> None:
    given(transfers, pledge()).refused(pledge(amount_minor=20_000), "conflict")


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (-100, "GBP", "negative_amount"),
        (0, "GBP", "zero_amount"),
        (10**15, "GBP", "amount_too_large"),
        (100, "XYZ", "unknown_currency"),
    ],
)
def test_a_pledge_of_a_bad_amount_is_refused(amount: int, currency: str, code: str) -> None:
    given(transfers).refused(pledge(amount_minor=amount, currency=currency), code)


def test_a_pledge_must_expire_after_it_is_made_and_within_a_year() -> None:
    given(transfers).refused(pledge(expires_at=T0), "invalid_deadline")
    given(transfers).refused(pledge(expires_at=T0 + timedelta(days=400)), "invalid_deadline")


def test_funding_moves_the_money_from_the_donor_to_the_collector() -> None:
    (event,) = given(transfers, pledge()).when(fund())
    assert isinstance(event, TransferFunded)
    assert event.status == "funded"
    assert legs(event) == {
        ("donor:donor-1", "GBP", -10_000),
        ("collector:collector-london", "GBP", 10_000),
    }


def test_a_funding_replayed_with_the_same_id_decides_nothing_and_other_content_conflicts() -> None:
    first = fund()
    state = given(transfers, pledge(), first)
    assert state.when(first) == []
    state.refused(fund(funding_id=first.funding_id, collector_ref="someone-else"), "conflict")


def test_a_second_funding_is_refused() -> None:
    given(transfers, pledge(), fund()).refused(fund(), "already_funded")


def test_funding_that_arrived_after_the_deadline_is_refused() -> None:
    late = fund(funded_at=DEADLINE + timedelta(seconds=1))
    refusal = given(transfers, pledge()).refused(late, "pledge_expired")
    assert "return it to the donor" in refusal.message


def test_funding_of_another_amount_or_currency_is_refused() -> None:
    given(transfers, pledge()).refused(fund(amount_minor=9_999), "amount_mismatch")
    given(transfers, pledge()).refused(fund(currency="EUR"), "amount_mismatch")


def test_funding_an_unknown_transfer_is_not_found() -> None:
    given(transfers).refused(fund(), "unknown_transfer")


def test_dispatch_records_the_agents_fee_and_rate_exactly() -> None:
    (event,) = given(transfers, pledge(), fund()).when(dispatch())
    assert isinstance(event, TransferDispatched)
    assert (event.status, event.rate, event.delivered_minor) == ("sent", "4850.25", DELIVERED)
    assert legs(event) == {
        ("collector:collector-london", "GBP", -10_000),
        ("fees:agent-hundi-3", "GBP", 200),
        ("fx:agent-hundi-3", "GBP", 9_800),
        ("fx:agent-hundi-3", "MMK", -DELIVERED),
        (f"transit:{TRANSFER}", "MMK", DELIVERED),
    }


def test_dispatch_in_the_same_currency_needs_no_exchange() -> None:
    (event,) = given(transfers, pledge(), fund()).when(
        dispatch(delivered_currency="GBP", rate="1", fee_minor=0)
    )
    assert legs(event) == {
        ("collector:collector-london", "GBP", -10_000),
        (f"transit:{TRANSFER}", "GBP", 10_000),
    }
    given(transfers, pledge(), fund()).refused(
        dispatch(delivered_currency="GBP", rate="1.1"), "invalid_rate"
    )


def test_dispatch_before_funding_is_refused() -> None:
    given(transfers, pledge()).refused(dispatch(), "not_funded")


def test_a_second_dispatch_is_refused() -> None:
    given(transfers, pledge(), fund(), dispatch()).refused(dispatch(), "already_sent")


@pytest.mark.parametrize("rate", ["1e3", "-4850", "4,850.25", "abc", "0", "0.000", " ", "1.2.3"])
def test_a_rate_in_the_wrong_format_is_refused(rate: str) -> None:
    given(transfers, pledge(), fund()).refused(dispatch(rate=rate), "invalid_rate")


@pytest.mark.parametrize("fee", [-1, 10_000, 20_000])
def test_a_fee_below_zero_or_not_below_the_amount_is_refused(fee: int) -> None:
    given(transfers, pledge(), fund()).refused(dispatch(fee_minor=fee), "invalid_fee")


def test_a_delivered_amount_that_disagrees_with_the_rate_is_refused_with_the_right_one() -> None:
    refusal = given(transfers, pledge(), fund()).refused(
        dispatch(expected_delivered_minor=48_000_000), "delivered_mismatch"
    )
    assert "475,324.50 MMK" in refusal.message


@pytest.mark.parametrize("stated", [None, DELIVERED])
def test_a_dispatch_retried_with_another_delivered_figure_is_a_conflict(stated: int | None) -> None:
    """The agent's figure is content: a retry naming another one is not the dispatch recorded."""
    first = dispatch(expected_delivered_minor=stated)
    state = given(transfers, pledge(), fund(), first)
    state.refused(replace(first, expected_delivered_minor=DELIVERED + 1), "conflict")
    state.refused(replace(first, expected_delivered_minor=DELIVERED - 1), "conflict")
    assert state.when(first) == []
    assert state.when(replace(first, expected_delivered_minor=DELIVERED)) == []
    assert state.when(replace(first, expected_delivered_minor=None)) == []  # the check left out


@pytest.mark.parametrize(
    "change",
    [
        {"channel": "bank"},
        {"agent_ref": "agent-other"},
        {"fee_minor": 100},
        {"rate": "4850.26"},
        {"rate": "4850.250"},  # the rate is kept as given: another text is another record
        {"delivered_currency": "USD"},
        {"dispatched_at": T0 + timedelta(hours=6)},
        {"expected_delivered_minor": 1},
    ],
    ids="-".join,
)
def test_a_dispatch_id_reused_for_any_other_content_is_a_conflict(change: dict[str, Any]) -> None:
    first = dispatch()
    given(transfers, pledge(), fund(), first).refused(replace(first, **change), "conflict")


def test_a_dispatch_of_a_large_amount_delivers_the_exact_amount_rounded_down() -> None:
    """10,000,000,000.001 KWD at 9009.999999999999 JPY per KWD is 90,100,000,000,008.99... JPY."""
    amount = {"amount_minor": 10_000_000_000_001, "currency": "KWD"}
    (event,) = given(transfers, pledge(**amount), fund(**amount)).when(
        dispatch(
            fee_minor=0,
            rate="9009.999999999999",
            delivered_currency="JPY",
            expected_delivered_minor=90_100_000_000_008,
        )
    )
    assert isinstance(event, TransferDispatched)
    assert event.delivered_minor == 90_100_000_000_008


def test_a_rate_too_small_to_deliver_anything_is_refused() -> None:
    given(transfers, pledge(), fund()).refused(dispatch(rate="0.000000000001"), "invalid_rate")


def test_the_full_amount_confirmed_settles_the_transfer_as_received() -> None:
    (event,) = given(transfers, pledge(), fund(), dispatch()).when(note_receipt())
    assert isinstance(event, TransferReceiptNoted)
    assert event.status == "received"


def test_a_partial_receipt_leaves_the_transfer_sent_until_the_rest_arrives() -> None:
    part = given(transfers, pledge(), fund(), dispatch(), note_receipt(DELIVERED - 50_000))
    assert part.state.status == "sent"
    (event,) = part.when(note_receipt(50_000))
    assert isinstance(event, TransferReceiptNoted)
    assert event.status == "received"


def test_a_receipt_noted_before_the_dispatch_is_matched_when_the_dispatch_is_recorded() -> None:
    early = given(transfers, pledge(), fund(), note_receipt())
    assert early.state.status == "funded"
    (event,) = early.when(dispatch())
    assert isinstance(event, TransferDispatched)
    assert event.status == "received"


def test_more_than_was_sent_opens_a_dispute() -> None:
    noted, disputed = given(transfers, pledge(), fund(), dispatch()).when(
        note_receipt(DELIVERED + 1)
    )
    assert isinstance(disputed, TransferDisputed)
    assert (noted.status, disputed.reason) == ("disputed", "more_than_sent")  # type: ignore[attr-defined]


def test_a_receipt_in_another_currency_opens_a_dispute() -> None:
    _, disputed = given(transfers, pledge(), fund(), dispatch()).when(note_receipt(100, "USD"))
    assert isinstance(disputed, TransferDisputed)
    assert disputed.reason == "other_currency"


def test_a_receipt_noted_twice_decides_nothing_the_second_time() -> None:
    receipt = note_receipt()
    assert given(transfers, pledge(), fund(), dispatch(), receipt).when(receipt) == []


def test_an_unfunded_pledge_expires_at_its_deadline() -> None:
    (event,) = given(transfers, pledge()).when(Expire(now=DEADLINE))
    assert isinstance(event, TransferExpired)
    assert (event.status, event.expires_at) == ("expired", DEADLINE)


def test_expiring_before_the_deadline_is_refused() -> None:
    given(transfers, pledge()).refused(Expire(now=DEADLINE - timedelta(seconds=1)), "not_due")


def test_a_funded_transfer_does_not_expire() -> None:
    given(transfers, pledge(), fund()).refused(Expire(now=DEADLINE), "not_pending")


def test_expiring_twice_is_the_same_expiry() -> None:
    later = DEADLINE + timedelta(days=9)
    assert given(transfers, pledge(), Expire(now=DEADLINE)).when(Expire(now=later)) == []


def test_cancelling_a_funded_transfer_refunds_the_donor() -> None:
    (event,) = given(transfers, pledge(), fund()).when(cancel())
    assert isinstance(event, TransferCancelled)
    assert legs(event) == {
        ("collector:collector-london", "GBP", -10_000),
        ("donor:donor-1", "GBP", 10_000),
    }


def test_cancelling_an_unfunded_pledge_moves_nothing() -> None:
    (event,) = given(transfers, pledge()).when(cancel())
    assert legs(event) == set()


def test_cancelling_after_the_dispatch_is_refused() -> None:
    given(transfers, pledge(), fund(), dispatch()).refused(cancel(), "already_sent")


def test_cancelling_after_the_group_confirmed_money_is_refused() -> None:
    given(transfers, pledge(), fund(), note_receipt()).refused(cancel(), "money_arrived")


def test_a_cancelled_transfer_cannot_be_funded_or_dispatched() -> None:
    given(transfers, pledge(), cancel()).refused(fund(), "already_cancelled")
    given(transfers, pledge(), fund(), cancel()).refused(dispatch(), "already_cancelled")


def test_a_dispute_resolved_by_write_off_closes_what_is_in_transit() -> None:
    short = DELIVERED - 1_000_000
    disputed = given(transfers, pledge(), fund(), dispatch(), note_receipt(short), note_dispute())
    assert disputed.state.status == "disputed"
    (event,) = disputed.when(resolve("write_off"))
    assert isinstance(event, DisputeResolved)
    assert event.status == "resolved"
    assert legs(event) == {
        (f"transit:{TRANSFER}", "MMK", -1_000_000),
        ("loss:agent-hundi-3", "MMK", 1_000_000),
    }


def test_a_dispute_resolved_as_owed_posts_a_receivable_from_the_agent() -> None:
    (event,) = given(
        transfers, pledge(), fund(), dispatch(), note_receipt(DELIVERED - 5), note_dispute()
    ).when(resolve("agent_owes"))
    assert ("receivable:agent-hundi-3", "MMK", 5) in legs(event)


def test_resolving_a_transfer_that_is_not_disputed_is_refused() -> None:
    given(transfers, pledge(), fund(), dispatch()).refused(resolve(), "not_disputed")


def test_resolving_a_dispute_before_the_dispatch_is_recorded_is_refused() -> None:
    given(transfers, pledge(), fund(), note_dispute()).refused(resolve(), "not_sent")


def test_money_arriving_after_a_write_off_wins_it_back() -> None:
    closed = given(
        transfers,
        pledge(),
        fund(),
        dispatch(),
        note_receipt(DELIVERED - 1_000_000),
        note_dispute(),
        resolve(),
    )
    noted, recovered = closed.when(note_receipt(1_500_000))
    assert noted.status == "resolved"  # type: ignore[attr-defined]
    assert isinstance(recovered, ShortfallRecovered)
    assert legs(recovered) == {
        ("loss:agent-hundi-3", "MMK", -1_000_000),
        (f"transit:{TRANSFER}", "MMK", 1_000_000),
    }


def test_a_receipt_after_expiry_is_kept_without_reopening_the_transfer() -> None:
    (event,) = given(transfers, pledge(), Expire(now=DEADLINE)).when(note_receipt())
    assert event.status == "expired"  # type: ignore[attr-defined]


def test_a_dispute_after_an_irrevocable_outcome_is_refused() -> None:
    given(transfers, pledge(), Expire(now=DEADLINE)).refused(note_dispute(), "already_expired")
    given(transfers, pledge(), fund(), cancel()).refused(note_dispute(), "already_cancelled")
    resolved = given(
        transfers,
        pledge(),
        fund(),
        dispatch(),
        note_receipt(DELIVERED - 5),
        note_dispute(),
        resolve(),
    )
    resolved.refused(note_dispute(), "already_resolved")


def test_a_corrected_receipt_can_complete_the_transfer() -> None:
    first = note_receipt(DELIVERED - 10)
    state = given(transfers, pledge(), fund(), dispatch(), first)
    (event,) = state.when(note_correction(first.confirmation_id, DELIVERED))
    assert isinstance(event, TransferReceiptCorrected)
    assert event.status == "received"


def test_a_correction_of_an_unknown_receipt_is_not_found() -> None:
    given(transfers, pledge(), fund(), dispatch()).refused(
        note_correction(TRANSFER, 5), "unknown_receipt"
    )


def test_every_money_event_balances_per_currency() -> None:
    history = given(
        transfers,
        pledge(),
        fund(),
        dispatch(),
        note_receipt(DELIVERED - 7),
        note_dispute(),
        resolve(),
        note_receipt(3),
    ).history
    total: dict[str, int] = {}
    for event in history:
        for leg in getattr(event, "postings", ()):
            assert isinstance(leg, Posting)
            total[leg.currency] = total.get(leg.currency, 0) + leg.amount_minor
    assert set(total.values()) <= {0}


def test_money_confirmed_by_another_group_opens_a_dispute_until_corrected_away() -> None:
    astray = note_receipt(group_id="err-other")
    noted, disputed = given(transfers, pledge(), fund(), dispatch()).when(astray)
    assert isinstance(disputed, TransferDisputed)
    assert (noted.status, disputed.reason) == ("disputed", "other_group")  # type: ignore[attr-defined]
    state = given(transfers, pledge(), fund(), dispatch(), astray)
    fixed = state.after(note_correction(astray.confirmation_id, 0))
    (event,) = fixed.when(note_receipt())
    assert event.status == "received"  # type: ignore[attr-defined]


# --- received holds while the group's own figures agree with what was sent -----------------------


def received() -> tuple[Given[Any, Transfer], str]:
    """A transfer whose group confirmed the full amount, and the id of that confirmation."""
    full = note_receipt()
    return given(transfers, pledge(), fund(), dispatch(), full), full.confirmation_id


def test_a_received_transfer_corrected_to_nothing_is_disputed_as_less_than_sent() -> None:
    """A typo fixed later: the money the status said arrived is back in transit, so the transfer
    is disputed until the figures agree again or a resolution settles the transit account."""
    state, confirmation = received()
    corrected, disputed = state.when(note_correction(confirmation, 0))
    assert isinstance(corrected, TransferReceiptCorrected)
    assert corrected.status == "disputed"
    assert isinstance(disputed, TransferDisputed)
    assert (disputed.status, disputed.reason) == ("disputed", "less_than_sent")


def test_a_shortfall_after_receipt_is_disputed_not_sent_again() -> None:
    """Before the full amount is confirmed a part is money still on its way; once the group has
    confirmed it all, its own lower figure says less arrived."""
    state, confirmation = received()
    _, disputed = state.when(note_correction(confirmation, DELIVERED - 1))
    assert isinstance(disputed, TransferDisputed)
    assert (disputed.status, disputed.reason) == ("disputed", "less_than_sent")


def test_the_group_disputing_a_receipt_it_corrected_away_is_noted_and_can_be_resolved() -> None:
    state, confirmation = received()
    nothing = state.after(note_correction(confirmation, 0))
    (event,) = nothing.when(note_dispute("nothing_arrived"))
    assert isinstance(event, TransferDisputed)
    assert (event.status, event.reason) == ("disputed", "nothing_arrived")
    (resolved,) = nothing.after(note_dispute("nothing_arrived")).when(resolve())
    assert isinstance(resolved, DisputeResolved)
    assert resolved.status == "resolved"
    assert legs(resolved) == {
        (f"transit:{TRANSFER}", "MMK", -DELIVERED),
        ("loss:agent-hundi-3", "MMK", DELIVERED),
    }


def test_a_group_disputing_a_received_transfer_reopens_it_with_its_own_reason() -> None:
    state, _ = received()
    (event,) = state.when(note_dispute("nothing_arrived"))
    assert isinstance(event, TransferDisputed)
    assert (event.status, event.reason) == ("disputed", "nothing_arrived")


def test_more_confirmed_after_the_full_amount_is_disputed_as_more_than_sent() -> None:
    state, _ = received()
    noted, disputed = state.when(note_receipt(5))
    assert isinstance(noted, TransferReceiptNoted)
    assert isinstance(disputed, TransferDisputed)
    assert (noted.status, disputed.reason) == ("disputed", "more_than_sent")


def test_another_currency_confirmed_after_the_full_amount_is_disputed_as_other_currency() -> None:
    state, _ = received()
    noted, disputed = state.when(note_receipt(500, "USD"))
    assert isinstance(disputed, TransferDisputed)
    assert (noted.status, disputed.reason) == ("disputed", "other_currency")  # type: ignore[attr-defined]


def test_money_another_group_confirmed_after_receipt_reopens_the_transfer() -> None:
    state, _ = received()
    noted, disputed = state.when(note_receipt(group_id="err-other"))
    assert isinstance(disputed, TransferDisputed)
    assert (noted.status, disputed.reason) == ("disputed", "other_group")  # type: ignore[attr-defined]


def test_a_dispute_returns_to_received_when_a_correction_makes_the_figures_agree() -> None:
    state, confirmation = received()
    reopened = state.after(note_correction(confirmation, 0))
    (event,) = reopened.when(note_correction(confirmation, DELIVERED))
    assert isinstance(event, TransferReceiptCorrected)
    assert event.status == "received"
    reopened.after(note_correction(confirmation, DELIVERED)).refused(resolve(), "not_disputed")


def test_an_excess_corrected_away_returns_the_transfer_to_received() -> None:
    extra = note_receipt(5)
    state = received()[0].after(extra)
    assert state.state.status == "disputed"
    (event,) = state.when(note_correction(extra.confirmation_id, 0))
    assert event.status == "received"  # type: ignore[attr-defined]


def test_figures_that_part_again_after_agreeing_again_open_a_new_dispute() -> None:
    """Back at received, the earlier dispute is over: the next disagreement is a dispute of its own,
    with its own reason, rather than one already open."""
    extra = note_receipt(5)
    state = received()[0].after(extra, note_correction(extra.confirmation_id, 0))
    assert state.state.status == "received"
    _, disputed = state.when(note_correction(extra.confirmation_id, 7))
    assert isinstance(disputed, TransferDisputed)
    assert (disputed.status, disputed.reason) == ("disputed", "more_than_sent")


def test_resolving_a_received_transfer_is_refused_as_not_disputed() -> None:
    received()[0].refused(resolve(), "not_disputed")


def test_a_resolved_transfer_stays_resolved_when_the_figures_agree_later() -> None:
    """Resolved is irrevocable: the money found after all wins back the write-off instead."""
    state, confirmation = received()
    closed = state.after(note_correction(confirmation, 0), resolve())
    assert closed.state.status == "resolved"
    corrected, recovered = closed.when(note_correction(confirmation, DELIVERED))
    assert corrected.status == "resolved"  # type: ignore[attr-defined]
    assert isinstance(recovered, ShortfallRecovered)
    assert legs(recovered) == {
        ("loss:agent-hundi-3", "MMK", -DELIVERED),
        (f"transit:{TRANSFER}", "MMK", DELIVERED),
    }


# --- only the transfer's own group can dispute it -------------------------------------------------


@pytest.mark.parametrize("reached", ["sent", "received"])
def test_a_dispute_reported_by_another_group_is_refused(reached: str) -> None:
    """The hub's reactor logs the refusal: the transfer stays as it was, nothing to resolve."""
    receipts = [note_receipt()] if reached == "received" else []
    state = given(transfers, pledge(), fund(), dispatch(), *receipts)
    assert state.state.status == reached
    refusal = state.refused(note_dispute("nothing_arrived", group_id="err-other"), "wrong_group")
    assert "err-other" not in refusal.message  # errors never echo input
    state.refused(resolve(), "not_disputed")


def test_the_hub_notes_a_sites_dispute_with_the_group_that_reported_it() -> None:
    reported = ReceiptDisputed(
        group_id="err-other",
        dispute_id=uuid7(),
        transfer_id=TRANSFER,
        reason="nothing_arrived",
        reported_at=T0,
    )
    event = make_envelope(
        reported,
        event_id=uuid7(),
        aggregate=account_ref("err-other", SITE),
        occurred_at=T0,
        actor="treasurer",
        correlation_id=uuid7(),
    )
    note = site_fact_note(event)
    assert note is not None
    ref, command = note
    assert ref == transfer_ref(TRANSFER, SITE)
    assert command == NoteDispute(reported.dispute_id, "nothing_arrived", "err-other")
