"""What the requests service runs where: at a field site the whole command side (handlers, vault,
timer) and its read models; at the hub only the site summary, built from every site's events."""

from __future__ import annotations

from dataclasses import dataclass

from services.requests.api import make_app
from services.requests.events import CONTEXT, registry
from services.requests.handlers import Handlers
from services.requests.operations import Operation, hub_operations, site_operations
from services.requests.projections import SiteReadModels, SiteSummary
from services.requests.readside import ReadSide
from services.requests.subscribers import serve
from services.requests.timers import SiteTimer
from shared.eventstore import EventStore
from shared.projector import ProjectionRunner
from shared.service import Service
from shared.subjects import HUB, stream_name
from shared.vault import Vault, master_key


@dataclass(frozen=True)
class Wiring:
    """What :func:`wire` built, for tests and the benchmark to reach behind the endpoints."""

    reads: ReadSide
    handlers: Handlers | None = None
    timer: SiteTimer | None = None


async def build(service: Service) -> None:
    await wire(service)


async def wire(service: Service) -> Wiring:
    env = service.env
    assert service.nc is not None
    db_path = env.db_path("read")
    stream = stream_name(CONTEXT, env.site)
    operations: list[Operation]
    if env.site == HUB:
        service.projections.append(
            ProjectionRunner(
                service.nc, SiteSummary(), registry, db_path=db_path, stream=stream, site=env.site
            )
        )
        wiring = Wiring(ReadSide(db_path))
        operations = hub_operations(wiring.reads)
    else:
        if service.local is None:
            raise SystemExit("the requests service at a field site needs AIDMESH_LOCAL_URL")
        keys = env.var / "keys"
        vault = await Vault(
            service.local,
            env.site,
            "contacts",
            master_key(keys / f"{env.site}-requests.key"),
            keys / f"{env.site}-requests-vault.db",
        ).open()
        handlers = Handlers(EventStore(service.nc, registry, env.site), env.site, vault)
        service.projections.append(
            ProjectionRunner(
                service.nc,
                SiteReadModels(),
                registry,
                db_path=db_path,
                stream=stream,
                site=env.site,
                filter_subjects=(f"ev.{CONTEXT}.{env.site}.>",),
            )
        )
        reads = ReadSide(db_path, handlers)
        handlers.kitchen_with_need = reads.kitchen_with_need
        operations = site_operations(handlers, reads)
        timer = SiteTimer(handlers, reads.connect)
        wiring = Wiring(reads, handlers, timer)

        async def stop_vault() -> None:
            vault.close()

        service.on_start(timer.start)
        service.on_stop(stop_vault)
        service.on_stop(timer.stop)
    serve(service.endpoints, env.site, operations)
    service.app = make_app(env.site, operations)
    return wiring
