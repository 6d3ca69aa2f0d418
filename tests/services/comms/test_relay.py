"""Messages across sites against real nats-servers: custody, delivery, reads and receipts."""

from __future__ import annotations

from pathlib import Path

from tests.services.comms.kit import comms_sites
from tests.sitekit import wait_until


async def test_message_crosses_two_links_and_its_receipts_come_back(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        mid = await fleet.send(
            "dili", "person:amy@dili", ["role:medic@yangon-north"], "need insulin at ward 4"
        )

        async def delivered() -> bool:
            return (await fleet.states("dili", mid)) == {"yangon-north": "delivered"}

        await wait_until(delivered, timeout=30)
        inbox = await fleet.inbox("role:medic@yangon-north", "yangon-north")
        assert [m["body"] for m in inbox] == ["need insulin at ward 4"]
        await fleet.ok(
            "yangon-north",
            "read",
            {
                "command_id": __import__("shared.ids").ids.uuid7(),
                "message_id": mid,
                "reader": "role:medic@yangon-north",
            },
        )

        async def read() -> bool:
            status = await fleet.status("dili", mid)
            return status["state"] == "read"

        await wait_until(read, timeout=30)
        hub_view = await fleet.status("hub", mid)
        assert hub_view["body"] is None  # the hub holds no key: it relays ciphertext only
