"""Comms benchmarks: messages relayed site -> hub -> site per second, and how soon an emergency message
is delivered after a link returns with a large bulk backlog, each beside raw JetStream sourcing over
the same links in the same run.

The comms services run as separate processes (as under ``aidmesh up``) at a hub and two field sites,
each site behind its link simulator. The raw baseline is plain streams sourced over the same two hops
(site -> hub -> site) with no service at all: the floor any relay pays.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig

from bench.harness import Row
from services.comms.events import CONTEXTS
from services.comms.keys import encode_key, new_key
from shared.deployment import Deployment
from shared.ids import uuid7
from shared.processes import Child, python_module
from shared.sites import Sites
from shared.streams import SourceSpec, StreamSpec, ensure_stream
from shared.subjects import HUB
from shared.sync import Side, pending_after
from tests.sitekit import wait_linked, wait_until

QUICK = bool(os.environ.get("AIDMESH_BENCH_QUICK"))
RELAYED = 2_000 if QUICK else 5_000
BACKLOG = 10_000
EMERGENCIES = 40
SENDERS = 20
A, B = "dili", "yangon-north"
TO = f"role:medic@{B}"
BODY = "stock report {i}: rice 40 kg, oil 12 l, water 300 l, tarpaulins 25, medicine kits 7"
THIN = {"latency_ms": 60.0, "bandwidth_bps": 250_000}
NOTES = (
    "Relay rate: messages queued at a cut-off site, the link returns, timed until the other site "
    "has recorded every delivery (two link crossings, custody and relay at the hub, delivery, "
    "sealed bodies, the services as separate processes on this machine). Raw: the same number of "
    "events of the same size sourced over the same two hops with no service. Emergency latency: "
    f"{BACKLOG:,} bulk messages and {EMERGENCIES} emergency messages queued at a cut-off site, the "
    f"link returns thin ({THIN['bandwidth_bps'] // 1000} kB/s, +{THIN['latency_ms']:.0f} ms); "
    "latency from the link's return to the delivery at the other site. 'Sent while draining': "
    "emergency messages sent one by one while the bulk backlog crosses; they wait behind what the "
    "bulk source already put in flight (nats-server's flow-control window, up to ~2 MB per source)."
)


class Bench:
    """A hub and two sites with the comms service running at each as its own process."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.net = Sites(Deployment.plan(tmp / "var", [A, B], base_port=0), list(CONTEXTS))
        self.children: list[Child] = []

    async def start(self) -> None:
        await self.net.start()
        await wait_linked(self.net, A, B)
        dep = self.net.deployment
        for end in dep.all_sites():
            child = Child(
                name=f"comms@{end.site}",
                argv=python_module("services.comms"),
                log_path=dep.var / "log" / f"comms-{end.site}.log",
                pid_path=dep.run_dir / f"comms-{end.site}.pid",
                env={
                    "AIDMESH_SITE": end.site,
                    "AIDMESH_NATS_URL": end.url,
                    "AIDMESH_LOCAL_URL": self.net.local_url(end.site),
                    "AIDMESH_VAR": str(dep.var),
                    "AIDMESH_HTTP_PORT": "0",
                },
            )
            child.start()
            self.children.append(child)
        for site in (HUB, A, B):
            await wait_until(lambda s=site: self._knows_everyone(s), timeout=120, step=0.2)

    async def stop(self) -> None:
        for child in self.children:
            await asyncio.to_thread(child.stop)
        await self.net.stop()

    async def ask(self, site: str, command: str, payload: dict[str, Any]) -> Any:
        msg = await self.net.nc(site).request(
            f"cmd.{site}.comms.{command}", json.dumps(payload).encode(), timeout=30
        )
        reply = json.loads(msg.data)
        if not reply["ok"]:
            raise RuntimeError(f"{command} at {site}: {reply['error']}")
        return reply["result"]

    async def _knows_everyone(self, site: str) -> bool:
        try:
            return {HUB, A, B} <= set((await self.ask(site, "directory", {}))["sites"])
        except Exception:
            return False

    async def prepare(self, senders: list[str]) -> None:
        await self.ask(HUB, "open_channel", {"command_id": uuid7(), "name": "main"})
        key = encode_key(new_key())
        for site in (A, B):
            await self.ask(site, "set_key", {"channel": "main", "key": key})
        for address in [*senders, TO]:
            site = address.rsplit("@", 1)[1]
            await self.ask(site, "list_address", {"command_id": uuid7(), "address": address})

        async def ready() -> bool:
            known = (await self.ask(A, "directory", {}))["addresses"]
            return TO in known and bool((await self.ask(A, "directory", {}))["channels"])

        await wait_until(ready, timeout=60, step=0.2)

    async def queue(self, senders: list[str], count: int, priority: str) -> list[str]:
        """``count`` messages from ``senders`` (each in order, all at once) to the other site."""
        ids: list[str] = []

        async def one(sender: str) -> None:
            for i in range(count // len(senders)):
                mid = uuid7()
                payload = {
                    "message_id": mid,
                    "sender": sender,
                    "to": [TO],
                    "priority": priority,
                    "channel": "main",
                    "body": BODY.format(i=i),
                }
                await self.ask(A, "send", payload)
                ids.append(mid)

        await asyncio.gather(*(one(s) for s in senders))
        return ids

    async def delivered(self, priority: str) -> int:
        filt = f"ev.comms_{priority}.{B}.hub.dlv.>"
        return await pending_after(
            Side(self.net.nc(B)), f"COMMS_{priority.upper()}_YANGON-NORTH", filt, 0
        )

    async def delivery_times(self, priority: str) -> dict[str, datetime]:
        """Message id -> when the recipient's site recorded the delivery (its own clock)."""
        out = {}
        for subject, data in await _read(
            self.net.nc(B), _stream(priority, B), f"ev.comms_{priority}.{B}.hub.dlv.>"
        ):
            out[subject.rsplit(".", 1)[1]] = datetime.fromisoformat(
                json.loads(data)["payload"]["at"]
            )
        return out


def _stream(priority: str, site: str) -> str:
    return f"COMMS_{priority.upper()}_{site.upper()}"


async def _read(nc: NATS, stream: str, filter_subject: str) -> list[tuple[str, bytes]]:
    js = nc.jetstream()
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=30.0)
    sub = await js.pull_subscribe(filter_subject, stream=stream, config=config)
    out = []
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=2)
            except (TimeoutError, NatsTimeout):
                break
            out += [(m.subject, m.data) for m in msgs]
    finally:
        await sub.unsubscribe()
    return out


