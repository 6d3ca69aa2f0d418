"""How the comms service is put together at one site: store, keys, read models, reactors, timer,
endpoints and HTTP API. ``__main__`` runs it under ``shared.service``; tests build the same thing in
process against real servers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services.comms import urgent
from services.comms.api import create_app
from services.comms.attachments import Attachments
from services.comms.events import registry
from services.comms.handlers import Comms
from services.comms.keys import ChannelKeys
from services.comms.queries import Reads
from services.comms.subscribers import reactors, register_endpoints, runners
from services.comms.timers import ExpiryTimer
from services.comms.valve import Valves, ensure_held_streams
from shared import telemetry
from shared.eventstore import EventStore
from shared.projector import ProjectionRunner, start_together
from shared.reactor import Reactor
from shared.service import Service
from shared.subjects import stream_name
from shared.upstream import WhenStreamExists
from shared.vault import Vault, master_key

_log = telemetry.get_logger("aidmesh.comms")


@dataclass(frozen=True)
class Built:
    comms: Comms
    consumers: Consumers
    timer: ExpiryTimer


async def build(service: Service, *, timer_interval: float = 1.0) -> Built:
    env, nc = service.env, service.nc
    assert nc is not None, "connect the service first"
    site = env.site
    vault = None
    keys_dir = env.var / "keys"
    if service.local is not None:
        vault = await Vault(
            service.local,
            site,
            "comms_keys",
            master_key(keys_dir / f"comms-{site}.master"),
            keys_dir / f"comms-{site}-keys.db",
        ).open()
    keys = ChannelKeys(vault)
    loaded = await keys.load_file(keys_dir / f"comms-{site}-channels.json")
    if loaded:
        _log.info("comms.keys_loaded", channels=loaded)
    db_path = env.db_path("readmodels")
    attachments = Attachments(nc, site, keys)
    await attachments.open()
    comms = Comms(EventStore(nc, registry, site), site, Reads(db_path, site), keys, attachments)
    await ensure_held_streams(nc, site)
    valves = Valves(nc, site, lambda: comms.reads.directory().sites)
    comms.valve_report = valves.report
    consumers = Consumers(runners(nc, site, db_path), reactors(nc, comms), valves)
    register_endpoints(service.endpoints, comms, env.var)
    service.app = create_app(comms, env.var)
    # the timer decides from the read models: not while they replay (a rebuild, a new version)
    timer = ExpiryTimer(
        comms,
        timer_interval,
        ready=lambda: all(r.caught_up.is_set() for r in consumers.projections),
    )
    waiting = urgent_alerts(service, comms)

    async def close() -> None:
        comms.reads.close()
        if vault is not None:
            vault.close()

    for start in (consumers.start, comms.list_self, timer.start, waiting.start):
        service.on_start(start)
    for stop in (close, timer.stop, waiting.stop, consumers.stop):
        service.on_stop(stop)  # run in reverse: consumers first
    return Built(comms, consumers, timer)


class Consumers:
    """This service's runners and reactors, started in order (read models before the reactors that
    read them) and stopped all at once: each waits out its current fetch, about a second, and a
    dozen of them one after another would outlast the supervisor's patience on SIGTERM."""

    def __init__(
        self, projections: list[ProjectionRunner], reactors: list[Reactor], valves: Valves
    ) -> None:
        self.projections = projections
        self.reactors = reactors
        self.valves = valves

    async def start(self) -> None:
        await start_together(self.projections)
        for reactor in self.reactors:
            await reactor.start()
        await self.valves.start()

    async def stop(self) -> None:
        await self.valves.stop()
        await asyncio.gather(*(r.stop() for r in self.reactors))
        await asyncio.gather(*(r.stop() for r in self.projections))


def urgent_alerts(service: Service, comms: Comms) -> WhenStreamExists:
    """The reactor on the requests service's stream, started once that stream exists (the requests
    service may come up later, or not run in this deployment at all)."""
    assert service.nc is not None
    return WhenStreamExists(
        service.nc,
        Reactor(
            service.nc,
            "comms_urgent_alerts",
            urgent.registry,
            urgent.UrgentAlerts(comms).plan,
            stream=stream_name(urgent.REQUESTS_CONTEXT, comms.site),
            site=comms.site,
            actor=f"comms@{comms.site}",
            filter_subjects=(f"ev.{urgent.REQUESTS_CONTEXT}.{comms.site}.>",),
            only=urgent.ONLY,
        ),
    )
