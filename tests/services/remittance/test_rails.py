"""The sandbox rail: a simulated provider whose callbacks come late, twice and out of order; the
adapter records one funding per transfer and asks for a refund when the pledge has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.remittance.rails import Collection, FundingNotice, ManualRail, SandboxRail
from shared.decider import Refused
from shared.ids import uuid7


def order(transfer_id: str) -> Collection:
    return Collection(transfer_id, 5_000, "USD", datetime.now(UTC) + timedelta(hours=1))


async def test_every_copy_of_the_paid_callback_is_the_same_funding() -> None:
    notices: list[FundingNotice] = []

    async def record(notice: FundingNotice) -> None:
        notices.append(notice)

    rail = SandboxRail(notify=record, seed=3, max_delay_s=0.05, duplicate_rate=1.0)
    tid = uuid7()
    first = await rail.collect(order(tid))
    assert await rail.collect(order(tid)) == first  # the same order twice: one payment
    await rail.settle()
    statuses = [c.status for c in rail.delivered]
    assert sorted(statuses) == ["pending", "pending", "succeeded", "succeeded"]
    assert len(notices) == 2 and len(set(notices)) == 1  # two copies, one and the same funding
    assert rail.payments[tid].outcome == "funded"


async def test_callbacks_arrive_out_of_order_sometimes() -> None:
    async def record(notice: FundingNotice) -> None:
        return None

    rail = SandboxRail(notify=record, seed=11, max_delay_s=0.05, duplicate_rate=0.0)
    for _ in range(20):
        await rail.collect(order(uuid7()))
    await rail.settle()
    by_payment: dict[str, list[str]] = {}
    for call in rail.delivered:
        by_payment.setdefault(call.payment_id, []).append(call.status)
    assert any(seen[0] == "succeeded" for seen in by_payment.values())


async def test_money_that_arrives_after_the_pledge_expired_is_refunded() -> None:
    async def expired(notice: FundingNotice) -> None:
        raise Refused("the pledge expired", code="pledge_expired")

    rail = SandboxRail(notify=expired, seed=5, max_delay_s=0.01, duplicate_rate=0.0)
    tid = uuid7()
    await rail.collect(order(tid))
    await rail.settle()
    assert (rail.payments[tid].outcome, rail.payments[tid].refunded) == ("refunded", True)


async def test_a_failed_payment_funds_nothing() -> None:
    notices: list[FundingNotice] = []

    async def record(notice: FundingNotice) -> None:
        notices.append(notice)

    rail = SandboxRail(notify=record, seed=1, max_delay_s=0.01, fail_rate=1.0)
    tid = uuid7()
    await rail.collect(order(tid))
    await rail.settle()
    assert notices == []
    assert rail.payments[tid].outcome == "failed"


async def test_the_manual_rail_tells_the_donor_how_to_hand_over_the_money() -> None:
    tid = uuid7()
    how = await ManualRail().collect(order(tid))
    assert how.reference == tid
    assert "50.00 USD" in how.steps and f"aidmesh remit fund {tid}" in how.steps
