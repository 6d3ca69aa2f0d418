"""Alerts against real nats-servers: broadcast to an area with per-site acknowledgement, and raised
by themselves when the requests service reports an urgent request nobody has claimed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.requests.events import UrgentRequestUnclaimed
from shared.envelope import EventRegistry, make_envelope
from shared.eventstore import EventStore
from shared.ids import derived_id, uuid7
from shared.subjects import AggregateRef
from tests.services.comms.kit import Fleet, comms_sites
from tests.sitekit import wait_until


async def _board(fleet: Fleet, site: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await fleet.ok(site, "board", {"limit": 20}))["items"]
    return result


async def test_an_alert_reaches_every_site_and_each_acknowledges(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("role:coordinator@dili", "person:zaw@yangon-north")
        alert_id = uuid7()
        await fleet.ok(
            "dili",
            "raise_alert",
            {
                "alert_id": alert_id,
                "raised_by": "role:coordinator@dili",
                "severity": "evacuate",
                "text": "River rising: move to the school on the hill",
            },
        )

        async def received_everywhere() -> bool:
            board = await _board(fleet, "dili")
            sites = {s["site"]: s for s in board[0]["sites"]} if board else {}
            return set(sites) == {"hub", "dili", "yangon-north"} and all(
                s["received_at"] for s in sites.values()
            )

        await wait_until(received_everywhere, timeout=30)
        await fleet.ok(
            "yangon-north",
            "ack_alert",
            {"command_id": uuid7(), "alert_id": alert_id, "by": "person:zaw@yangon-north"},
        )

        async def acknowledged() -> bool:
            board = await _board(fleet, "dili")
            return board[0]["waiting_for"] == ["dili", "hub"]

        await wait_until(acknowledged, timeout=30)
        (alert,) = await _board(fleet, "hub")
        assert alert["text"] == "River rising: move to the school on the hill"
        by_site = {s["site"]: s for s in alert["sites"]}
        assert by_site["yangon-north"]["acknowledged_by"] == ["person:zaw@yangon-north"]


async def test_an_alert_for_an_area_asks_only_its_sites(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("role:coordinator@dili")
        alert_id = uuid7()
        await fleet.ok(
            "dili",
            "raise_alert",
            {
                "alert_id": alert_id,
                "raised_by": "role:coordinator@dili",
                "text": "Checkpoint on the north road",
                "area": ["yangon-north"],
            },
        )

        async def received() -> bool:
            board = await _board(fleet, "yangon-north")
            return bool(board) and [s["site"] for s in board[0]["sites"] if s["received_at"]] == [
                "yangon-north"
            ]

        await wait_until(received, timeout=30)
        (alert,) = await _board(fleet, "hub")
        assert alert["area"] == ["yangon-north"]


async def test_an_urgent_request_nobody_claimed_raises_an_alert(tmp_path: Path) -> None:
    async with comms_sites(tmp_path, other_contexts=("requests",)) as fleet:
        store = EventStore(fleet.net.nc("dili"), EventRegistry(UrgentRequestUnclaimed), "dili")
        request_id = uuid7()
        ref = AggregateRef("requests", "request", request_id, "dili")
        command = uuid7()
        unclaimed = UrgentRequestUnclaimed(
            request_id=request_id, category="medicine", urgency="urgent", ward="ward-4", minutes=45
        )
        stale = datetime.now(UTC) - timedelta(days=2)
        for payload, when, version in ((unclaimed, stale, 0), (unclaimed, None, 1)):
            env = make_envelope(
                payload,
                event_id=derived_id(command, version),
                aggregate=ref,
                occurred_at=when or datetime.now(UTC),
                actor="requests@dili",
                correlation_id=command,
            )
            await store.append(ref, [env], version)

        async def raised() -> list[dict[str, Any]]:
            return [a for a in await _board(fleet, "hub") if a["source"] == "requests"]

        await wait_until(raised, timeout=30)
        (alert,) = await raised()  # one alert: the stale report raises none
        assert alert["origin"] == "dili"
        assert alert["area"] == ["dili"]
        assert alert["ward"] == "ward-4"
        assert "medicine" in alert["text"] and "45 min" in alert["text"]
