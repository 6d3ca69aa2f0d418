"""A message or receipt that arrives twice (redelivery after a lost ack or a restart, two addresses
for the same people) takes effect once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.comms.events import CONTEXTS
from shared.ids import uuid7
from shared.subjects import stream_name
from tests.services.comms.kit import Fleet, comms_sites
from tests.sitekit import wait_until

pytestmark = pytest.mark.slow
MEDIC = "role:medic@yangon-north"


async def _counts(fleet: Fleet) -> dict[str, int]:
    out = {}
    for site in fleet.comms:
        js = fleet.net.js(site)
        for ctx in CONTEXTS:
            stream = stream_name(ctx, site)
            out[stream] = (await js.stream_info(stream)).state.messages
    return out


async def _inbox_ids(fleet: Fleet) -> list[str]:
    return [m["message_id"] for m in await fleet.inbox(MEDIC, "yangon-north")]


async def _reactors_idle(fleet: Fleet) -> bool:
    for built in fleet.built.values():
        js = fleet.net.js(built.comms.site)
        for reactor in built.consumers.reactors:
            info = await js.consumer_info(reactor.stream, reactor.name)
            if info.num_pending or info.num_ack_pending:
                return False
    return True


async def test_everything_consumed_again_changes_nothing(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", MEDIC)
        to = [MEDIC, "site:yangon-north", "all"]  # three paths to the same medic
        mids = [
            await fleet.send("dili", "person:amy@dili", to, f"message {i}", priority=priority)
            for i, priority in enumerate(("emergency", "normal", "bulk"))
        ]

        async def arrived() -> bool:
            return sorted(await _inbox_ids(fleet)) == sorted(mids)

        await wait_until(arrived, timeout=30)
        for mid in mids:
            read = {"command_id": uuid7(), "message_id": mid, "reader": MEDIC}
            await fleet.ok("yangon-north", "read", read)

        async def all_read() -> bool:
            for mid in mids:
                dests = (await fleet.status("dili", mid))["destinations"]
                if not any(d["site"] == "yangon-north" and d["read_by"] for d in dests):
                    return False
            return True

        await wait_until(all_read, timeout=30)
        assert sorted(await _inbox_ids(fleet)) == sorted(mids)  # once each, whatever the paths
        await wait_until(lambda: _reactors_idle(fleet), timeout=30)
        await asyncio.sleep(1.0)
        before = await _counts(fleet)
        states = [await fleet.states("dili", mid) for mid in mids]

        # Every reactor at every site sees every event again, as after losing its consumer.
        everywhere = [(b.comms.site, r) for b in fleet.built.values() for r in b.consumers.reactors]
        await asyncio.gather(*(r.stop() for _, r in everywhere))
        for site, reactor in everywhere:
            await fleet.net.js(site).delete_consumer(reactor.stream, reactor.name)
        await asyncio.gather(*(r.start() for _, r in everywhere))
        await asyncio.sleep(1.0)
        await wait_until(lambda: _reactors_idle(fleet), timeout=60)
        await asyncio.sleep(1.0)
        assert await _counts(fleet) == before
        assert [await fleet.states("dili", mid) for mid in mids] == states
        assert sorted(await _inbox_ids(fleet)) == sorted(mids)
