"""A message whose lifetime ends during an outage is not delivered, and its sender is told: at once
(provisionally) by whoever holds it, and definitively once the link lets the answer through."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.services.comms.kit import Fleet, comms_sites
from tests.sitekit import wait_until

pytestmark = pytest.mark.slow


async def _state_is(fleet: Fleet, mid: str, site: str, expected: str) -> bool:
    return (await fleet.states("dili", mid)).get(site) == expected


async def _inbox_ids(fleet: Fleet) -> set[str]:
    inbox: list[dict[str, Any]] = await fleet.inbox("role:medic@yangon-north", "yangon-north")
    return {m["message_id"] for m in inbox}


async def test_lifetime_ending_while_the_sender_is_cut_off(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        await fleet.net.link("dili").down("refuse")
        mid = await fleet.send(
            "dili",
            "person:amy@dili",
            ["role:medic@yangon-north"],
            "meet at the clinic at noon",
            lifetime_seconds=2,
        )
        assert (await fleet.states("dili", mid)) == {"yangon-north": "queued"}
        # The sender's site sees the lifetime end with nobody confirming: the report is local.
        await wait_until(lambda: _state_is(fleet, mid, "yangon-north", "expired?"), timeout=30)
        status = await fleet.status("dili", mid)
        assert "before the hub confirmed" in status["destinations"][0]["reason"]

        await fleet.net.link("dili").up()
        # The hub refuses custody of what reached it too late: definitive, and nothing is relayed.
        await wait_until(lambda: _state_is(fleet, mid, "yangon-north", "expired"), timeout=60)
        status = await fleet.status("dili", mid)
        assert status["destinations"][0]["reason"] == "reached the hub after its lifetime"
        await asyncio.sleep(1.0)
        assert mid not in await _inbox_ids(fleet)
        assert (await fleet.status("hub", mid))["state"] == "expired"


async def test_lifetime_ending_while_the_recipient_is_cut_off(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        await fleet.net.link("yangon-north").down("refuse")
        mid = await fleet.send(
            "dili",
            "person:amy@dili",
            ["role:medic@yangon-north"],
            "the convoy leaves at 14:00",
            lifetime_seconds=3,
        )
        await wait_until(lambda: _state_is(fleet, mid, "yangon-north", "accepted"), timeout=30)
        # The hub holds it; the lifetime ends with the recipient silent: the sender is told.
        await wait_until(lambda: _state_is(fleet, mid, "yangon-north", "expired?"), timeout=30)

        await fleet.net.link("yangon-north").up()
        # The copy reaches the recipient's site too late: it is not delivered, and says so.
        await wait_until(lambda: _state_is(fleet, mid, "yangon-north", "expired"), timeout=60)
        status = await fleet.status("dili", mid)
        assert status["destinations"][0]["reason"] == "reached the site too late"
        assert mid not in await _inbox_ids(fleet)
        here = await fleet.status("yangon-north", mid)
        assert "expired_here" in here
        assert "delivered_here" not in here
