"""``aidmesh up``: start the servers, create the streams, run every service where it belongs, and
stop it all cleanly on Ctrl-C (services first, then servers, so no append is cut off)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import nats

from shared import plugins, streams
from shared.deployment import Deployment, ServiceEndpoint, SiteEndpoint
from shared.natsserver import NatsServer, free_port
from shared.processes import Child, python_module

RESTART_BACKOFF_SECONDS = 2.0


class Supervisor:
    def __init__(self, deployment: Deployment, launches: list[plugins.ServiceLaunch]) -> None:
        self.deployment = deployment
        self.launches = launches
        self.servers: list[NatsServer] = []
        self.children: list[Child] = []
        self._stop = False

    def start(self) -> None:
        dep = self.deployment
        for end in dep.all_sites():
            server = NatsServer(dep.server_spec(end), dep.run_dir)
            server.start()
            self.servers.append(server)
        asyncio.run(self.bootstrap())
        for end in dep.all_sites():
            for index, launch in enumerate(self.launches):
                if launch.runs_at(end.site):
                    self.children.append(self._child(end, index, launch))
        for child in self.children:
            child.start()
        self._record()

    async def bootstrap(self) -> None:
        """Streams every service needs, before any service starts (idempotent)."""
        for end in self.deployment.all_sites():
            nc = await nats.connect(end.url)
            try:
                js = nc.jetstream()
                await streams.ensure_stream(js, streams.dead_letter_stream(end.site))
                for launch in self.launches:
                    for context in launch.contexts:
                        await streams.ensure_stream(js, streams.event_stream(context, end.site))
            finally:
                await nc.close()

    def _child(self, end: SiteEndpoint, index: int, launch: plugins.ServiceLaunch) -> Child:
        dep = self.deployment
        key = f"{launch.name}@{end.site}"
        known = dep.services.get(key)
        port = known.http_port if known else self._service_port(end, index)
        log = dep.var / "log" / f"{launch.name}-{end.site}.log"
        dep.services[key] = ServiceEndpoint(launch.name, end.site, port, log=str(log))
        return Child(
            name=key,
            argv=python_module(launch.module),
            log_path=log,
            pid_path=dep.run_dir / f"{launch.name}-{end.site}.pid",
            env={
                "AIDMESH_SERVICE": launch.name,
                "AIDMESH_SITE": end.site,
                "AIDMESH_NATS_URL": end.url,
                "AIDMESH_VAR": str(dep.var),
                "AIDMESH_HTTP_PORT": str(port),
                "PYTHONUNBUFFERED": "1",
            },
        )

    def _service_port(self, end: SiteEndpoint, index: int) -> int:
        if end.api_port and end.api_port < 60000:
            return end.api_port + 100 * index
        return free_port()

    def _record(self) -> None:
        for child in self.children:
            if child.process is not None:
                self.deployment.services[child.name].pid = child.process.pid
        self.deployment.save()

    def describe(self) -> str:
        dep = self.deployment
        lines = ["aidmesh is up.", f"  data and logs: {dep.var}"]
        for end in dep.all_sites():
            lines.append(
                f"  {end.site:<14} nats {end.url}  monitor http://127.0.0.1:{end.http_port}"
            )
        for svc in dep.services.values():
            lines.append(f"  {svc.service:<10} @ {svc.site:<14} http://127.0.0.1:{svc.http_port}")
        lines.append("  try: aidmesh status      stop: Ctrl-C")
        return "\n".join(lines)

    def run_until_signalled(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._stop = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not self._stop:
            self._revive()
            time.sleep(0.2)

    def _revive(self) -> None:
        """A service that died is restarted (after a pause, so a crash loop cannot spin)."""
        for child in self.children:
            if child.process is not None and not child.alive():
                if time.monotonic() - child.started_at < RESTART_BACKOFF_SECONDS:
                    continue
                code = child.process.returncode
                print(f"aidmesh: {child.name} exited with {code}; restarting", file=sys.stderr)
                child.restarts += 1
                child.start()
                self._record()

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        for server in reversed(self.servers):
            server.stop()
        self.deployment.forget()


def up(var: Path, sites: list[str], base_port: int) -> int:
    deployment = Deployment.plan(var, sites, base_port)
    supervisor = Supervisor(deployment, plugins.services())
    try:
        supervisor.start()
        print(supervisor.describe(), flush=True)
        supervisor.run_until_signalled()
    finally:
        print("aidmesh: stopping services, then servers ...", file=sys.stderr, flush=True)
        supervisor.stop()
        print("aidmesh: stopped cleanly.", file=sys.stderr, flush=True)
    return 0
