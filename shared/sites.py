"""A running hub and its field sites: servers, link simulators, streams and sync watchers.

``aidmesh up`` runs one of these, and so do the tests and benchmarks, so the deployment that is
tested is the deployment that runs. Servers are processes; links and watchers run in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from shared import subjects, topology
from shared.deployment import Deployment, SiteEndpoint
from shared.linksim import Link, serve_control
from shared.natsserver import NatsServer, ServerSpec
from shared.subjects import HUB
from shared.sync import Backlog, Side, SyncWatcher, backlog, leafz


@dataclass
class SiteRuntime:
    endpoint: SiteEndpoint
    server: NatsServer
    nc: NATS | None = None
    link: Link | None = None
    link_control: asyncio.Server | None = None
    watcher: SyncWatcher | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Sites:
    def __init__(
        self,
        deployment: Deployment,
        contexts: list[str],
        *,
        keys: topology.Secrets | None = None,
        sync_always: bool = False,
        compression: str = topology.LINK_COMPRESSION,
        watch: bool = True,
    ) -> None:
        """``watch=False`` leaves sourcing to JetStream's own retries (the benchmark's baseline)."""
        self.deployment = deployment
        self.contexts = list(dict.fromkeys(contexts))
        self.keys = keys or topology.Secrets.load_or_create(deployment.var / "secrets.json")
        self.sync_always = sync_always
        self.compression = compression
        self.watch = watch
        self.runtimes: dict[str, SiteRuntime] = {}

    # --- configuration ------------------------------------------------------------------------

    def hub_spec(self) -> ServerSpec:
        dep = self.deployment
        return topology.hub_server(
            store_dir=dep.var / "nats" / HUB,
            port=dep.hub.client_port,
            http_port=dep.hub.http_port,
            leaf_port=dep.hub.leaf_port,
            sites=[s.site for s in dep.sites],
            keys=self.keys,
            sync_always=self.sync_always,
            compression=self.compression,
        )

    def site_spec(self, end: SiteEndpoint) -> ServerSpec:
        return topology.site_server(
            site=end.site,
            store_dir=self.deployment.var / "nats" / end.site,
            port=end.client_port,
            http_port=end.http_port,
            hub_leaf_url=f"127.0.0.1:{end.link_port}",
            keys=self.keys,
            sync_always=self.sync_always,
            compression=self.compression,
        )

    def local_url(self, site: str) -> str:
        """The personal-data account at ``site`` (never linked to the hub)."""
        return topology.local_url(self.runtimes[site].server.spec, self.keys)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        dep = self.deployment
        self.keys.save(dep.var / "secrets.json")
        hub = NatsServer(self.hub_spec(), dep.run_dir)
        # known before it starts: one that never became ready is still stopped by ``stop``
        self.runtimes[HUB] = SiteRuntime(dep.hub, hub)
        await asyncio.to_thread(hub.start)
        await self._connect(HUB)
        await topology.ensure_hub_streams(self.js(HUB), self.contexts)
        for end in dep.sites:
            await self._start_site(end)
        for end in dep.sites:
            await self._source_site(end.site)
        await self._watch(HUB)

    async def _start_site(self, end: SiteEndpoint) -> None:
        runtime = SiteRuntime(end, NatsServer(self.site_spec(end), self.deployment.run_dir))
        self.runtimes[end.site] = runtime
        link = Link(end.site, end.link_port, "127.0.0.1", self.deployment.hub.leaf_port)
        await link.start()
        runtime.link = link
        runtime.link_control = await serve_control(link, end.link_control_port)
        await asyncio.to_thread(runtime.server.start)
        await self._connect(end.site)
        await topology.ensure_site_streams(self.js(end.site), end.site, self.contexts)
        await self._watch(end.site)

    async def _source_site(self, site: str) -> None:
        await topology.source_site(self.js(HUB), site, self.contexts)

    async def _connect(self, site: str) -> None:
        runtime = self.runtimes[site]
        runtime.nc = await nats.connect(
            runtime.server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )

    async def _watch(self, site: str) -> None:
        runtime = self.runtimes[site]
        assert runtime.nc is not None
        if not self.watch:
            return
        monitor = f"http://127.0.0.1:{runtime.endpoint.http_port}"
        runtime.watcher = SyncWatcher(runtime.nc, site, monitor)
        await runtime.watcher.start()

    async def add_site(self, name: str) -> SiteEndpoint:
        """A new site joins a running deployment: its server, link and streams start, the hub
        learns its leaf user (config reload) and sources it. Nothing else restarts."""
        subjects.site_id(name)
        if name in self.runtimes:
            raise ValueError(f"site {name!r} already exists")
        end = self.deployment.add_site(name)
        hub = self.runtimes[HUB].server
        hub.spec = self.hub_spec()
        await asyncio.to_thread(hub.reload)
        self.keys.save(self.deployment.var / "secrets.json")
        await asyncio.sleep(0.3)  # the reload is asynchronous in the server
        await self._start_site(end)
        await self._source_site(name)
        self.deployment.save()
        return end

    async def stop(self) -> None:
        for site in reversed(list(self.runtimes)):
            await self.stop_site(site)

    async def stop_site(self, site: str) -> None:
        """One site's part of ``stop``: watcher, connection, link, server; then it is forgotten.
        Also what undoes a site that failed to join (``shared.supervisor``)."""
        runtime = self.runtimes.pop(site, None)
        if runtime is None:
            return
        if runtime.watcher:
            await runtime.watcher.stop()
        if runtime.nc:
            with contextlib.suppress(Exception):
                await runtime.nc.close()
        if runtime.link_control:
            runtime.link_control.close()
        if runtime.link:
            await runtime.link.close()
        await asyncio.to_thread(runtime.server.stop)

    # --- fault injection (tests) --------------------------------------------------------------

    async def stop_server(self, site: str) -> None:
        runtime = self.runtimes[site]
        if runtime.watcher:
            await runtime.watcher.stop()
        await asyncio.to_thread(runtime.server.stop)

    async def kill_server(self, site: str) -> None:
        """SIGKILL a site's server, as a power cut at the field node would (for tests of crashes)."""
        runtime = self.runtimes[site]
        if runtime.watcher:
            await runtime.watcher.stop()
        await asyncio.to_thread(runtime.server.kill)

    async def start_server(self, site: str) -> None:
        runtime = self.runtimes[site]
        await asyncio.to_thread(runtime.server.start)
        await self._watch(site)

    # --- access -------------------------------------------------------------------------------

    def nc(self, site: str) -> NATS:
        nc = self.runtimes[site].nc
        assert nc is not None, f"{site} is not connected"
        return nc

    def js(self, site: str) -> nats.js.JetStreamContext:
        return self.nc(site).jetstream()

    def link(self, site: str) -> Link:
        link = self.runtimes[site].link
        assert link is not None, f"{site} has no link (the hub has none)"
        return link

    async def linked(self, site: str) -> bool:
        """Whether the hub sees the site's leaf connection right now."""
        monitor = f"http://127.0.0.1:{self.deployment.hub.http_port}"
        return any(leaf.get("name") == site for leaf in await asyncio.to_thread(leafz, monitor))

    async def backlog(self, site: str, context: str) -> Backlog:
        return await backlog(Side(self.nc(HUB)), Side(self.nc(site)), context, site)

    def var(self) -> Path:
        return self.deployment.var