@asynccontextmanager
async def running(tmp: Path) -> AsyncIterator[Bench]:
    bench = Bench(tmp)
    try:
        await bench.start()
        yield bench
    finally:
        await bench.stop()


# --- raw baseline: plain streams sourced site -> hub -> site over the same links ---------------


async def raw_streams(bench: Bench, name: str) -> None:
    """``RAW<name>_DILI`` sourced by ``RAW<name>_HUB``, sourced in turn by ``RAW<name>_YN``."""
    net = bench.net
    prefix = f"raw{name}"
    await ensure_stream(net.js(A), StreamSpec(f"RAW{name}_A", subjects=(f"{prefix}.a.>",)))
    await ensure_stream(
        net.js(HUB),
        StreamSpec(
            f"RAW{name}_HUB",
            subjects=(f"{prefix}.hub.>",),
            sources=(SourceSpec(f"RAW{name}_A", domain=A),),
        ),
    )
    await ensure_stream(
        net.js(B),
        StreamSpec(
            f"RAW{name}_B",
            subjects=(f"{prefix}.b.>",),
            sources=(SourceSpec(f"RAW{name}_HUB", domain=HUB),),
        ),
    )


async def raw_write(bench: Bench, name: str, count: int, payloads: list[bytes]) -> None:
    """``count`` events with the very bytes of comms events (so they compress alike on the link)."""
    js = bench.net.nc(A).jetstream(publish_async_max_pending=2000)
    for i in range(count):
        await js.publish_async(
            f"raw{name}.a.m.{i % 50}",
            payloads[i % len(payloads)],
            headers={"Nats-Msg-Id": f"{name}-{i}"},
        )
    await js.publish_async_completed()


async def raw_count(bench: Bench, name: str) -> int:
    return (await bench.net.js(B).stream_info(f"RAW{name}_B")).state.messages


async def raw_times(bench: Bench, name: str) -> list[datetime]:
    js = bench.net.js(B)
    info = await js.stream_info(f"RAW{name}_B")
    return [
        (await js.get_msg(f"RAW{name}_B", seq)).time or datetime.now(UTC)
        for seq in range(1, info.state.last_seq + 1)
    ]


# --- figures -------------------------------------------------------------------------------------


async def _outage(bench: Bench) -> None:
    await bench.net.link(A).down("refuse")


async def _back(bench: Bench) -> datetime:
    back = datetime.now(UTC)
    await bench.net.link(A).up()
    return back


async def relay_rate(tmp: Path) -> list[Row]:
    """Ours first, then raw in an outage of its own, so they never share the link or the CPU."""
    async with running(tmp / "rate") as bench:
        senders = [f"person:s{i}@{A}" for i in range(SENDERS)]
        await bench.prepare(senders)
        await raw_streams(bench, "R")
        await _outage(bench)
        await bench.queue(senders, RELAYED, "normal")
        _reset_counters(bench)
        back = await _back(bench)
        await wait_until(
            lambda: _at_least(bench.delivered("normal"), RELAYED), timeout=900, step=0.05
        )
        ours = RELAYED / (datetime.now(UTC) - back).total_seconds()
        await asyncio.sleep(3.0)  # the last receipts travel back to the sender
        our_bytes = _link_bytes(bench) / RELAYED

        payloads = await _sent_events(bench, "normal")
        size = round(sum(map(len, payloads)) / len(payloads))
        await _outage(bench)
        await raw_write(bench, "R", RELAYED, payloads)
        _reset_counters(bench)
        back = await _back(bench)
        await wait_until(lambda: _at_least(raw_count(bench, "R"), RELAYED), timeout=900, step=0.05)
        raw = RELAYED / (max(await raw_times(bench, "R")) - back).total_seconds()
        await asyncio.sleep(3.0)
        raw_bytes = _link_bytes(bench) / RELAYED
    return [
        Row(
            "link bytes per relayed message, both links, receipts and custody reports included",
            our_bytes,
            "B",
            "the same message events sourced raw over the same two links",
            raw_bytes,
            max_ratio=3.0,
        ),
        Row(
            f"messages relayed site -> hub -> site ({RELAYED:,} queued in an outage, sealed)",
            ours,
            "msg/s",
            f"raw sourcing of the same events over the same two hops ({size} B each)",
            raw,
            target=0.05,
        ),
    ]


