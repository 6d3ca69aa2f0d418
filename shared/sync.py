"""Sync across the link: how far behind each direction is, and a watcher that restarts sourcing the
moment a link returns.

JetStream retries a broken source with a growing back-off: measured, the first event crossed 29 s to
87 s after the link came back, which is most of a field group's window of connectivity. Updating the
stream with the same config did not help; removing the site's sources and adding them back did (the
stream resumes each source from the last sequence it holds, so nothing is lost or doubled). The
watcher does that as soon as it sees the leaf connection return.

During an outage the hub's source info shows lag 0 and no error, so "in sync" is never read from it:
backlogs are counted from sequences (the ``Nats-Stream-Source`` header of the last event that
crossed, then the events after it that have not).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared import subjects, telemetry
from shared.periodic import Periodic
from shared.streams import SourceSpec
from shared.subjects import HUB

_log = telemetry.get_logger("aidmesh.sync")


@dataclass
class Backlog:
    """Events waiting to cross, per direction, and the age in seconds of the oldest one waiting (the
    lag a coordinator feels); None when that side cannot be reached now."""

    up: int | None = None
    down: int | None = None
    oldest_up_s: float | None = None
    oldest_down_s: float | None = None


@dataclass(frozen=True)
class Side:
    """One end of a link as seen from a connection: directly (domain None) or through a domain."""

    nc: NATS
    domain: str | None = None

    @property
    def api(self) -> str:
        return f"$JS.{self.domain}.API" if self.domain else "$JS.API"

    def js(self) -> JetStreamContext:
        return self.nc.jetstream(domain=self.domain)


async def pending_after(side: Side, stream: str, filter_subject: str, after: int) -> int:
    """How many events on ``filter_subject`` the stream holds after sequence ``after``."""
    config: dict[str, Any] = {
        "filter_subject": filter_subject,
        "ack_policy": "none",
        "mem_storage": True,
        "inactive_threshold": 5_000_000_000,
        "deliver_policy": "by_start_sequence",
        "opt_start_seq": after + 1,
    }
    reply = await side.nc.request(
        f"{side.api}.CONSUMER.CREATE.{stream}",
        json.dumps({"stream_name": stream, "config": config}).encode(),
        timeout=3,
    )
    answer = json.loads(reply.data)
    if "error" in answer:
        raise RuntimeError(answer["error"].get("description"))
    with contextlib.suppress(Exception):
        await side.nc.publish(f"{side.api}.CONSUMER.DELETE.{stream}.{answer['name']}", b"")
    return int(answer.get("num_pending", 0))


async def origin_seq(side: Side, stream: str, filter_subject: str) -> int:
    """The origin sequence of the last event on ``filter_subject`` that this stream sourced."""
    try:
        msg = await side.js().get_last_msg(stream, filter_subject)
    except NotFoundError:
        return 0
    header = (msg.headers or {}).get("Nats-Stream-Source", "")
    parts = header.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def backlog(hub: Side, site: Side, context: str, name: str) -> Backlog:
    """Events of ``context`` still to cross between the hub and site ``name``, counted from both
    ends (so both must be reachable from the connections given)."""
    hub_stream, site_stream = (
        subjects.stream_name(context, HUB),
        subjects.stream_name(context, name),
    )
    crossed = await origin_seq(hub, hub_stream, subjects.owned_subjects(context, name))
    result = Backlog()
    result.up = await pending_after(
        site, site_stream, subjects.owned_subjects(context, name), crossed
    )
    down = 0
    for filt in subjects.events_for_site(context, name):
        crossed = await origin_seq(site, site_stream, filt)
        down += await pending_after(hub, hub_stream, filt, crossed)
    result.down = down
    return result


def leafz(monitor_url: str, timeout: float = 2.0) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{monitor_url}/leafz", timeout=timeout) as response:
        data = json.loads(response.read())
    leafs: list[dict[str, Any]] = data.get("leafs") or []
    return leafs


@dataclass
class PeerState:
    connected: bool = False
    connection_id: int | None = None
    since: float = field(default_factory=time.time)
    last_contact: float | None = None
    kicks: int = 0
    rtt: str = ""
    bytes_in: int = 0
    bytes_out: int = 0


class SyncWatcher:
    """Runs beside one server (hub or site): restarts sourcing when a peer's leaf link comes back
    and keeps per-peer link state for status, logs and metrics."""

    def __init__(self, nc: NATS, site: str, monitor_url: str, poll_seconds: float = 0.25) -> None:
        self._js = nc.jetstream()
        self.site = site
        self._monitor = monitor_url
        self.peers: dict[str, PeerState] = {}
        # A failed check is retried at the next poll: the monitor port may be restarting with
        # the server.
        self._periodic = Periodic(f"sync-watch-{site}", self.check, poll_seconds, at_start=True)

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def check(self) -> None:
        leafs = await asyncio.to_thread(leafz, self._monitor)
        now = time.time()
        seen = {leaf.get("name", ""): leaf for leaf in leafs}
        for name, leaf in seen.items():
            state = self.peers.setdefault(name, PeerState())
            state.last_contact = now
            state.rtt = str(leaf.get("rtt", ""))
            state.bytes_in, state.bytes_out = leaf.get("in_bytes", 0), leaf.get("out_bytes", 0)
            if not state.connected or state.connection_id != leaf.get("id"):
                state.connected, state.connection_id, state.since = True, leaf.get("id"), now
                await self.kick(name)
        for name, state in self.peers.items():
            if name not in seen and state.connected:
                state.connected, state.since = False, now
                _log.warning("sync.link_lost", site=self.site, peer=name)

    async def kick(self, peer: str) -> None:
        """Remove this server's sources from ``peer`` and add them back: sourcing restarts now."""
        started = time.monotonic()
        kicked = 0
        for info in await self._js.streams_info():
            sources = info.config.sources or []
            theirs = [s for s in sources if SourceSpec.from_nats(s).domain == peer]
            if not theirs:
                continue
            config = info.config
            config.sources = [s for s in sources if s not in theirs] or None
            await self._js.update_stream(config)
            config.sources = sources
            await self._js.update_stream(config)
            kicked += 1
        state = self.peers.setdefault(peer, PeerState())
        state.kicks += 1
        ms = round((time.monotonic() - started) * 1000)
        _log.info("sync.link_returned", site=self.site, peer=peer, streams_restarted=kicked, ms=ms)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: asdict(state) for name, state in self.peers.items()}


async def _watch_forever(site: str, nats_url: str, monitor: str) -> None:
    import nats

    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    watcher = SyncWatcher(nc, site, monitor)
    await watcher.start()
    await asyncio.Event().wait()


def main() -> None:
    """``python -m shared.sync --site dili --nats URL --monitor URL``: the watcher on its own, for
    deployments where no supervisor runs (containers)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m shared.sync")
    parser.add_argument("--site", required=True)
    parser.add_argument("--nats", required=True, help="this server's NATS URL")
    parser.add_argument("--monitor", required=True, help="this server's monitoring URL")
    args = parser.parse_args()
    telemetry.configure_logging("sync", args.site)
    asyncio.run(_watch_forever(args.site, args.nats, args.monitor))


if __name__ == "__main__":
    main()
