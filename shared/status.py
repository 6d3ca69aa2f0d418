"""What ``aidmesh status`` reports, and what the supervisor logs and exports as metrics: servers,
streams, dead letters and services per site, and per field site the state of its link.

A site the hub cannot see is never reported "in sync": its link state comes from the link itself and
the hub's leaf connections, its last contact from the hub's source activity, and its backlog from
sequences counted at both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS

from shared import linksim, subjects
from shared.cliclient import ONE_SHOT
from shared.deployment import Deployment, SiteEndpoint
from shared.subjects import HUB, dlq_stream
from shared.sync import Side, backlog, leafz


@dataclass
class StreamStatus:
    name: str
    messages: int
    bytes: int
    last_seq: int
    consumers: dict[str, int] = field(default_factory=dict)  # durable -> pending


SILENT_AFTER_S = 5.0
"""A healthy source is heard at least every second (JetStream's source heartbeats)."""


@dataclass
class LinkStatus:
    """One field site's link to the hub."""

    state: str = "unknown"  # up, down (refuse), down (freeze), unknown
    connected: bool = False  # the hub sees the site's leaf connection now
    last_contact_s: float | None = None
    waiting_up: int | None = None
    waiting_down: int | None = None
    lag_s: float | None = None  # age of the oldest event still waiting to cross, either way
    by_context: dict[str, dict[str, int | None]] = field(default_factory=dict)
    bytes_up: int | None = None
    bytes_down: int | None = None
    outages: int | None = None

    @property
    def silent(self) -> bool:
        """The hub has heard nothing from the site's sources for a while, though it may still see
        the connection: a frozen link (a dish that lost its satellite) keeps the leaf connection
        until pings time out, about a minute, while nothing crosses."""
        return self.last_contact_s is not None and self.last_contact_s > SILENT_AFTER_S

    @property
    def in_sync(self) -> bool:
        return (
            self.connected and not self.silent and self.waiting_up == 0 and self.waiting_down == 0
        )


@dataclass
class SiteStatus:
    site: str
    url: str
    reachable: bool
    streams: list[StreamStatus] = field(default_factory=list)
    dead_letters: int = 0
    services: dict[str, bool] = field(default_factory=dict)
    link: LinkStatus | None = None
    error: str = ""


async def _connect(url: str) -> NATS | None:
    try:
        return await nats.connect(url, **ONE_SHOT)
    except Exception:
        return None


async def gather(dep: Deployment) -> list[SiteStatus]:
    conns = dict(
        zip(
            [e.site for e in dep.all_sites()],
            await asyncio.gather(*(_connect(e.url) for e in dep.all_sites())),
            strict=True,
        )
    )
    try:
        results = []
        for end in dep.all_sites():
            results.append(await site_status(dep, end, conns))
        return results
    finally:
        for nc in conns.values():
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()


async def site_status(
    dep: Deployment, end: SiteEndpoint, conns: dict[str, NATS | None]
) -> SiteStatus:
    status = SiteStatus(end.site, end.url, reachable=conns.get(end.site) is not None)
    for svc in dep.services.values():
        if svc.site == end.site:
            status.services[svc.service] = _alive(svc.pid)
    nc = conns.get(end.site)
    if nc is None:
        status.error = "server not reachable"
    else:
        status.streams = await _streams(nc)
        dlq = next((s for s in status.streams if s.name == dlq_stream(end.site)), None)
        status.dead_letters = dlq.messages if dlq else 0
    if end.site != HUB:
        status.link = await link_status(dep, end, conns.get(HUB), nc)
    return status


async def link_status(
    dep: Deployment, end: SiteEndpoint, hub_nc: NATS | None, site_nc: NATS | None
) -> LinkStatus:
    link = LinkStatus()
    if end.link_control_port:
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            sim = await linksim.request(end.link_control_port, {"op": "status"}, timeout=2)
            link.state = sim["state"] if sim["state"] == "up" else f"down ({sim['mode']})"
            link.bytes_up, link.bytes_down, link.outages = (
                sim["bytes_up"],
                sim["bytes_down"],
                sim["outages"],
            )
    with contextlib.suppress(Exception):
        leafs = await asyncio.to_thread(leafz, f"http://127.0.0.1:{dep.hub.http_port}")
        link.connected = any(leaf.get("name") == end.site for leaf in leafs)
    if hub_nc is None:
        return link
    contexts = await _contexts(hub_nc)
    heard = await _last_contact(hub_nc, end.site, contexts)
    link.last_contact_s = 0.0 if heard is None and link.connected else heard
    if site_nc is None:
        return link
    up = down = 0
    lag = 0.0
    for ctx in contexts:
        with contextlib.suppress(Exception):
            b = await backlog(Side(hub_nc), Side(site_nc), ctx, end.site)
            link.by_context[ctx] = {"up": b.up, "down": b.down}
            up += b.up or 0
            down += b.down or 0
            lag = max(lag, b.oldest_up_s or 0.0, b.oldest_down_s or 0.0)
    link.waiting_up, link.waiting_down, link.lag_s = up, down, lag
    return link


async def _contexts(hub_nc: NATS) -> list[str]:
    names = [s.config.name or "" for s in await hub_nc.jetstream().streams_info()]
    suffix = f"_{HUB.upper()}"
    return sorted(
        n[: -len(suffix)].lower() for n in names if n.endswith(suffix) and n != dlq_stream(HUB)
    )


async def _last_contact(hub_nc: NATS, site: str, contexts: list[str]) -> float | None:
    """Seconds since the hub last heard from the site's sources: the only clock that keeps running
    during an outage (lag reads 0 and error stays empty), and the only one that notices a frozen
    link while the leaf connection still stands. None before a source was ever heard."""
    best: float | None = None
    js = hub_nc.jetstream()
    for ctx in contexts:
        info = await js.stream_info(subjects.stream_name(ctx, HUB))
        for src in info.sources or []:
            if (
                src.name == subjects.stream_name(ctx, site)
                and src.active is not None
                and src.active >= 0
            ):
                seconds = src.active / 1e9
                best = seconds if best is None else min(best, seconds)
    return best


async def _streams(nc: NATS) -> list[StreamStatus]:
    js = nc.jetstream()
    out = []
    for info in await js.streams_info():
        name = info.config.name or "?"
        st = StreamStatus(name, info.state.messages, info.state.bytes, info.state.last_seq)
        for consumer in await js.consumers_info(name):
            if consumer.config.durable_name:
                st.consumers[consumer.config.durable_name] = consumer.num_pending or 0
        out.append(st)
    return sorted(out, key=lambda s: s.name)


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def as_dict(statuses: list[SiteStatus]) -> list[dict[str, Any]]:
    out = []
    for s in statuses:
        d = asdict(s)
        if s.link is not None:
            d["link"]["in_sync"] = s.link.in_sync
            d["link"]["silent"] = s.link.silent
        out.append(d)
    return out


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _bytes(value: int | None) -> str:
    if value is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value = value / 1000  # type: ignore[assignment]
    return str(value)


def _contact(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return "now" if seconds <= SILENT_AFTER_S else f"{seconds:.0f} s ago"


def render(statuses: list[SiteStatus]) -> str:
    lines = [time.strftime("%Y-%m-%d %H:%M:%S")]
    for s in statuses:
        state = "up" if s.reachable else f"DOWN ({s.error})"
        lines.append(f"{s.site}  {s.url}  server {state}")
        if s.link is not None:
            lk = s.link
            verdict = "in sync" if lk.in_sync else "NOT in sync"
            sees = "sees" if lk.connected else "does NOT see"
            silent = ", but hears nothing (a frozen link?)" if lk.connected and lk.silent else ""
            lines.append(
                f"  link {lk.state}, hub {sees} the site{silent}, "
                f"last contact {_contact(lk.last_contact_s)}: {verdict}"
            )
            lag = "" if not lk.lag_s else f" (oldest waiting {lk.lag_s:.0f} s)"
            lines.append(
                f"  waiting to cross: up {_count(lk.waiting_up)}, down {_count(lk.waiting_down)}{lag}"
                f"   bytes over the link: up {_bytes(lk.bytes_up)}, down {_bytes(lk.bytes_down)}"
            )
            for ctx, b in sorted(lk.by_context.items()):
                lines.append(f"    {ctx:<12} up {_count(b['up'])}  down {_count(b['down'])}")
        for name, alive in sorted(s.services.items()):
            lines.append(f"  service {name:<12} {'running' if alive else 'NOT RUNNING'}")
        for st in s.streams:
            pending = sum(st.consumers.values())
            lines.append(
                f"  stream {st.name:<28} {st.messages:>8} msgs {st.bytes:>10} B"
                f"  last seq {st.last_seq:<8} consumers pending {pending}"
            )
        if s.reachable:
            lines.append(f"  dead letters: {s.dead_letters}")
    return "\n".join(lines)
