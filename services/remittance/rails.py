"""Payment rails: how a donor's money reaches a collector, behind one small interface.

``ManualRail`` is the real workflow groups use today: the donor hands the money to a collector (or an
agent's shop, or a friend going home), and the collector records it with ``aidmesh remit fund``.

``SandboxRail`` is a *simulated* asynchronous provider for tests and the demo, and says so in every
reference it makes: no money moves. Like real providers it answers a collection at once and confirms
it later by callbacks, which arrive late, twice, and out of order. The adapter turns the callback
that says "paid" into a funding with an id derived from the transfer, so however many copies arrive,
one funding is recorded; when the ledger refuses it (the pledge expired meanwhile), it asks the
provider to refund.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from services.remittance.money import format_minor
from shared import telemetry
from shared.decider import Refused
from shared.ids import child_id
from shared.waiting import cancel_and_wait

FUNDING_INDEX = 7
"""``child_id(transfer_id, 7)`` is the funding id of a rail's confirmation: one per transfer."""
_log = telemetry.get_logger("aidmesh.remit.rails")


@dataclass(frozen=True, slots=True)
class Collection:
    transfer_id: str
    amount_minor: int
    currency: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Instructions:
    reference: str
    steps: str


@dataclass(frozen=True, slots=True)
class FundingNotice:
    """A rail says the money for a transfer arrived, and when (the provider's time, not ours)."""

    transfer_id: str
    funding_id: str
    amount_minor: int
    currency: str
    funded_at: datetime
    rail: str
    rail_ref: str


Notify = Callable[[FundingNotice], Awaitable[object]]


class Rail(Protocol):
    name: str

    async def collect(self, order: Collection) -> Instructions:
        """Start collecting a pledge's money; the same order twice is the same collection."""
        ...


class ManualRail:
    name = "manual"

    async def collect(self, order: Collection) -> Instructions:
        return Instructions(
            reference=order.transfer_id,
            steps=(
                f"Hand {format_minor(order.amount_minor, order.currency)} to a collector before "
                f"{order.expires_at:%Y-%m-%d %H:%M} UTC, quoting transfer {order.transfer_id}; "
                f"the collector records it with: aidmesh remit fund {order.transfer_id} "
                f"--amount ... --currency {order.currency} --collector <your collector ref>"
            ),
        )


CallbackStatus = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Callback:
    payment_id: str
    transfer_id: str
    status: CallbackStatus
    sequence: int
    paid_at: datetime


@dataclass
class SandboxPayment:
    order: Collection
    payment_id: str
    succeeds: bool
    paid_at: datetime
    outcome: str = "waiting"
    refunded: bool = False


@dataclass
class SandboxRail:
    """A simulated payment provider (no money moves). ``notify`` records a funding."""

    notify: Notify
    seed: int | None = None
    max_delay_s: float = 1.0
    duplicate_rate: float = 0.5
    fail_rate: float = 0.0
    name: str = "sandbox"
    payments: dict[str, SandboxPayment] = field(default_factory=dict)
    delivered: list[Callback] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def collect(self, order: Collection) -> Instructions:
        known = self.payments.get(order.transfer_id)
        if known is None:
            payment_id = f"sandbox-{child_id(order.transfer_id, FUNDING_INDEX + 1)}"
            succeeds = self._rng.random() >= self.fail_rate
            known = self.payments[order.transfer_id] = SandboxPayment(
                order, payment_id, succeeds, paid_at=datetime.now(UTC)
            )
            self._schedule(known)
        return Instructions(
            reference=known.payment_id,
            steps="SANDBOX: a simulated provider; no money moves. It confirms by callbacks.",
        )

    def _schedule(self, payment: SandboxPayment) -> None:
        final: CallbackStatus = "succeeded" if payment.succeeds else "failed"
        calls = [
            Callback(payment.payment_id, payment.order.transfer_id, status, n, payment.paid_at)
            for n, status in enumerate(("pending", final))
        ]
        calls += [c for c in calls if self._rng.random() < self.duplicate_rate]  # twice
        for call in calls:  # each alone, each late by its own delay: so out of order
            delay = self._rng.uniform(0, self.max_delay_s)
            task = asyncio.get_running_loop().create_task(self._deliver(call, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, call: Callback, delay: float) -> None:
        await asyncio.sleep(delay)
        self.delivered.append(call)
        try:
            await self.on_callback(call)
        except Exception as exc:  # a provider retries; the sandbox logs and lets the next copy try
            _log.warning(
                "sandbox.callback_failed",
                transfer_id=call.transfer_id,
                error=telemetry.error_text(exc),
            )

    async def on_callback(self, call: Callback) -> None:
        """The adapter: only "succeeded" moves money; its funding id is fixed by the transfer."""
        payment = self.payments[call.transfer_id]
        if call.status != "succeeded":
            if call.status == "failed":
                payment.outcome = "failed"
            return
        notice = FundingNotice(
            transfer_id=call.transfer_id,
            funding_id=child_id(call.transfer_id, FUNDING_INDEX),
            amount_minor=payment.order.amount_minor,
            currency=payment.order.currency,
            funded_at=call.paid_at,
            rail=self.name,
            rail_ref=call.payment_id,
        )
        try:
            await self.notify(notice)
            payment.outcome = "funded"
        except Refused as refusal:
            if refusal.code in ("pledge_expired", "already_cancelled", "already_expired"):
                payment.outcome, payment.refunded = "refunded", True
                _log.info("sandbox.refunded", transfer_id=call.transfer_id, reason=refusal.code)
                return
            raise

    async def settle(self) -> None:
        """Wait until every scheduled callback has been delivered (tests, the demo)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await asyncio.gather(*(cancel_and_wait(task) for task in list(self._tasks)))