def _reset_counters(bench: Bench) -> None:
    for site in (A, B):
        bench.net.link(site).status.bytes_up = bench.net.link(site).status.bytes_down = 0


def _link_bytes(bench: Bench) -> int:
    return sum(
        bench.net.link(site).status.bytes_up + bench.net.link(site).status.bytes_down
        for site in (A, B)
    )


async def _at_least(value: Any, n: int) -> bool:
    return int(await value) >= n


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def emergency_latency(tmp: Path) -> list[Row]:
    async with running(tmp / "latency") as bench:
        senders = [f"person:s{i}@{A}" for i in range(SENDERS)]
        await bench.prepare(senders)
        await raw_streams(bench, "B")
        await raw_streams(bench, "E")
        link = bench.net.link(A)
        await _outage(bench)
        await bench.queue(senders, BACKLOG, "bulk")
        urgent = await bench.queue(senders[: EMERGENCIES // 2], EMERGENCIES, "emergency")
        link.shape(latency_ms=THIN["latency_ms"], bandwidth_bps=int(THIN["bandwidth_bps"]))
        back = await _back(bench)
        await wait_until(
            lambda: _at_least(bench.delivered("emergency"), EMERGENCIES), timeout=900, step=0.05
        )
        delivered = await bench.delivery_times("emergency")
        ours = [(delivered[m] - back).total_seconds() for m in urgent]

        draining = []  # sent one by one while the bulk backlog crosses
        bulk_left = BACKLOG - await bench.delivered("bulk")
        for _ in range(8):
            sent_at = datetime.now(UTC)
            (mid,) = await bench.queue([senders[0]], 1, "emergency")
            await wait_until(lambda m=mid: _delivered(bench, m), timeout=900, step=0.05)
            at = (await bench.delivery_times("emergency"))[mid]
            draining.append((at - sent_at).total_seconds())
        await wait_until(lambda: _at_least(bench.delivered("bulk"), BACKLOG), timeout=900, step=0.5)

        bulk = await _sent_events(bench, "bulk")
        urgent_events = await _sent_events(bench, "emergency")
        link.shape(latency_ms=0, bandwidth_bps=0)
        await _outage(bench)
        await raw_write(bench, "B", BACKLOG, bulk)
        await raw_write(bench, "E", EMERGENCIES, urgent_events)
        link.shape(latency_ms=THIN["latency_ms"], bandwidth_bps=int(THIN["bandwidth_bps"]))
        back = await _back(bench)
        await wait_until(lambda: _at_least(raw_count(bench, "E"), EMERGENCIES), timeout=900)
        raw = [(t - back).total_seconds() for t in await raw_times(bench, "E")]
        await wait_until(lambda: _at_least(raw_count(bench, "B"), BACKLOG), timeout=900, step=0.5)
    label = f"emergency latency after link return, {BACKLOG:,} bulk backlog, thin link"
    return [
        Row(
            f"{label}, p50",
            statistics.median(ours),
            "s",
            "raw two-hop sourcing, p50",
            statistics.median(raw),
            max_ratio=3.0,
        ),
        Row(
            f"{label}, p99",
            _pct(ours, 99),
            "s",
            "raw two-hop sourcing, p99",
            _pct(raw, 99),
            max_ratio=3.0,
        ),
        Row(
            f"emergency sent while the backlog drains, p50 ({bulk_left:,} bulk still to deliver)",
            statistics.median(draining),
            "s",
        ),
        Row("emergency sent while the backlog drains, max", max(draining), "s"),
    ]


async def _delivered(bench: Bench, mid: str) -> bool:
    return mid in await bench.delivery_times("emergency")


async def _sent_events(bench: Bench, priority: str) -> list[bytes]:
    """The ``MessageSent`` events that crossed from A, as stored."""
    data = await _read(bench.net.nc(A), _stream(priority, A), f"ev.comms_{priority}.{A}.hub.msg.>")
    return [d for _, d in data]


async def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="aidmesh-bench-comms-") as tmp:
        rows = await relay_rate(Path(tmp))
        rows += await emergency_latency(Path(tmp))
    return rows
