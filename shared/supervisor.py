"""``aidmesh up``: the hub, the field sites with a link simulator in front of each, every service
where it belongs, a sync watcher per server; Ctrl-C stops it all cleanly (services first, then
servers, so no append is cut off).

While it runs, a control port takes ``aidmesh site add NAME`` (one JSON line each way; a refusal
in the reply shape of ``shared.endpoints``) and the link simulators take ``aidmesh link ...``; every
few seconds each site's link figures go to the log and to metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from shared import plugins, status, telemetry, topology
from shared.deployment import Deployment, DeploymentFileError, ServiceEndpoint, SiteEndpoint
from shared.linksim import refused
from shared.natsserver import free_port
from shared.processes import Child, python_module
from shared.sites import Sites
from shared.streams import SourceSpec
from shared.subjects import HUB, site_id, stream_name
from shared.waiting import wait_event

RESTART_BACKOFF_SECONDS = 2.0
REPORT_SECONDS = 5.0
_log = telemetry.get_logger("aidmesh.supervisor")
_ONE_LINE = "a control request is one JSON object per line"
_OPS = 'unknown op: the control port takes {"op": "add_site", "site": NAME}'


class SiteNotAdded(Exception):
    """``site add`` failed midway and what it had done was undone."""

    def __init__(self, site: str, cause: BaseException, leftovers: list[str]) -> None:
        reason = (str(cause).splitlines() or [type(cause).__name__])[0]
        if leftovers:
            after = f"undoing it failed at: {', '.join(leftovers)} (see the supervisor log)"
        else:
            after = f"nothing of it was kept: 'aidmesh site add {site}' can be run again"
        super().__init__(f"site {site!r} was not added: {reason}; {after}")


@dataclass
class _BeforeAdd:
    """What ``add_site`` changes in memory, as it was, to put back if it fails."""

    children: int
    local_keys: dict[str, str]
    leaf_keys: dict[str, str]


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
        self._adding = asyncio.Lock()  # one site add at a time: a retry must see the first

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
        """A service that died is restarted (after a pause, so a crash loop cannot spin). A restart
        that cannot make the process (out of file descriptors, processes or memory) is tried again
        after the same pause: left to propagate, it stopped every server and service."""
        for child in self.children:
            if child.process is not None and not child.alive():
                if time.monotonic() - child.started_at < RESTART_BACKOFF_SECONDS:
                    continue
                code = child.process.returncode
                _log.warning("supervisor.service_exited", service=child.name, code=code)
                child.restarts += 1
                try:
                    child.start()
                except OSError as exc:
                    child.started_at = time.monotonic()
                    _log.error("supervisor.restart_failed", service=child.name, error=repr(exc))
                    continue
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
            line = await reader.readline()
        except ValueError:  # a line over the reader's limit
            answer = refused("malformed", _ONE_LINE)
        else:
            if not line:  # a probe (``_running_at``), or an asker that left
                writer.close()
                return
            answer = await self._answer(line)
        with contextlib.suppress(ConnectionError):  # the asker left before its answer
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            return refused("malformed", _ONE_LINE)
        if not isinstance(request, dict) or request.get("op") != "add_site":
            return refused("invalid" if isinstance(request, dict) else "malformed", _OPS)
        site = request.get("site")
        if not isinstance(site, str):
            return refused("invalid", "site must be a site id (a string)")
        try:
            end = await self.add_site(site)
        except SiteNotAdded as exc:
            return refused("not_added", str(exc))
        except ValueError as exc:
            return refused("invalid", str(exc))
        return {"ok": True, "site": end.site, "nats": end.url}

    async def add_site(self, name: str) -> SiteEndpoint:
        """A site joins the running deployment with its services, all or nothing.

        A failure midway (a port taken, a server that exits, a stream that cannot be made, a
        service that cannot start) undoes every step: the site's services and server stop, its
        link and the link's control port close, the hub's streams stop sourcing it and the hub
        forgets its leaf user, its config file and secrets go, and ``deployment.json`` reads as
        before. An operator then fixes the cause and runs the same ``aidmesh site add`` again,
        which starts from nothing rather than from a half-added site. Kept on purpose: the logs
        (they say why) and the site's data directory (events a service already wrote there may
        have crossed to the hub, and a retry goes on from them instead of writing a second
        history). ``ValueError`` for a bad or taken name (nothing done); ``SiteNotAdded`` else."""
        async with self._adding:
            site_id(name)
            if name in self.sites.runtimes or name in [e.site for e in self.deployment.sites]:
                raise ValueError(f"site {name!r} already exists")
            keys = self.sites.keys
            before = _BeforeAdd(len(self.children), dict(keys.local), dict(keys.leaf))
            try:
                end = await self.sites.add_site(name)
                self._start_services(end)
                self._record()
            except Exception as exc:
                _log.error("supervisor.add_site_failed", site=name, error=repr(exc))
                raise SiteNotAdded(name, exc, await self._undo_add(name, before)) from exc
            return end

    async def _undo_add(self, name: str, before: _BeforeAdd) -> list[str]:
        """Every step is tried even when one fails; the names of those that failed come back."""
        dep, sites = self.deployment, self.sites
        failed: list[str] = []

        async def step(what: str, undo: Callable[[], Awaitable[None]]) -> None:
            try:
                await undo()
            except Exception as exc:
                _log.error("supervisor.add_site_undo_failed", site=name, step=what, error=repr(exc))
                failed.append(what)

        async def services() -> None:
            started = self.children[before.children :]
            del self.children[before.children :]
            await asyncio.gather(*(asyncio.to_thread(child.stop) for child in started))
            for key in [k for k, svc in dep.services.items() if svc.site == name]:
                del dep.services[key]

        async def server() -> None:
            await sites.stop_site(name)

        async def sourcing() -> None:
            js = sites.js(HUB)
            for ctx in sites.contexts:
                info = await js.stream_info(stream_name(ctx, HUB))
                source = topology.site_source(ctx, name)
                kept = [s for s in info.config.sources or () if SourceSpec.from_nats(s) != source]
                if len(kept) != len(info.config.sources or ()):
                    info.config.sources = kept or None
                    await js.update_stream(info.config)

        async def hub_config() -> None:
            sites.keys.local, sites.keys.leaf = before.local_keys, before.leaf_keys
            sites.keys.save(dep.var / "secrets.json")
            hub = sites.runtimes[HUB].server
            hub.spec = sites.hub_spec()
            await asyncio.to_thread(hub.reload)
            await _answering(sites.js(HUB))

        async def files() -> None:
            (dep.run_dir / f"{name}.conf").unlink(missing_ok=True)
            dep.save()

        dep.sites = [e for e in dep.sites if e.site != name]
        await step("services", services)
        await step("server and link", server)
        await step("hub sources", sourcing)
        await step("hub config", hub_config)
        await step("deployment file", files)
        return failed

    async def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        # Each service finishes its own in-flight work (measured 1-3 s) and none waits on another:
        # stopped one by one, Ctrl-C took 18 s for nine services.
        await asyncio.gather(*(asyncio.to_thread(child.stop) for child in self.children))
        await self.sites.stop()
        self.deployment.forget()


async def _answering(js: JetStreamContext, timeout: float = 5.0) -> None:
    """The hub's JetStream answers again after a reload (seen: "no responders" for a moment after
    the SIGHUP), so that what the operator does next, a retry first of all, finds it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await js.account_info()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def up(var: Path, sites: list[str], base_port: int) -> int:
    """0 when stopped by a signal; 2, with one line on stderr, when it could not start (after
    stopping what had started: a port taken makes a server exit, and the supervisor with it)."""
    if port := _running_at(var):
        print(
            f"aidmesh: aidmesh is already running with its data in {var} (control port {port}):"
            " stop it first, with Ctrl-C in its terminal",
            file=sys.stderr,
        )
        return 2
    (var / "log").mkdir(parents=True, exist_ok=True)
    log = (var / "log" / "supervisor.log").open(
        "a", encoding="utf-8"
    )  # the terminal stays readable
    telemetry.configure_logging("supervisor", HUB, stream=log)
    provider = telemetry.configure_metrics("supervisor", HUB, var_dir=var)

    async def main() -> str | None:
        supervisor = Supervisor(Deployment.plan(var, sites, base_port), plugins.services())
        failure = None
        try:
            await supervisor.start()
        except Exception as exc:
            _log.error("supervisor.start_failed", error=repr(exc))
            failure = (str(exc).splitlines() or [type(exc).__name__])[0]
        else:
            print(supervisor.describe(), flush=True)
            await supervisor.run_until_signalled()
        finally:
            print("aidmesh: stopping services, then servers ...", file=sys.stderr, flush=True)
            await supervisor.stop()
            print("aidmesh: stopped cleanly.", file=sys.stderr, flush=True)
        return failure

    failure = asyncio.run(main())
    provider.shutdown()
    log.close()
    if failure is not None:
        print(f"aidmesh: could not start: {failure}", file=sys.stderr)
        return 2
    return 0


def _running_at(var: Path) -> int | None:
    """The control port of a supervisor already running with this data: a second one would take
    over its pid files, stopping its servers (``kill_stale``, meant for a supervisor that died)."""
    try:
        port = Deployment.load(var).control_port
    except (FileNotFoundError, DeploymentFileError):
        return None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return port
    except OSError:  # refused: the file outlived a supervisor that was killed
        return None
