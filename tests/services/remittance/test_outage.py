"""The acceptance run, against real nats-servers: a donor pledges and funds at the hub while the
site is cut off; the site confirms receipt and disburses to a kitchen need offline, every record sent
twice; the link returns; the donor's report shows the disbursement and the ledger balances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared.ids import uuid7
from shared.sites import Sites
from tests.services.remittance.kit import Kitchen, ask, must, remittance
from tests.sitekit import running_sites, wait_until

pytestmark = pytest.mark.slow
GROUP = "err-bahri-7"


@asynccontextmanager
async def hub_and_dili(tmp: Path) -> AsyncIterator[Sites]:
    """The hub and the site dili, each running the remittance service."""
    async with (
        running_sites(tmp, sites=("dili",), contexts=("requests", "remit")) as net,
        remittance(net, "hub", tmp / "var"),
        remittance(net, "dili", tmp / "var"),
    ):
        yield net


async def twice(nc: Any, site: str, command: str, payload: dict[str, Any]) -> Any:
    """Send a record, then send it again as a device would after a lost reply."""
    first = await must(nc, site, command, payload)
    again = await must(nc, site, command, payload)
    assert again == first or command in ("pledge", "fund", "dispatch")
    return first


async def test_a_transfer_completes_across_an_outage_and_no_money_appears_twice(
    tmp_path: Path,
) -> None:
    async with hub_and_dili(tmp_path) as net:
        hub, dili = net.nc("hub"), net.nc("dili")
        await must(
            hub,
            "hub",
            "register_group",
            {"registration_id": uuid7(), "group_id": GROUP, "site": "dili", "label": "ERR Bahri 7"},
        )
        kitchen = Kitchen(dili, "dili", "kitchen-bahri-1")
        await kitchen.need("need-rice-200kg", 30_000_000)

        async def hub_sees_the_need() -> bool:
            needs = await must(hub, "hub", "open_needs", {})
            return any(n["need_id"] == "need-rice-200kg" for n in needs["needs"])

        await wait_until(hub_sees_the_need, timeout=60)
        await wait_until(lambda: _site_knows_group(dili), timeout=60)

        await net.link("dili").down("refuse")
        transfer = uuid7()
        await twice(
            hub,
            "hub",
            "pledge",
            {
                "transfer_id": transfer,
                "donor_ref": "donor-amina",
                "group_id": GROUP,
                "need_id": "need-rice-200kg",
                "amount": "100.00",
                "currency": "GBP",
            },
        )
        await twice(
            hub,
            "hub",
            "fund",
            {
                "funding_id": uuid7(),
                "transfer_id": transfer,
                "collector_ref": "collector-london",
                "amount": "100.00",
                "currency": "GBP",
            },
        )
        sent = await twice(
            hub,
            "hub",
            "dispatch",
            {
                "dispatch_id": uuid7(),
                "transfer_id": transfer,
                "channel": "agent",
                "agent_ref": "hawala-7",
                "fee": "2.00",
                "rate": "4850.25",
                "to_currency": "MMK",
            },
        )
        assert sent["delivered"] == "475324.50"

        received_at = datetime(2025, 3, 2, 8, 30, tzinfo=UTC).isoformat()
        confirmation = {
            "confirmation_id": uuid7(),
            "group_id": GROUP,
            "transfer_id": transfer,
            "amount": "475324.50",
            "currency": "MMK",
            "received_at": received_at,
        }
        await twice(dili, "dili", "confirm_receipt", confirmation)
        await twice(
            dili,
            "dili",
            "disburse",
            {
                "disbursement_id": uuid7(),
                "group_id": GROUP,
                "amount": "475324.50",
                "currency": "MMK",
                "purpose": "kitchen_need",
                "need_id": "need-rice-200kg",
                "receipt_ref": "book-4/17",
            },
        )
        await kitchen.met("need-rice-200kg")
        await kitchen.meals(datetime.now(UTC).date(), 180)
        offline = await must(dili, "dili", "group_balance", {"group_id": GROUP})
        assert offline["balance"] == []  # all of it spent, none of it twice

        await net.link("dili").up()
        await must(dili, "dili", "confirm_receipt", confirmation)  # a third time, once linked

        async def report() -> dict[str, Any]:
            result: dict[str, Any] = await must(
                hub, "hub", "donor_report", {"donor_ref": "donor-amina"}
            )
            return result

        async def disbursed() -> bool:
            r = await report()
            return (
                bool(r["transfers"])
                and r["transfers"][0]["state"] == "disbursed"
                and bool(r["kitchens"] and r["kitchens"][0]["meals_served_since"])
            )

        await wait_until(disbursed, timeout=90)
        mine = (await report())["transfers"][0]
        assert [t["state"] for t in mine["timeline"]] == ["pledged", "funded", "sent", "received"]
        assert mine["timeline"][-1]["at"].startswith("2025-03-02T08:30")  # when it was received
        (spent,) = mine["disbursements"]
        assert spent["from_this_transfer"] == {"amount": "475324.50", "currency": "MMK"}
        assert spent["need"]["met"] is True
        assert mine["received"] == [{"amount": "475324.50", "currency": "MMK"}]  # per currency

        async def ledgers_caught_up() -> bool:
            """The ledgers are read models of their own, each at its own pace behind the report's:
            the site's settles its transit only once the dispatch has crossed and been folded."""
            hub_check = await must(hub, "hub", "ledger_check", {})
            dili_check = await must(dili, "dili", "ledger_check", {})
            return bool(
                hub_check["postings"] >= 11
                and not hub_check["in_transit"]
                and not dili_check["in_transit"]
            )

        await wait_until(ledgers_caught_up, timeout=60)
        for site, nc in (("hub", hub), ("dili", dili)):
            check = await must(nc, site, "ledger_check", {})
            assert check["balanced"], check
            assert set(check["sum_per_currency"].values()) <= {"0.00"}
            assert check["in_transit"] == [], check
        check = await must(hub, "hub", "ledger_check", {})
        # funding 2 legs, dispatch 5, receipt 2, disbursement 2: each once, though each was sent twice
        assert check["postings"] == 11


