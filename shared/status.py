"""What ``aidmesh status`` reports: servers, streams, consumers, dead letters, services."""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS

from shared.deployment import Deployment, SiteEndpoint
from shared.subjects import dlq_stream


@dataclass
class StreamStatus:
    name: str
    messages: int
    bytes: int
    last_seq: int
    consumers: dict[str, int] = field(default_factory=dict)  # durable -> pending
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class SiteStatus:
    site: str
    url: str
    reachable: bool
    streams: list[StreamStatus] = field(default_factory=list)
    dead_letters: int = 0
    services: dict[str, bool] = field(default_factory=dict)
    error: str = ""


async def site_status(dep: Deployment, end: SiteEndpoint) -> SiteStatus:
    status = SiteStatus(end.site, end.url, reachable=False)
    for svc in dep.services.values():
        if svc.site == end.site:
            status.services[svc.service] = _alive(svc.pid)
    try:
        nc = await nats.connect(end.url, connect_timeout=2, max_reconnect_attempts=0)
    except Exception as exc:
        status.error = f"not reachable: {exc!r}"
        return status
    try:
        status.reachable = True
        status.streams = await _streams(nc)
        dlq = next((s for s in status.streams if s.name == dlq_stream(end.site)), None)
        status.dead_letters = dlq.messages if dlq else 0
    finally:
        await nc.close()
    return status


async def _streams(nc: NATS) -> list[StreamStatus]:
    js = nc.jetstream()
    out = []
    for info in await js.streams_info():
        name = info.config.name or "?"
        st = StreamStatus(name, info.state.messages, info.state.bytes, info.state.last_seq)
        for src in info.sources or []:
            st.sources[src.name] = {
                "lag": src.lag,
                "active_ms": _ms(src.active),
                "error": src.error,
            }
        for consumer in await js.consumers_info(name):
            if consumer.config.durable_name:
                st.consumers[consumer.config.durable_name] = consumer.num_pending or 0
        out.append(st)
    return sorted(out, key=lambda s: s.name)


def _ms(active_ns: int | None) -> int | None:
    return None if active_ns is None else active_ns // 1_000_000


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


async def gather(dep: Deployment) -> list[SiteStatus]:
    return list(await asyncio.gather(*(site_status(dep, end) for end in dep.all_sites())))


def as_dict(statuses: list[SiteStatus]) -> list[dict[str, Any]]:
    return [asdict(s) for s in statuses]


def render(statuses: list[SiteStatus]) -> str:
    lines = []
    for s in statuses:
        state = "up" if s.reachable else f"DOWN ({s.error})"
        lines.append(f"{s.site}  {s.url}  server {state}")
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
