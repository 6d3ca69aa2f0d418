"""Priority under a thin, intermittent link, against real nats-servers and a shaped link simulator.

A site is cut off with 5,000 bulk messages queued, then one emergency message is sent; the link comes
back thin (latency and a bandwidth cap). The emergency message has its own stream and its own source
across the link, so it crosses before the bulk backlog: the test prints its exact position among the
bulk messages as the hub stored them, and checks every message is taken and delivered exactly once,
in per-sender order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.comms.handlers import Comms
from services.comms.valve import WINDOW
from tests.services.comms.kit import Fleet, comms_sites, stored
from tests.sitekit import wait_until

pytestmark = pytest.mark.slow
BULK = 5_000
SENDERS = 10
TO = "role:coordinator@hub"
DRAINING = 2_000


async def _queue_bulk(fleet: Fleet, senders: list[str], count: int = BULK) -> dict[str, list[str]]:
    """Each sender sends its share in order (concurrently with the other senders)."""
    sent: dict[str, list[str]] = {s: [] for s in senders}

    async def one(sender: str) -> None:
        for i in range(count // len(senders)):
            body = f"stock report {i}: rice 40 kg, oil 12 l, water 300 l, medicine kits 7"
            mid = await fleet.send("dili", sender, [TO], body, priority="bulk")
            sent[sender].append(mid)

    await asyncio.gather(*(one(s) for s in senders))
    return sent


def _delivered_at_hub(hub: Comms) -> int:
    row = hub.reads.db.execute("SELECT COUNT(*) FROM comms_inbox WHERE site = 'hub'").fetchone()
    return int(row[0])


async def test_emergency_message_crosses_before_the_bulk_backlog(tmp_path: Path) -> None:
    async with comms_sites(tmp_path, sites=("dili",)) as fleet:
        net = fleet.net
        senders = [f"person:sender{i}@dili" for i in range(SENDERS)]
        await fleet.list_addresses(*senders, TO)
        await net.link("dili").down("refuse")
        started = time.monotonic()
        sent = await _queue_bulk(fleet, senders)
        queued_in = time.monotonic() - started
        emergency = await fleet.send(
            "dili", senders[0], [TO], "armed men at the bridge: stay inside", priority="emergency"
        )
        # The valve let only a window's worth of bulk into the link; the rest waits in the site.
        assert (await net.backlog("dili", "comms_bulk")).up <= WINDOW // 600 + 1
        held = await fleet.net.js("dili").stream_info("COMMS_BULK_HELD_DILI")
        assert held.state.messages == BULK
        net.link("dili").shape(latency_ms=60, bandwidth_bps=250_000)
        link_back = time.monotonic()
        await net.link("dili").up()

        hub = fleet.comms["hub"]
        await wait_until(lambda: _delivered_at_hub(hub) == BULK + 1, timeout=240, step=0.2)
        drained = time.monotonic() - link_back

        hub_nc = net.nc("hub")
        (urgent,) = await stored(hub_nc, "COMMS_EMERGENCY_HUB", "ev.comms_emergency.dili.*.msg.>")
        bulk = await stored(hub_nc, "COMMS_BULK_HUB", "ev.comms_bulk.dili.*.msg.>")
        position = sum(1 for m in bulk if m.at < urgent.at)
        print(
            f"\n{BULK:,} bulk messages queued in {queued_in:.1f} s; link back at 250 kB/s, "
            f"+60 ms: the emergency message was stored at the hub after {position} bulk "
            f"messages (position {position + 1} of {BULK + 1}); the backlog drained and every "
            f"message was delivered at the hub {drained:.1f} s after the link returned"
        )
        assert position <= 300, f"the emergency message waited behind {position} bulk messages"

        # Exactly once, in per-sender order: as the hub stored them, and as the hub delivered them.
        order: dict[str, list[str]] = defaultdict(list)
        for m in bulk:
            order[json.loads(m.data)["payload"]["sender"]].append(m.subject.rsplit(".", 1)[1])
        assert dict(order) == sent
        deliveries = await stored(hub_nc, "COMMS_BULK_HUB", "ev.comms_bulk.hub.hub.dlv.>")
        ids = [d.subject.rsplit(".", 1)[1] for d in deliveries]
        assert Counter(ids).most_common(1)[0][1] == 1
        assert set(ids) == {mid for mids in sent.values() for mid in mids}
        for sender, mids in sent.items():
            rank = {mid: i for i, mid in enumerate(ids)}
            assert sorted(mids, key=rank.__getitem__) == mids, f"{sender}: delivered out of order"

        # The sender's outbox shows each one delivered once the receipts are back.
        async def all_confirmed() -> bool:
            status = await fleet.status("dili", emergency)
            return status["state"] == "delivered"

        await wait_until(all_confirmed, timeout=60)


async def test_emergency_sent_while_bulk_drains_overtakes_it(tmp_path: Path) -> None:
    """The harder case: the link is already busy with the backlog when the emergency is sent."""
    async with comms_sites(tmp_path, sites=("dili",)) as fleet:
        net = fleet.net
        senders = [f"person:sender{i}@dili" for i in range(SENDERS)]
        await fleet.list_addresses(*senders, TO)
        await net.link("dili").down("refuse")
        await _queue_bulk(fleet, senders, count=DRAINING)
        net.link("dili").shape(latency_ms=60, bandwidth_bps=100_000)
        await net.link("dili").up()
        hub_js = net.js("hub")

        async def draining() -> bool:
            return (await hub_js.stream_info("COMMS_BULK_HUB")).state.messages > 200

        await wait_until(draining, timeout=120, step=0.1)
        sent_at = datetime.now(UTC)
        await fleet.send(
            "dili", senders[0], [TO], "fire in the market: keep away", priority="emergency"
        )
        hub_nc = net.nc("hub")

        async def arrived() -> bool:
            got = await stored(hub_nc, "COMMS_EMERGENCY_HUB", "ev.comms_emergency.dili.*.msg.>")
            return bool(got)

        await wait_until(arrived, timeout=120, step=0.1)
        (urgent,) = await stored(hub_nc, "COMMS_EMERGENCY_HUB", "ev.comms_emergency.dili.*.msg.>")
        bulk = await stored(hub_nc, "COMMS_BULK_HUB", "ev.comms_bulk.dili.*.msg.>")
        ahead = sum(1 for m in bulk if sent_at < m.at < urgent.at)
        waited = (urgent.at - sent_at).total_seconds()
        print(
            f"\nemergency sent while {DRAINING:,} bulk messages drained over 100 kB/s: "
            f"{ahead} bulk messages crossed between its send and its arrival ({waited:.2f} s)"
        )
        assert ahead <= 2 * WINDOW // 600, f"{ahead} bulk messages crossed ahead of it"
        await wait_until(lambda: _delivered_at_hub(fleet.comms["hub"]) == DRAINING + 1, timeout=240)
