"""The hub's side of a transfer: groups, pledges, funding (by hand or from a rail), dispatch,
cancellation, disputes resolved, and expiry. Each method turns an edge request into a command.

Replies describe what was recorded, from the request and the resulting state, so a retry with the
same id gets the same acceptance (and the transfer's state as it is now).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.remittance import money, reports
from services.remittance.directory import RegisterGroup
from services.remittance.handlers import Handlers, at, group_ref, transfer_ref, utc
from services.remittance.rails import Collection, FundingNotice, Rail
from services.remittance.schemas import (
    CancelRequest,
    DispatchRequest,
    FundRequest,
    PledgeRequest,
    RegisterGroupRequest,
    ResolveRequest,
)
from services.remittance.transfer import (
    Cancel,
    Dispatch,
    Expire,
    Fund,
    Pledge,
    Resolve,
    Transfer,
)
from shared.commands import meta
from shared.decider import Refused
from shared.ids import child_id
from shared.subjects import AggregateRef

Json = dict[str, Any]
EXPIRY_INDEX = 1
"""``child_id(transfer_id, 1)`` is the id of a transfer's expiry: every timer issues the same one."""


def _reply(ref: AggregateRef, state: Transfer, **extra: object) -> Json:
    return {"transfer_id": ref.id, "state": state.status, "site": ref.audience, **extra}


