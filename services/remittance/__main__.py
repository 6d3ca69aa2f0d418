"""Composition root of the remittance service: ``python -m services.remittance``.

At the hub: donors and collectors (NATS commands and the HTTP API with the donor page), the reactor
that notes the sites' receipts on their transfers, the expiry timer, the rails, the donor vault. At a
site: the treasurer's commands and API. Everywhere: the ledger, flows and kitchen read models.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from services.remittance.api import hub_app, site_app
from services.remittance.donations import Donations
from services.remittance.donors import DonorBook
from services.remittance.events import CONTEXT, registry
from services.remittance.expiry import ExpiryTimer
from services.remittance.handlers import Handlers
from services.remittance.projections import (
    KITCHEN_EVENTS,
    KITCHEN_SUBJECTS,
    FlowsProjection,
    KitchenProjection,
    LedgerProjection,
    kitchen_registry,
)
from services.remittance.rails import ManualRail, Rail, SandboxRail
from services.remittance.subscribers import serve_hub, serve_site, site_facts_reactor
from services.remittance.treasury import Treasury
from shared.projection import open_db
from shared.projector import ProjectionRunner
from shared.service import Service, main
from shared.subjects import HUB, stream_name
from shared.upstream import WhenStreamExists
from shared.vault import Vault, master_key

NAME = "remittance"


def prepare(db_path: Path) -> None:
    """Create every read-model table up front, so queries answer (empty) before the runners do."""
    db = open_db(str(db_path))
    try:
        for projection in (LedgerProjection(), FlowsProjection(), KitchenProjection()):
            projection.create(db)
    finally:
        db.close()


async def build(service: Service) -> None:
    env, nc = service.env, service.nc
    assert nc is not None, "connect the service before building it"
    db = env.db_path("remit")
    prepare(db)
    h = Handlers(nc, env.site, db)

    async def close_reads() -> None:
        h.close()

    service.on_stop(close_reads)
    own = stream_name(CONTEXT, env.site)
    for projection in (LedgerProjection(), FlowsProjection()):
        service.projections.append(
            ProjectionRunner(nc, projection, registry, db_path=db, stream=own, site=env.site)
        )
    kitchens = WhenStreamExists(
        nc,
        ProjectionRunner(
            nc,
            KitchenProjection(),
            kitchen_registry,
            db_path=db,
            stream=stream_name("requests", env.site),
            site=env.site,
            filter_subjects=KITCHEN_SUBJECTS,
            only=KITCHEN_EVENTS,
        ),
    )
    service.on_start(kitchens.start)
    service.on_stop(kitchens.stop)
    if env.site == HUB:
        await _hub(service, h)
    else:
        treasury = Treasury(h)
        serve_site(service.endpoints, h, treasury)
        service.app = site_app(h, treasury)


async def _hub(service: Service, h: Handlers) -> None:
    donations = Donations(h)
    rails: dict[str, Rail] = {"manual": ManualRail()}
    if os.environ.get("AIDMESH_REMIT_SANDBOX", "1") != "0":
        sandbox = SandboxRail(notify=donations.fund_from_rail)
        rails["sandbox"] = sandbox
        service.on_stop(sandbox.close)
    donations.rails = rails
    donors = None
    if service.local is not None:
        env = service.env
        vault = Vault(
            service.local,
            env.site,
            "donors",
            master_key(env.var / "keys" / f"{NAME}-{env.site}.master"),
            env.var / "keys" / f"{NAME}-{env.site}-donors.db",
        )
        # its own secret, kept (and backed up) with the master key: donor references are derived
        # from registration ids under it; were it lost, only retries in flight would miss theirs
        donors = DonorBook(
            vault, master_key(env.var / "keys" / f"{NAME}-{env.site}-donor-refs.key")
        )

        async def open_vault() -> None:
            await vault.open()

        async def close_vault() -> None:
            vault.close()

        service.on_start(open_vault)
        service.on_stop(close_vault)
    service.reactors.append(site_facts_reactor(service.nc, h))  # type: ignore[arg-type]
    timer = ExpiryTimer(
        donations,
        every_s=float(os.environ.get("AIDMESH_REMIT_EXPIRY_EVERY_S", "30")),
        grace=timedelta(seconds=float(os.environ.get("AIDMESH_REMIT_EXPIRY_GRACE_S", "600"))),
    )
    service.on_start(timer.start)
    service.on_stop(timer.stop)
    serve_hub(service.endpoints, h, donations, donors)
    service.app = hub_app(h, donations, donors)


if __name__ == "__main__":
    main(NAME, build)
