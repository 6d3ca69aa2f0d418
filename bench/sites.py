"""Field-site benchmarks: how soon sync starts after a link returns, how fast a backlog crosses, and
what an event costs on the link, each beside raw NATS measured in the same run."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import zlib
from pathlib import Path

import nats

from bench.fieldevents import need
from bench.fieldevents import registry as field_registry
from bench.harness import Row, Timer
from shared.deployment import Deployment
from shared.natsserver import LeafRemote, NatsServer, ServerSpec, free_port
from shared.sites import Sites
from shared.streams import SourceSpec, StreamSpec, ensure_stream
from shared.subjects import AggregateRef
from shared.topology import LINK_COMPRESSION
from tests.sitekit import wait_linked, wait_until, write

BACKLOG = 20_000
# Outage lengths for the time-to-first-event figure; AIDMESH_BENCH_QUICK=1 keeps them short.
OUTAGES = [10.0, 30.0] if os.environ.get("AIDMESH_BENCH_QUICK") else [10.0, 120.0, 600.0]
NOTES = (
    "Time to first event: the site's link is frozen silently (the harder case: neither end notices "
    "until its pings time out), events are written at the site, the link returns; `raw` is the same "
    "deployment without the sync watcher, i.e. JetStream's own source retries. Bytes per event: "
    "everything that crossed the link (both ways) while a 5,000-event backlog of representative field "
    "events drained, divided by the events. The target compares it with the payloads compressed one "
    "by one (each event crosses as its own message); the stricter bound compresses all payloads as "
    "one block, which no per-message transport can reach: S2, the link's compressor, has no entropy "
    "coding, so random ids and timestamps cost it about twice what they cost zlib."
)


async def _deployment(tmp: Path, name: str, **kwargs: object) -> Sites:
    net = Sites(Deployment.plan(tmp / name, ["dili"], base_port=0), ["bench"], **kwargs)  # type: ignore[arg-type]
    try:
        await net.start()
        await wait_linked(net, "dili")
    except BaseException:
        await net.stop()
        raise
    return net


async def _first_crossing(net: Sites, outage: float, events: int = 100) -> float:
    """Freeze the link for ``outage`` seconds with events written meanwhile; seconds from link up
    to the first of them at the hub."""
    hub_js = net.js("hub")
    before = (await hub_js.stream_info("BENCH_HUB")).state.messages
    await net.link("dili").down("freeze")
    refs = [
        AggregateRef("bench", "item", f"o{int(time.time() * 1000)}-{i}", "dili") for i in range(10)
    ]
    await write(net.nc("dili"), "dili", refs, events)
    await asyncio.sleep(outage)
    await net.link("dili").up()
    started = time.monotonic()

    async def crossed() -> bool:
        return (await hub_js.stream_info("BENCH_HUB")).state.messages > before

    await wait_until(crossed, timeout=900, step=0.05)
    first = time.monotonic() - started
    await wait_until(lambda: _all_crossed(net, before + events), timeout=300)
    return first


async def _all_crossed(net: Sites, count: int) -> bool:
    return (await net.js("hub").stream_info("BENCH_HUB")).state.messages >= count


async def time_to_first_event(tmp: Path) -> list[Row]:
    ours = await _deployment(tmp, "ours")
    raw = await _deployment(tmp, "raw", watch=False)
    rows = []
    try:
        for outage in OUTAGES:
            mine, theirs = await asyncio.gather(
                _first_crossing(ours, outage), _first_crossing(raw, outage)
            )
            label = f"{outage / 60:g} min" if outage >= 60 else f"{outage:g} s"
            rows.append(
                Row(
                    f"first event after a {label} frozen outage",
                    mine,
                    "s",
                    "raw source retries",
                    theirs,
                    max_value=3.0,
                )
            )
    finally:
        await ours.stop()
        await raw.stop()
    return rows


async def catch_up_rate(tmp: Path) -> list[Row]:
    """Ours (link simulator in the path, accounts, guarded subjects, events through the event store)
    against two plain servers sourcing with no proxy: once with the raw side's compression (none,
    on loopback) to show the topology's own cost, once with our field default (s2_best), whose CPU
    cost buys the bytes on a real link and shows up here as pure cost."""
    raw = await _raw_sourcing_rate(tmp / "rawrate")
    rows = []
    for compression, label in (
        ("off", "no compression, as raw"),
        (LINK_COMPRESSION, LINK_COMPRESSION),
    ):
        ours = await _our_catch_up(tmp, compression)
        rows.append(
            Row(
                f"catch-up of a {BACKLOG:,}-event backlog once started ({label})",
                ours,
                "ev/s",
                "raw sourcing, no proxy",
                raw,
                target=0.5 if compression == "off" else None,
            )
        )
    return rows


async def _our_catch_up(tmp: Path, compression: str) -> float:
    net = await _deployment(tmp, f"rate-{compression}", compression=compression)
    try:
        await net.link("dili").down("refuse")
        refs = [AggregateRef("bench", "item", f"r{i}", "dili") for i in range(100)]
        await write(net.nc("dili"), "dili", refs, BACKLOG)
        hub_js = net.js("hub")
        await net.link("dili").up()

        async def started() -> bool:
            return (await hub_js.stream_info("BENCH_HUB")).state.messages > 0

        await wait_until(started, timeout=120, step=0.01)
        timer = Timer()
        await wait_until(lambda: _all_crossed(net, BACKLOG), timeout=600, step=0.01)
        return timer.rate(BACKLOG)
    finally:
        await net.stop()


async def _raw_sourcing_rate(tmp: Path) -> float:
    """Two plain servers, a leaf connection with no proxy, a stream sourcing another."""
    leaf = free_port()
    hub = NatsServer(
        ServerSpec(
            name="hub", domain="hub", store_dir=tmp / "hub", port=free_port(), leafnode_port=leaf
        ),
        tmp / "run",
    )
    site = NatsServer(
        ServerSpec(
            name="dili",
            domain="dili",
            store_dir=tmp / "dili",
            port=free_port(),
            leaf_remotes=(LeafRemote(url=f"nats-leaf://127.0.0.1:{leaf}"),),
        ),
        tmp / "run",
    )
    await asyncio.to_thread(hub.start)
    await asyncio.to_thread(site.start)
    hub_nc, site_nc = await nats.connect(hub.url), await nats.connect(site.url)
    try:
        site_js = site_nc.jetstream(publish_async_max_pending=5000)
        await ensure_stream(site_js, StreamSpec(name="RAW_DILI", subjects=("raw.dili.>",)))
        payload = b"x" * 400
        for i in range(BACKLOG):
            await site_js.publish_async(
                f"raw.dili.item.{i % 100}", payload, headers={"Nats-Msg-Id": f"m{i}"}
            )
        await site_js.publish_async_completed()
        await asyncio.sleep(1)  # the leaf is up
        hub_js = hub_nc.jetstream()
        await ensure_stream(
            hub_js,
            StreamSpec(
                name="RAW_HUB",
                subjects=("raw.hub.>",),
                sources=(SourceSpec("RAW_DILI", domain="dili"),),
            ),
        )

        async def count() -> int:
            return (await hub_js.stream_info("RAW_HUB")).state.messages

        await wait_until(lambda: _positive(count()), timeout=120, step=0.01)
        timer = Timer()
        await wait_until(lambda: _at_least(count(), BACKLOG), timeout=600, step=0.01)
        return timer.rate(BACKLOG)
    finally:
        await hub_nc.close()
        await site_nc.close()
        await asyncio.to_thread(site.stop)
        await asyncio.to_thread(hub.stop)


async def _positive(value: object) -> bool:
    return int(await value) > 0  # type: ignore[misc]


async def _at_least(value: object, n: int) -> bool:
    return int(await value) >= n  # type: ignore[misc]


async def bytes_per_event(
    tmp: Path, compression: str, latency_ms: float
) -> tuple[float, float, float]:
    """Bytes over the link per event while a 5,000-event backlog drains; the payloads compressed
    one by one (each event is its own message), per event; and all of them compressed as one
    block (a stricter bound no per-message transport reaches), per event."""
    events = 5_000
    net = await _deployment(tmp, f"bytes-{compression}-{latency_ms:g}", compression=compression)
    try:
        link = net.link("dili")
        link.shape(latency_ms=latency_ms, bandwidth_bps=None)
        await net.link("dili").down("refuse")
        refs = [AggregateRef("bench", "item", f"b{i}", "dili") for i in range(50)]
        await write(net.nc("dili"), "dili", refs, events, payload=need, registry=field_registry)
        payloads = [m.data for m in await _site_messages(net)]
        link.status.bytes_up = link.status.bytes_down = 0
        await net.link("dili").up()
        await wait_until(lambda: _all_crossed(net, events), timeout=600, step=0.05)
        await asyncio.sleep(1)
        crossed = link.status.bytes_up + link.status.bytes_down
    finally:
        await net.stop()
    one_by_one = sum(len(zlib.compress(p, 9)) for p in payloads) / events
    as_block = len(zlib.compress(b"".join(payloads), 9)) / events
    return crossed / events, one_by_one, as_block


async def _site_messages(net: Sites) -> list[nats.aio.msg.Msg]:
    js = net.js("dili")
    info = await js.stream_info("BENCH_DILI")
    return [await js.get_msg("BENCH_DILI", seq) for seq in range(1, info.state.last_seq + 1)]


async def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="aidmesh-bench-sites-") as tmp:
        base = Path(tmp)
        if not os.environ.get("AIDMESH_BENCH_BYTES_ONLY"):
            rows += await catch_up_rate(base)
        for compression, latency in (("off", 0.0), ("s2_auto", 60.0), ("s2_best", 0.0)):
            per_event, one_by_one, as_block = await bytes_per_event(base, compression, latency)
            where = f"compression {compression}" + (f", RTT +{latency * 2:g} ms" if latency else "")
            rows.append(
                Row(
                    f"link bytes per event, {where} (target <= 1.5x)",
                    per_event,
                    "B",
                    "payloads zlib-compressed one by one",
                    one_by_one,
                    target=None,
                )
            )
            rows.append(
                Row(
                    f"link bytes per event, {where}, stricter bound",
                    per_event,
                    "B",
                    "payloads zlib-compressed as one block",
                    as_block,
                )
            )
        if not os.environ.get("AIDMESH_BENCH_BYTES_ONLY"):
            rows += await time_to_first_event(base)
    return rows