async def _site_knows_group(dili: Any) -> bool:
    reply = await ask(dili, "dili", "group_report", {"group_id": GROUP})
    return reply.ok


async def _sent_to_the_group(
    hub: Any, dili: Any, donor: str, amount: str, currency: str, dispatch: dict[str, str]
) -> str:
    """The hub's half of a transfer to GROUP at dili: registered, pledged, funded, dispatched."""
    await must(
        hub,
        "hub",
        "register_group",
        {"registration_id": uuid7(), "group_id": GROUP, "site": "dili", "label": "ERR"},
    )
    await wait_until(lambda: _site_knows_group(dili), timeout=60)
    transfer = uuid7()
    pledge = {"donor_ref": donor, "group_id": GROUP, "amount": amount, "currency": currency}
    await must(hub, "hub", "pledge", {"transfer_id": transfer, **pledge})
    funding = {"collector_ref": "c-9", "amount": amount, "currency": currency}
    await must(hub, "hub", "fund", {"funding_id": uuid7(), "transfer_id": transfer, **funding})
    await must(
        hub, "hub", "dispatch", {"dispatch_id": uuid7(), "transfer_id": transfer, **dispatch}
    )
    return transfer


async def test_a_shortfall_disputed_at_the_site_is_resolved_at_the_hub_and_late_money_recovered(
    tmp_path: Path,
) -> None:
    async with hub_and_dili(tmp_path) as net:
        hub, dili = net.nc("hub"), net.nc("dili")
        transfer = await _sent_to_the_group(
            hub,
            dili,
            "donor-b",
            "200.00",
            "USD",
            {"channel": "hand_carry", "agent_ref": "courier-2", "rate": "1", "to_currency": "USD"},
        )
        await net.link("dili").down("freeze")
        await must(
            dili,
            "dili",
            "confirm_receipt",
            {
                "confirmation_id": uuid7(),
                "group_id": GROUP,
                "transfer_id": transfer,
                "amount": "150.00",
                "currency": "USD",
            },
        )
        await must(
            dili,
            "dili",
            "dispute",
            {
                "dispute_id": uuid7(),
                "group_id": GROUP,
                "transfer_id": transfer,
                "reason": "less_than_sent",
            },
        )
        await net.link("dili").up()

        async def state() -> str:
            status = await ask(hub, "hub", "transfer_status", {"transfer_id": transfer})
            return str(status.result["state"]) if status.ok else ""

        await wait_until(lambda: _is(state, "disputed"), timeout=90)
        await must(
            hub,
            "hub",
            "resolve",
            {"resolution_id": uuid7(), "transfer_id": transfer, "resolution": "write_off"},
        )
        await wait_until(lambda: _is(state, "resolved"), timeout=60)

        async def settled() -> bool:  # the ledger is its own read model, behind the status's
            return not (await must(hub, "hub", "ledger_check", {}))["in_transit"]

        await wait_until(settled, timeout=60)
        check = await must(hub, "hub", "ledger_check", {})
        assert check["balanced"] and check["in_transit"] == []
        # the rest turns up after all: confirmed as additional, it wins back the write-off
        await must(
            dili,
            "dili",
            "confirm_receipt",
            {
                "confirmation_id": uuid7(),
                "group_id": GROUP,
                "transfer_id": transfer,
                "amount": "50.00",
                "currency": "USD",
                "additional": True,
            },
        )

        async def recovered() -> bool:
            result = await must(hub, "hub", "ledger_check", {})
            return bool(
                result["postings"] == 12
            )  # fund, send, receive, write off, receive, recover

        await wait_until(recovered, timeout=60)
        check = await must(hub, "hub", "ledger_check", {})
        assert check["balanced"] and check["in_transit"] == []
        assert await state() == "resolved"  # one outcome, kept