class Donations:
    def __init__(
        self,
        handlers: Handlers,
        rails: Mapping[str, Rail] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.h = handlers
        self.rails: dict[str, Rail] = dict(rails or {})
        self.clock = clock

    async def register_group(self, req: RegisterGroupRequest) -> Json:
        if not await self.h.linked(req.site):
            raise Refused(
                f"no field site {req.site!r} is linked to this hub: its treasurer could never "
                "confirm a receipt (a group is registered at the field site where its treasurer "
                "works; add the site first, or check the spelling)",
                code="unknown_site",
            )
        command = RegisterGroup(req.group_id, req.site, req.label)
        ref = group_ref(req.group_id)
        when = at(None, req.registration_id)
        await self.h.groups.handle(ref, command, meta(req.registration_id, req.actor, when))
        return {"group_id": req.group_id, "site": req.site, "label": req.label}

    async def pledge(self, req: PledgeRequest) -> Json:
        amount = money.parse_amount(req.amount, req.currency)
        group = await self.h.group(req.group_id)
        assert group.site is not None
        existing = await self.h.find_transfer(req.transfer_id)
        if req.need_id is not None and existing is None:
            # Only a new pledge must name an open need: a retry of one already made answers as it
            # did, though another donor's money may have met the need since.
            need = self.h.need(req.need_id, group.site)
            if need["met"]:
                raise Refused(f"kitchen need {req.need_id} has already been met", code="need_met")
        rail = self.rails.get(req.rail)
        if rail is None:
            raise Refused(f"the {req.rail} rail is not available here", code="rail_unavailable")
        pledged_at = at(None, req.transfer_id)
        expires = (
            utc(req.expires_at)
            if req.expires_at is not None
            else pledged_at + timedelta(hours=req.expires_in_hours)
        )
        command = Pledge(
            transfer_id=req.transfer_id,
            donor_ref=req.donor_ref,
            group_id=req.group_id,
            site=group.site,
            need_id=req.need_id,
            amount_minor=amount,
            currency=req.currency,
            expires_at=expires,
            pledged_at=pledged_at,
            rail=req.rail,
        )
        ref = transfer_ref(req.transfer_id, group.site)
        if existing is None and expires <= self.clock():
            # A pledge queued on a donor's device for days arrives past its own deadline: the
            # collector would be told to take money "before" a time gone by, and the timer would
            # void the pledge at once. A retry of a pledge already made still answers as it did.
            raise Refused(
                f"this pledge's deadline ({expires.isoformat()}) has already passed: pledge again "
                "(a new pledge, with a new id)",
                code="deadline_passed",
            )
        if existing is None:
            self.h.transfers.assume_new(ref)
        elif existing != ref:
            raise Refused(
                "this transfer id is already used for a pledge to another group", code="conflict"
            )
        outcome = await self.h.transfers.handle(ref, command, meta(req.transfer_id, req.actor))
        self.h.remember(ref)
        state = outcome.state
        if outcome.replayed:  # decided on an assumed-new state: read what is really there
            state, _ = await self.h.transfers.state_of(ref)
        how = await rail.collect(Collection(req.transfer_id, amount, req.currency, expires))
        return _reply(
            ref,
            state,
            amount=money.major(amount, req.currency),
            currency=req.currency,
            expires_at=expires.isoformat(),
            rail=req.rail,
            instructions=how.steps,
            rail_ref=how.reference,
        )

    async def fund(self, req: FundRequest) -> Json:
        amount = money.parse_amount(req.amount, req.currency)
        ref = await self.h.transfer(req.transfer_id)
        funded_at = at(req.funded_at, req.funding_id)
        command = Fund(
            funding_id=req.funding_id,
            rail=req.rail,
            collector_ref=req.collector_ref,
            amount_minor=amount,
            currency=req.currency,
            funded_at=funded_at,
            rail_ref=req.rail_ref,
        )
        outcome = await self.h.transfers.handle(
            ref, command, meta(req.funding_id, req.actor, funded_at)
        )
        return _reply(ref, outcome.state, funding_id=req.funding_id)

    async def fund_from_rail(self, notice: FundingNotice) -> Json:
        """A rail's callback that money arrived: the same command however often it is repeated."""
        ref = await self.h.transfer(notice.transfer_id)
        command = Fund(
            funding_id=notice.funding_id,
            rail=notice.rail,
            collector_ref=f"rail-{notice.rail}",
            amount_minor=notice.amount_minor,
            currency=notice.currency,
            funded_at=notice.funded_at,
            rail_ref=notice.rail_ref,
        )
        outcome = await self.h.transfers.handle(
            ref, command, meta(notice.funding_id, f"rail:{notice.rail}", notice.funded_at)
        )
        return _reply(ref, outcome.state, funding_id=notice.funding_id)

    async def dispatch(self, req: DispatchRequest) -> Json:
        ref = await self.h.transfer(req.transfer_id)
        state, _ = await self.h.transfers.state_of(ref)
        if state.terms is None:
            raise Refused("no transfer with this id has been pledged", code="unknown_transfer")
        sent_in = state.terms.currency
        fee = money.parse_amount(req.fee, sent_in, allow_zero=True, what="the fee")
        to_currency = req.to_currency or sent_in
        money.exponent(to_currency)
        if req.rate is None and to_currency != sent_in:
            raise Refused(
                f"a dispatch from {sent_in} into {to_currency} needs the agent's rate",
                code="rate_required",
            )
        rate = "1" if req.rate is None else req.rate.strip()  # as if given: one idempotency key
        money.parse_rate(rate)
        delivered = (
            money.parse_amount(req.delivered, to_currency, what="the delivered amount")
            if req.delivered
            else None
        )
        dispatched_at = at(req.dispatched_at, req.dispatch_id)
        command = Dispatch(
            dispatch_id=req.dispatch_id,
            channel=req.channel,
            agent_ref=req.agent_ref,
            fee_minor=fee,
            rate=rate,
            delivered_currency=to_currency,
            dispatched_at=dispatched_at,
            expected_delivered_minor=delivered,
        )
        outcome = await self.h.transfers.handle(
            ref, command, meta(req.dispatch_id, req.actor, dispatched_at)
        )
        sent = outcome.state.sent
        return _reply(
            ref,
            outcome.state,
            dispatch_id=req.dispatch_id,
            delivered=money.major(sent.delivered_minor, sent.currency) if sent else None,
            delivered_currency=sent.currency if sent else None,
        )

    async def cancel(self, req: CancelRequest) -> Json:
        ref = await self.h.transfer(req.transfer_id)
        command = Cancel(req.cancellation_id, req.reason)
        when = at(None, req.cancellation_id)
        outcome = await self.h.transfers.handle(
            ref, command, meta(req.cancellation_id, req.actor, when)
        )
        return _reply(ref, outcome.state, cancellation_id=req.cancellation_id)

    async def resolve(self, req: ResolveRequest) -> Json:
        ref = await self.h.transfer(req.transfer_id)
        command = Resolve(req.resolution_id, req.resolution)
        when = at(None, req.resolution_id)
        outcome = await self.h.transfers.handle(
            ref, command, meta(req.resolution_id, req.actor, when)
        )
        return _reply(ref, outcome.state, resolution_id=req.resolution_id)

    async def expire(self, transfer_id: str, now: datetime) -> Json:
        """The deadline's verdict, under an id every timer derives alike, dated at the deadline
        itself: however often and however late it is issued, it is one and the same expiry."""
        ref = await self.h.transfer(transfer_id)
        state, _ = await self.h.transfers.state_of(ref)
        if state.terms is None:
            raise Refused("no transfer with this id has been pledged", code="unknown_transfer")
        command_id = child_id(transfer_id, EXPIRY_INDEX)
        deadline = state.terms.expires_at
        outcome = await self.h.transfers.handle(
            ref, Expire(now=now), meta(command_id, "timer", deadline)
        )
        return _reply(ref, outcome.state)

    def due(self, now: datetime, grace: timedelta) -> list[str]:
        with self.h.read() as db:
            return reports.due_for_expiry(db, (now - grace).isoformat())
