"""The site's side: what a group's treasurer records, even while the site is cut off from the hub.

Each record keeps the time it was captured (given, or the time inside its UUIDv7 id), so a
confirmation typed in on a phone days before the link returns is dated when the cash changed hands.
"""

from __future__ import annotations

from typing import Any

from services.remittance import money
from services.remittance.account import ConfirmReceipt, CorrectReceipt, Disburse, ReportDispute
from services.remittance.handlers import Handlers, account_ref, at
from services.remittance.schemas import (
    ConfirmReceiptRequest,
    CorrectReceiptRequest,
    DisburseRequest,
    DisputeRequest,
)
from shared.commands import meta
from shared.decider import Refused
from shared.endpoints import NotFound
from shared.subjects import AggregateRef

Json = dict[str, Any]


class Treasury:
    def __init__(self, handlers: Handlers) -> None:
        self.h = handlers

    async def confirm_receipt(self, req: ConfirmReceiptRequest) -> Json:
        amount = money.parse_amount(req.amount, req.currency)
        await self.h.group_here(req.group_id)
        self._same_group(req.transfer_id, req.group_id)
        received_at = at(req.received_at, req.confirmation_id)
        command = ConfirmReceipt(
            group_id=req.group_id,
            confirmation_id=req.confirmation_id,
            transfer_id=req.transfer_id,
            amount_minor=amount,
            currency=req.currency,
            received_at=received_at,
            additional=req.additional,
        )
        ref = account_ref(req.group_id, self.h.site)
        await self.h.accounts.handle(
            ref, command, meta(req.confirmation_id, req.actor, received_at)
        )
        return {
            "confirmation_id": req.confirmation_id,
            "group_id": req.group_id,
            "transfer_id": req.transfer_id,
            "amount": money.major(amount, req.currency),
            "currency": req.currency,
            "received_at": received_at.isoformat(),
        }

    def _same_group(self, transfer_id: str, group_id: str) -> None:
        """When the site already knows the transfer (the link was up since it was pledged), a
        confirmation or a dispute by another group is a mistake caught here; offline, the hub
        catches it."""
        with self.h.read() as db:
            row = db.execute(
                "SELECT group_id FROM remit_transfers WHERE transfer_id = ?", (transfer_id,)
            ).fetchone()
        if row is not None and row["group_id"] != group_id:
            raise Refused(
                f"transfer {transfer_id} was sent to group {row['group_id']}, not {group_id}",
                code="wrong_group",
            )

    async def correct_receipt(self, req: CorrectReceiptRequest) -> Json:
        await self.h.group_here(req.group_id)
        ref = account_ref(req.group_id, self.h.site)
        state, _ = await self.h.accounts.state_of(ref)
        receipt = state.receipts.get(req.confirmation_id)
        if receipt is None:
            raise NotFound(
                "the group has no receipt with this confirmation id", code="unknown_receipt"
            )
        amount = money.parse_amount(req.amount, receipt.currency, allow_zero=True)
        corrected_at = at(req.corrected_at, req.correction_id)
        command = CorrectReceipt(
            req.group_id, req.correction_id, req.confirmation_id, amount, corrected_at
        )
        await self.h.accounts.handle(ref, command, meta(req.correction_id, req.actor, corrected_at))
        return {
            "correction_id": req.correction_id,
            "confirmation_id": req.confirmation_id,
            "amount": money.major(amount, receipt.currency),
            "currency": receipt.currency,
        }

    async def disburse(self, req: DisburseRequest) -> Json:
        amount = money.parse_amount(req.amount, req.currency)
        await self.h.group_here(req.group_id)
        if req.need_id is not None:
            self.h.need(req.need_id, self.h.site)
        disbursed_at = at(req.disbursed_at, req.disbursement_id)
        ref = account_ref(req.group_id, self.h.site)
        command = Disburse(
            group_id=req.group_id,
            disbursement_id=req.disbursement_id,
            amount_minor=amount,
            currency=req.currency,
            purpose=req.purpose,
            need_id=req.need_id,
            receipt_ref=req.receipt_ref,
            disbursed_at=disbursed_at,
            transfer_id=req.transfer_id,
            earmarks={} if req.transfer_id else await self._earmarks(ref, req.currency),
        )
        outcome = await self.h.accounts.handle(
            ref, command, meta(req.disbursement_id, req.actor, disbursed_at)
        )
        return {
            "disbursement_id": req.disbursement_id,
            "group_id": req.group_id,
            "amount": money.major(amount, req.currency),
            "currency": req.currency,
            "purpose": req.purpose,
            "need_id": req.need_id,
            "group_balance_now": money.major(outcome.state.balance(req.currency), req.currency),
        }

    async def _earmarks(self, ref: AggregateRef, currency: str) -> dict[str, str]:
        """The kitchen need each transfer still unspent here was pledged to, as far as this site
        knows (the hub's transfer events reach it when the link is up): the account spends a
        need's own money on it first, and keeps it for needs otherwise. A transfer not known yet
        is spent as one pledged to no need. Only the lots this disbursement can draw on are asked
        about, not every transfer the group ever had (the account's state is cached: the command
        that follows reads it from there)."""
        state, _ = await self.h.accounts.state_of(ref)
        unspent = sorted(
            {lot.transfer_id for lot in state.lots if lot.currency == currency and lot.remaining}
        )
        if not unspent:
            return {}
        with self.h.read() as db:
            rows = db.execute(
                "SELECT transfer_id, need_id FROM remit_transfers WHERE need_id IS NOT NULL "
                f"AND transfer_id IN ({', '.join('?' * len(unspent))})",
                unspent,
            ).fetchall()
        return {row["transfer_id"]: row["need_id"] for row in rows}

    async def dispute(self, req: DisputeRequest) -> Json:
        await self.h.group_here(req.group_id)
        self._same_group(req.transfer_id, req.group_id)
        reported_at = at(req.reported_at, req.dispute_id)
        command = ReportDispute(
            req.group_id, req.dispute_id, req.transfer_id, req.reason, reported_at
        )
        ref = account_ref(req.group_id, self.h.site)
        await self.h.accounts.handle(ref, command, meta(req.dispute_id, req.actor, reported_at))
        return {"dispute_id": req.dispute_id, "transfer_id": req.transfer_id, "reason": req.reason}
