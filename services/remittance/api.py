"""HTTP JSON APIs (FastAPI, so the OpenAPI document is at ``/openapi.json`` and ``/docs``): at the hub
for donors and collectors, at a site for the group's treasurer. Success and error bodies have the
same shape as the NATS replies: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Query
from fastapi.responses import HTMLResponse

from services.remittance import reports
from services.remittance.donations import Donations
from services.remittance.donors import DonorBook
from services.remittance.handlers import Handlers
from services.remittance.page import DONOR_PAGE
from services.remittance.schemas import (
    CancelRequest,
    ConfirmReceiptRequest,
    CorrectReceiptRequest,
    DisburseRequest,
    DispatchRequest,
    DisputeRequest,
    DonorRequest,
    FundRequest,
    Id,
    Page,
    PledgeRequest,
    RegisterGroupRequest,
    ResolveRequest,
)
from services.remittance.treasury import Treasury
from shared.decider import Refused
from shared.endpoints import HTTP_ERRORS, Reply, install_http_errors

Paged = Annotated[Page, Query()]
"""``?limit=&offset=``, read from the same model as over NATS (as the requests service does)."""


def ok(result: Any) -> Reply:
    return Reply(ok=True, result=result)


def _reads(app: FastAPI, h: Handlers) -> None:
    @app.get("/v1/transfers/{transfer_id}", response_model=Reply, tags=["transparency"])
    async def transfer_status(transfer_id: Annotated[Id, Path()]) -> Reply:
        """A transfer's public state, amounts, timeline."""
        with h.read() as db:
            return ok(reports.transfer(db, transfer_id))

    @app.get("/v1/groups/{group_id}/report", response_model=Reply, tags=["transparency"])
    async def group_report(group_id: str) -> Reply:
        """A group's money by month and purpose: the public ledger, with no donor and no person."""
        with h.read() as db:
            return ok(reports.group_report(db, group_id, h.site))

    @app.get("/v1/needs", response_model=Reply, tags=["transparency"])
    async def open_needs(page: Paged) -> Reply:
        """Kitchen needs not yet met, which a pledge can name: a page, oldest first."""
        with h.read() as db:
            return ok(reports.open_needs(db, page.limit, page.offset))

    @app.get("/v1/ledger/check", response_model=Reply, tags=["ledger"])
    async def ledger_check(page: Paged) -> Reply:
        """Every currency sums to zero; accounts keep their rules; what is still in transit (a
        page of each list)."""
        with h.read() as db:
            return ok(reports.ledger_check(db, page.limit, page.offset))


def hub_app(h: Handlers, donations: Donations, donors: DonorBook | None) -> FastAPI:
    app = FastAPI(
        title="aidmesh remittance (hub)",
        version="1",
        responses=HTTP_ERRORS,
        description="Diaspora donors give; collectors record funding and dispatch; everyone can "
        "follow the money. Amounts are decimal strings in major units; ids are client-made UUIDv7.",
    )
    install_http_errors(app)
    _reads(app, h)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return DONOR_PAGE

    @app.post("/v1/donors", response_model=Reply, tags=["donors"])
    async def register_donor(body: DonorRequest) -> Reply:
        """Returns a donor reference; the e-mail stays in the hub's local vault, never in events.
        Sent again with the same ``registration_id`` and details, it answers the same reference
        and stores nothing; other details are ``conflict``; after a forget, ``forgotten``."""
        if donors is None:
            raise Refused("the donor vault is not available here", code="no_donor_vault")
        return ok(await donors.register(body))

    @app.delete("/v1/donors/{donor_ref}", response_model=Reply, tags=["donors"])
    async def forget_donor(donor_ref: str) -> Reply:
        """Crypto-shreds the donor's contact; the ledger keeps the pseudonymous reference."""
        if donors is None:
            raise Refused("the donor vault is not available here", code="no_donor_vault")
        return ok(await donors.forget(donor_ref))

    @app.get("/v1/donors/{donor_ref}/transfers", response_model=Reply, tags=["donors"])
    async def donor_history(donor_ref: str, page: Paged) -> Reply:
        """A page of the donor's transfers, oldest first."""
        with h.read() as db:
            return ok(reports.donor_history(db, donor_ref, page.limit, page.offset))

    @app.get("/v1/donors/{donor_ref}/report", response_model=Reply, tags=["donors"])
    async def donor_report(donor_ref: str, page: Paged) -> Reply:
        """What my money did: a page of transfers and what each funded; needs met and meals
        served."""
        with h.read() as db:
            return ok(reports.donor_report(db, donor_ref, page.limit, page.offset))

    @app.post("/v1/groups", response_model=Reply, tags=["coordinators"])
    async def register_group(body: RegisterGroupRequest) -> Reply:
        return ok(await donations.register_group(body))

    @app.post("/v1/pledges", response_model=Reply, tags=["donors"])
    async def pledge(body: PledgeRequest) -> Reply:
        return ok(await donations.pledge(body))

    @app.post("/v1/fundings", response_model=Reply, tags=["collectors"])
    async def fund(body: FundRequest) -> Reply:
        return ok(await donations.fund(body))

    @app.post("/v1/dispatches", response_model=Reply, tags=["collectors"])
    async def dispatch(body: DispatchRequest) -> Reply:
        return ok(await donations.dispatch(body))

    @app.post("/v1/cancellations", response_model=Reply, tags=["coordinators"])
    async def cancel(body: CancelRequest) -> Reply:
        return ok(await donations.cancel(body))

    @app.post("/v1/resolutions", response_model=Reply, tags=["coordinators"])
    async def resolve(body: ResolveRequest) -> Reply:
        return ok(await donations.resolve(body))

    return app


def site_app(h: Handlers, treasury: Treasury) -> FastAPI:
    app = FastAPI(
        title=f"aidmesh remittance ({h.site})",
        version="1",
        responses=HTTP_ERRORS,
        description="A group's treasurer records receipts, corrections, disbursements and "
        "disputes at the site, with or without the link to the hub.",
    )
    install_http_errors(app)
    _reads(app, h)

    @app.get("/v1/groups/{group_id}/balance", response_model=Reply, tags=["treasurers"])
    async def group_balance(group_id: str, page: Paged) -> Reply:
        """What the group holds; a page of whose money it is and of what is on its way."""
        with h.read() as db:
            return ok(reports.group_balance(db, group_id, page.limit, page.offset, h.site))

    @app.post("/v1/receipts", response_model=Reply, tags=["treasurers"])
    async def confirm_receipt(body: ConfirmReceiptRequest) -> Reply:
        return ok(await treasury.confirm_receipt(body))

    @app.post("/v1/receipt-corrections", response_model=Reply, tags=["treasurers"])
    async def correct_receipt(body: CorrectReceiptRequest) -> Reply:
        return ok(await treasury.correct_receipt(body))

    @app.post("/v1/disbursements", response_model=Reply, tags=["treasurers"])
    async def disburse(body: DisburseRequest) -> Reply:
        return ok(await treasury.disburse(body))

    @app.post("/v1/disputes", response_model=Reply, tags=["treasurers"])
    async def dispute(body: DisputeRequest) -> Reply:
        return ok(await treasury.dispute(body))

    return app