async def _is(state: Any, expected: str) -> bool:
    return bool(await state() == expected)


async def test_the_hub_killed_mid_transfer_resumes_and_the_ledger_balances(tmp_path: Path) -> None:
    """The hub's nats-server dies (power cut) after a dispatch, under its running remittance
    service; the site confirms and disburses meanwhile. When the hub is back, the same service
    notes the receipt (its reactor resumes where it was), and both ledgers balance with every
    posting once."""
    async with hub_and_dili(tmp_path) as net:
        hub, dili = net.nc("hub"), net.nc("dili")
        dispatch = {"channel": "mobile_money", "agent_ref": "wallet-3", "fee": "1.00"}
        transfer = await _sent_to_the_group(
            hub, dili, "donor-c", "50.00", "EUR", {**dispatch, "rate": "1000", "to_currency": "MMK"}
        )

        await net.kill_server("hub")
        confirmation = {
            "confirmation_id": uuid7(),
            "group_id": GROUP,
            "transfer_id": transfer,
            "amount": "49000.00",
            "currency": "MMK",
        }
        await must(dili, "dili", "confirm_receipt", confirmation)
        await must(
            dili,
            "dili",
            "disburse",
            {
                "disbursement_id": uuid7(),
                "group_id": GROUP,
                "amount": "40000.00",
                "currency": "MMK",
                "purpose": "food",
                "receipt_ref": "book-9/2",
            },
        )
        await net.start_server("hub")

        async def noted() -> bool:
            try:  # until the service is back on the restarted server
                reply = await ask(hub, "hub", "transfer_status", {"transfer_id": transfer})
            except (NoRespondersError, NatsTimeout):
                return False
            return reply.ok and reply.result["received"] == [
                {"amount": "49000.00", "currency": "MMK"}
            ]

        await wait_until(noted, timeout=90, step=0.5)

        async def settled(nc: Any, site: str) -> bool:
            # the receipt settles the transit; the disbursement, written after it, may still be
            # on its way into the ledger
            check = await must(nc, site, "ledger_check", {})
            return bool(check["balanced"] and check["in_transit"] == [] and check["postings"] >= 11)

        await wait_until(lambda: settled(hub, "hub"), timeout=60)
        await wait_until(lambda: settled(dili, "dili"), timeout=60)
        check = await must(hub, "hub", "ledger_check", {})
        # funding 2 legs, dispatch 5, receipt 2, disbursement 2: each once
        assert check["postings"] == 11, check
        status = await must(hub, "hub", "transfer_status", {"transfer_id": transfer})
        assert [t["state"] for t in status["timeline"]] == ["pledged", "funded", "sent", "received"]
