"""``aidmesh up``: the hub, the field sites with a link simulator in front of each, every service
where it belongs, a sync watcher per server; Ctrl-C stops it all cleanly (services first, then
servers, so no append is cut off).

While it runs, a control port takes ``aidmesh site add NAME`` and the link simulators take
``aidmesh link ...``; every few seconds each site's link figures go to the log and to metrics.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from shared import plugins, status, telemetry
from shared.deployment import Deployment, ServiceEndpoint, SiteEndpoint
from shared.natsserver import free_port
from shared.processes import Child, python_module
from shared.sites import Sites
from shared.subjects import HUB
from shared.waiting import wait_event

RESTART_BACKOFF_SECONDS = 2.0
REPORT_SECONDS = 5.0
_log = telemetry.get_logger("aidmesh.supervisor")


class Supervisor:
    def __init__(self, deployment: Deployment, launches: list[plugins.ServiceLaunch]) -> None:
        self.deployment = deployment
        self.launches = launches
        contexts = [c for launch in launches for c in launch.contexts]
        durable = any(launch.durable_writes for launch in launches)
        self.sites = Sites(deployment, contexts, sync_always=durable)
        self.children: list[Child] = []
        self.figures: dict[str, status.LinkStatus] = {}
        self._stop = asyncio.Event()
        self._control: asyncio.Server | None = None

    async def start(self) -> None:
        await self.sites.start()
        for end in self.deployment.all_sites():
            self._start_services(end)
        self._control = await asyncio.start_server(
            self._on_control, "127.0.0.1", self.deployment.control_port or free_port()
        )
        self._record()
        self._register_metrics()

    def _start_services(self, end: SiteEndpoint) -> None:
        for index, launch in enumerate(self.launches):
            if launch.runs_at(end.site):
                child = self._child(end, index, launch)
                child.start()
                self.children.append(child)

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
                "AIDMESH_LOCAL_URL": self.sites.local_url(end.site),
                "AIDMESH_VAR": str(dep.var),
                "AIDMESH_HTTP_PORT": str(port),
                "PYTHONUNBUFFERED": "1",
            },
        )

    @staticmethod
    def _service_port(end: SiteEndpoint, index: int) -> int:
        if end.api_port and end.api_port + 100 * index < 65000:
            return end.api_port + 100 * index
        return free_port()

    def _record(self) -> None:
        for child in self.children:
            if child.process is not None:
                self.deployment.services[child.name].pid = child.process.pid
        if self._control is not None:
            self.deployment.control_port = self._control.sockets[0].getsockname()[1]
        self.deployment.save()

    def describe(self) -> str:
        dep = self.deployment
        lines = ["aidmesh is up.", f"  data, logs and traces: {dep.var}"]
        for end in dep.all_sites():
            via = (
                f"  link sim :{end.link_port} (control :{end.link_control_port})"
                if end.link_port
                else ""
            )
            lines.append(
                f"  {end.site:<14} nats {end.url}  monitor http://127.0.0.1:{end.http_port}{via}"
            )
        for svc in dep.services.values():
            lines.append(f"  {svc.service:<10} @ {svc.site:<14} http://127.0.0.1:{svc.http_port}")
        lines.append("  try: aidmesh status | aidmesh link down dili | aidmesh link up dili")
        lines.append("  stop: Ctrl-C")
        return "\n".join(lines)

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        last_report = 0.0
        while not self._stop.is_set():
            self._revive()
            if time.monotonic() - last_report > REPORT_SECONDS:
                last_report = time.monotonic()
                await self._report()
            await wait_event(self._stop, 0.5)

    def _revive(self) -> None:
        """A service that died is restarted (after a pause, so a crash loop cannot spin)."""
        for child in self.children:
            if child.process is not None and not child.alive():
                if time.monotonic() - child.started_at < RESTART_BACKOFF_SECONDS:
                    continue
                code = child.process.returncode
                _log.warning("supervisor.service_exited", service=child.name, code=code)
                child.restarts += 1
                child.start()
                self._record()

    async def _report(self) -> None:
        """Each site's link figures, as a structured log line and as metrics."""
        hub_nc = self.sites.nc(HUB)
        for end in self.deployment.sites:
            runtime = self.sites.runtimes.get(end.site)
            if runtime is None:
                continue
            try:
                link = await status.link_status(self.deployment, end, hub_nc, runtime.nc)
            except Exception as exc:
                _log.warning("sync.status_failed", peer=end.site, error=repr(exc))
                continue
            self.figures[end.site] = link
            _log.info(
                "sync.status",
                peer=end.site,
                link=link.state,
                hub_sees_site=link.connected,
                in_sync=link.in_sync,
                last_contact_s=link.last_contact_s,
                waiting_up=link.waiting_up,
                waiting_down=link.waiting_down,
                lag_s=link.lag_s,
                bytes_up=link.bytes_up,
                bytes_down=link.bytes_down,
            )

    def _register_metrics(self) -> None:
        meter = metrics.get_meter("aidmesh.sync")

        def observe(pick: Any) -> Any:
            def callback(options: CallbackOptions) -> list[Observation]:
                out = []
                for site, link in self.figures.items():
                    for direction, value in pick(link):
                        if value is not None:
                            out.append(Observation(value, {"site": site, "direction": direction}))
                return out

            return callback

        meter.create_observable_gauge(
            "aidmesh.sync.waiting",
            [observe(lambda lk: [("up", lk.waiting_up), ("down", lk.waiting_down)])],
            unit="{event}",
            description="events waiting to cross the link",
        )
        meter.create_observable_gauge(
            "aidmesh.link.bytes",
            [observe(lambda lk: [("up", lk.bytes_up), ("down", lk.bytes_down)])],
            unit="By",
            description="bytes that crossed the link (link simulator counters)",
        )
        meter.create_observable_gauge(
            "aidmesh.sync.lag",
            [observe(lambda lk: [("both", lk.lag_s)])],
            unit="s",
            description="age of the oldest event still waiting to cross",
        )
        meter.create_observable_gauge(
            "aidmesh.sync.last_contact",
            [observe(lambda lk: [("both", lk.last_contact_s)])],
            unit="s",
            description="seconds since the hub last heard from the site",
        )
        meter.create_observable_gauge(
            "aidmesh.link.connected",
            [observe(lambda lk: [("both", int(lk.connected))])],
            description="1 while the hub sees the site's leaf connection",
        )

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline() or b"{}")
            if request.get("op") == "add_site":
                end = await self.sites.add_site(str(request.get("site", "")))
                self._start_services(end)
                self._record()
                answer: dict[str, Any] = {"ok": True, "site": end.site, "nats": end.url}
            else:
                answer = {"error": "unknown op: use add_site"}
        except (ValueError, KeyError) as exc:
            answer = {"error": str(exc)}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        # Each service finishes its own in-flight work (measured 1-3 s) and none waits on another:
        # stopped one by one, Ctrl-C took 18 s for nine services.
        await asyncio.gather(*(asyncio.to_thread(child.stop) for child in self.children))
        await self.sites.stop()
        self.deployment.forget()


def up(var: Path, sites: list[str], base_port: int) -> int:
    (var / "log").mkdir(parents=True, exist_ok=True)
    log = (var / "log" / "supervisor.log").open(
        "a", encoding="utf-8"
    )  # the terminal stays readable
    telemetry.configure_logging("supervisor", HUB, stream=log)
    provider = telemetry.configure_metrics("supervisor", HUB, var_dir=var)

    async def main() -> None:
        supervisor = Supervisor(Deployment.plan(var, sites, base_port), plugins.services())
        try:
            await supervisor.start()
            print(supervisor.describe(), flush=True)
            await supervisor.run_until_signalled()
        finally:
            print("aidmesh: stopping services, then servers ...", file=sys.stderr, flush=True)
            await supervisor.stop()
            print("aidmesh: stopped cleanly.", file=sys.stderr, flush=True)

    asyncio.run(main())
    provider.shutdown()
    log.close()
    return 0
