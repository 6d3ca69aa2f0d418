"""NATS edges of the remittance service: command endpoints at the hub and at each site, and the hub's
reactor that notes the sites' facts (receipts, corrections, disputes) on the transfers they concern.

Subjects are ``cmd.<site>.remit.<command>``. The reactor's command ids derive from the site events'
ids, so a receipt delivered twice, or again after a restart, is noted once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from pydantic import BaseModel

from services.remittance import reports
from services.remittance.donations import Donations
from services.remittance.donors import DonorBook
from services.remittance.events import (
    CONTEXT,
    ReceiptConfirmed,
    ReceiptCorrected,
    ReceiptDisputed,
    registry,
)
from services.remittance.handlers import Handlers, transfer_ref
from services.remittance.schemas import (
    CancelRequest,
    ConfirmReceiptRequest,
    CorrectReceiptRequest,
    DisburseRequest,
    DispatchRequest,
    DisputeRequest,
    DonorPage,
    DonorQuery,
    DonorRequest,
    FundRequest,
    GroupPage,
    GroupQuery,
    Page,
    PledgeRequest,
    RegisterGroupRequest,
    ResolveRequest,
    TransferQuery,
)
from services.remittance.transfer import NoteCorrection, NoteDispute, NoteReceipt
from services.remittance.treasury import Treasury
from shared.endpoints import Endpoints
from shared.envelope import Envelope, EventPayload
from shared.reactor import Planned, Reactor
from shared.subjects import HUB, AggregateRef, command_subject, stream_name

SITE_FACTS = frozenset({"ReceiptConfirmed", "ReceiptCorrected", "ReceiptDisputed"})
SITE_FACT_SUBJECTS = (f"ev.{CONTEXT}.*.{HUB}.account.>",)
Handler = Callable[[Any], Awaitable[Any]]


def _serve(
    endpoints: Endpoints, site: str, routes: dict[str, tuple[type[BaseModel], Handler]]
) -> None:
    for name, (model, handle) in routes.items():
        endpoints.add(command_subject(site, CONTEXT, name), model, handle)


def query_routes(h: Handlers) -> dict[str, tuple[type[BaseModel], Handler]]:
    """What every site answers from its read models (the hub's hold everything)."""

    async def transfer_status(q: TransferQuery) -> Any:
        with h.read() as db:
            return reports.transfer(db, q.transfer_id)

    async def group_report(q: GroupQuery) -> Any:
        with h.read() as db:
            return reports.group_report(db, q.group_id, h.site)

    async def group_balance(q: GroupPage) -> Any:
        with h.read() as db:
            return reports.group_balance(db, q.group_id, q.limit, q.offset, h.site)

    async def ledger_check(q: Page) -> Any:
        with h.read() as db:
            return reports.ledger_check(db, q.limit, q.offset)

    async def open_needs(q: Page) -> Any:
        with h.read() as db:
            return reports.open_needs(db, q.limit, q.offset)

    return {
        "transfer_status": (TransferQuery, transfer_status),
        "group_report": (GroupQuery, group_report),
        "group_balance": (GroupPage, group_balance),
        "ledger_check": (Page, ledger_check),
        "open_needs": (Page, open_needs),
    }


def serve_hub(
    endpoints: Endpoints, h: Handlers, donations: Donations, donors: DonorBook | None
) -> None:
    async def donor_history(q: DonorPage) -> Any:
        with h.read() as db:
            return reports.donor_history(db, q.donor_ref, q.limit, q.offset)

    async def donor_report(q: DonorPage) -> Any:
        with h.read() as db:
            return reports.donor_report(db, q.donor_ref, q.limit, q.offset)

    routes: dict[str, tuple[type[BaseModel], Handler]] = {
        "register_group": (RegisterGroupRequest, donations.register_group),
        "pledge": (PledgeRequest, donations.pledge),
        "fund": (FundRequest, donations.fund),
        "dispatch": (DispatchRequest, donations.dispatch),
        "cancel": (CancelRequest, donations.cancel),
        "resolve": (ResolveRequest, donations.resolve),
        "donor_history": (DonorPage, donor_history),
        "donor_report": (DonorPage, donor_report),
        **query_routes(h),
    }
    if donors is not None:
        routes["register_donor"] = (DonorRequest, donors.register)
        routes["forget_donor"] = (DonorQuery, lambda q: donors.forget(q.donor_ref))
    _serve(endpoints, h.site, routes)


def serve_site(endpoints: Endpoints, h: Handlers, treasury: Treasury) -> None:
    _serve(
        endpoints,
        h.site,
        {
            "confirm_receipt": (ConfirmReceiptRequest, treasury.confirm_receipt),
            "correct_receipt": (CorrectReceiptRequest, treasury.correct_receipt),
            "disburse": (DisburseRequest, treasury.disburse),
            "dispute": (DisputeRequest, treasury.dispute),
            **query_routes(h),
        },
    )


def site_fact_note(
    event: Envelope[EventPayload],
) -> tuple[AggregateRef, NoteReceipt | NoteCorrection | NoteDispute] | None:
    """The note a site's fact calls for on its transfer (whose subject names the fact's site)."""
    payload = event.payload
    command: NoteReceipt | NoteCorrection | NoteDispute
    match payload:
        case ReceiptConfirmed():
            command = NoteReceipt(
                payload.confirmation_id,
                payload.amount_minor,
                payload.currency,
                payload.received_at,
                payload.group_id,
            )
        case ReceiptCorrected():
            command = NoteCorrection(
                payload.correction_id,
                payload.confirmation_id,
                payload.amount_minor,
                payload.currency,
            )
        case ReceiptDisputed():
            command = NoteDispute(payload.dispute_id, payload.reason, payload.group_id)
        case _:
            return None
    return transfer_ref(payload.transfer_id, event.site), command


async def plan_site_fact(h: Handlers, event: Envelope[EventPayload]) -> Planned | None:
    """The note on the transfer the fact names, found by its id: a group at another site than the
    one the money was sent to (a treasurer who picked up the wrong slip) names a transfer whose
    subject is not its own site's, and looking it up there found nothing, so the money it holds was
    never flagged (``other_group``). A transfer the hub does not hold stays where the fact says."""
    note = site_fact_note(event)
    if note is None:
        return None
    ref, command = note
    return Planned(h.transfers, await h.find_transfer(ref.id) or ref, command)


def site_facts_reactor(nc: NATS, h: Handlers) -> Reactor:
    """At the hub: each receipt, correction or dispute a site recorded becomes a note on the
    transfer it names."""

    async def plan(event: Envelope[EventPayload]) -> Planned | None:
        return await plan_site_fact(h, event)

    return Reactor(
        nc,
        "remit_site_facts",
        registry,
        plan,
        stream=stream_name(CONTEXT, HUB),
        site=HUB,
        actor="hub",
        filter_subjects=SITE_FACT_SUBJECTS,
        lane=lambda e: str(getattr(e.payload, "transfer_id", e.aggregate_id)),
        only=SITE_FACTS,
    )
