"""Messages across sites against real nats-servers: custody, delivery, reads and receipts."""

from __future__ import annotations

from pathlib import Path

from shared.ids import uuid7
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


async def test_bytes_are_counted_per_class_on_each_link(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        for priority in ("emergency", "bulk"):
            await fleet.send(
                "dili", "person:amy@dili", ["role:medic@yangon-north"], "x" * 200, priority=priority
            )

        def rows(site: str) -> dict[tuple[str, str, str], int]:
            return {
                (r["site"], r["direction"], r["class"]): r["bytes"]
                for r in fleet.comms[site].reads.traffic()
            }

        def counted() -> bool:
            at_hub = rows("hub")
            return all(
                at_hub.get(key, 0) > 0
                for key in (
                    ("dili", "up", "emergency"),
                    ("dili", "up", "bulk"),
                    ("yangon-north", "down", "emergency"),
                    ("yangon-north", "down", "bulk"),
                    ("yangon-north", "up", "emergency"),
                    ("dili", "down", "emergency"),
                )
            )

        await wait_until(counted, timeout=30)
        traffic = await fleet.ok("dili", "traffic", {})
        classes = {(r["direction"], r["class"]) for r in traffic["events"] if r["site"] == "dili"}
        assert {("up", "emergency"), ("up", "bulk")} <= classes
        assert {v["class"] for v in traffic["valves"]} == {"high", "normal", "bulk"}
        # What left dili for the hub per class is exactly what the hub counts as arrived from dili.
        await wait_until(
            lambda: rows("dili")[("dili", "up", "bulk")] == rows("hub")[("dili", "up", "bulk")],
            timeout=30,
        )


async def test_a_message_is_resent_to_whom_it_has_not_reached(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north", "role:cook@hub")
        await fleet.net.link("yangon-north").down("refuse")
        to = ["role:medic@yangon-north", "role:cook@hub"]
        mid = await fleet.send("dili", "person:amy@dili", to, "water truck at 6", priority="bulk")

        async def reached_hub() -> bool:
            states = await fleet.states("dili", mid)
            return states.get("hub") == "delivered" and states.get("yangon-north") == "accepted"

        await wait_until(reached_hub, timeout=30)
        resent = await fleet.ok(
            "dili", "resend", {"message_id": uuid7(), "original": mid, "priority": "emergency"}
        )
        assert resent["priority"] == "emergency"
        new = await fleet.status("dili", resent["message_id"])
        assert new["to"] == ["role:medic@yangon-north"]  # the hub has it already
        assert new["resend_of"] == mid
        await fleet.net.link("yangon-north").up()

        async def one_copy_in_the_inbox() -> bool:
            inbox = await fleet.inbox("role:medic@yangon-north", "yangon-north")
            states = await fleet.states("dili", mid)
            return len(inbox) == 1 and states.get("yangon-north") == "delivered"

        await wait_until(one_copy_in_the_inbox, timeout=60)
        (shown,) = await fleet.inbox("role:medic@yangon-north", "yangon-north")
        assert shown["body"] == "water truck at 6"
        assert (await fleet.status("dili", mid))["resent_as"] == resent["message_id"]
