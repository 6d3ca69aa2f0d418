"""``aidmesh demo remittance``: a scripted day against the running deployment (``make up``).

A donor in London gives to a kitchen collective in Dili. The collector records the money and hands
it to an agent; Dili's link goes down; the treasurer confirms the cash and pays for rice while cut
off (each record sent twice, as a flaky phone would); the link returns and the donor's report shows
what the money did. A second pledge goes through the sandbox rail, a *simulated* provider whose
callbacks arrive late, twice and out of order, and is funded once.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from shared import cliclient, linksim
from shared.deployment import Deployment
from shared.ids import uuid7

GROUP, SITE = "dili-solidarity-kitchen", "dili"


class DemoFailed(Exception):
    pass


async def _ask(site: str, command: str, payload: dict[str, Any]) -> Any:
    reply = await cliclient.send(
        cliclient.site_url(site), f"cmd.{site}.remit.{command}", payload, timeout=20
    )
    if not reply.ok:
        assert reply.error is not None
        raise DemoFailed(f"{command} at {site}: {reply.error.code}: {reply.error.message}")
    return reply.result


async def _until(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.5)
    raise DemoFailed(f"gave up waiting: {what}")


def say(text: str) -> None:
    print(text, flush=True)


async def _day() -> None:
    dep = Deployment.load()
    link = dep.endpoint(SITE).link_control_port
    await _ask(
        "hub",
        "register_group",
        {
            "registration_id": uuid7(),
            "group_id": GROUP,
            "site": SITE,
            "label": "Dili solidarity kitchen",
        },
    )
    registration = {"registration_id": uuid7(), "email": "donor@example.org"}
    donor = (await _ask("hub", "register_donor", registration))["donor_ref"]
    say(f"donor registered as {donor} (the e-mail stays in the hub's vault)")

    async def group_known_at_site() -> bool:
        reply = await cliclient.send(
            cliclient.site_url(SITE), f"cmd.{SITE}.remit.group_report", {"group_id": GROUP}
        )
        return reply.ok

    await _until("the group's registration reaches dili", group_known_at_site)
    transfer = uuid7()
    pledged = await _ask(
        "hub",
        "pledge",
        {
            "transfer_id": transfer,
            "donor_ref": donor,
            "group_id": GROUP,
            "amount": "120.00",
            "currency": "GBP",
        },
    )
    say(f"pledged 120.00 GBP: {pledged['instructions']}")
    await _ask(
        "hub",
        "fund",
        {
            "funding_id": uuid7(),
            "transfer_id": transfer,
            "collector_ref": "collector-london-1",
            "amount": "120.00",
            "currency": "GBP",
        },
    )
    sent = await _ask(
        "hub",
        "dispatch",
        {
            "dispatch_id": uuid7(),
            "transfer_id": transfer,
            "channel": "agent",
            "agent_ref": "agent-darwin-2",
            "fee": "3.00",
            "rate": "1.2675",
            "to_currency": "USD",
        },
    )
    say(f"funded and handed to the agent: {sent['delivered']} USD on its way")

    await linksim.request(link, {"op": "down", "mode": "refuse"})
    say("dili's link is DOWN")
    try:
        for command, payload in (
            (
                "confirm_receipt",
                {
                    "confirmation_id": uuid7(),
                    "group_id": GROUP,
                    "transfer_id": transfer,
                    "amount": sent["delivered"],
                    "currency": "USD",
                },
            ),
            (
                "disburse",
                {
                    "disbursement_id": uuid7(),
                    "group_id": GROUP,
                    "amount": "100.00",
                    "currency": "USD",
                    "purpose": "food",
                    "receipt_ref": "book-2/31",
                },
            ),
            (
                "disburse",
                {
                    "disbursement_id": uuid7(),
                    "group_id": GROUP,
                    "amount": str(Decimal(sent["delivered"]) - 100),
                    "currency": "USD",
                    "purpose": "supplies",
                    "receipt_ref": "book-2/32",
                },
            ),
        ):
            for _ in range(2):  # a flaky phone sends every record twice
                await _ask(SITE, command, payload)
            say(f"  offline at dili: {command} {payload['amount']} USD (sent twice)")
    finally:
        await linksim.request(link, {"op": "up"})
    say("dili's link is UP again")

    async def spent() -> Any:
        report = await _ask("hub", "donor_report", {"donor_ref": donor})
        mine = [t for t in report["transfers"] if t["transfer_id"] == transfer]
        return mine[0] if mine and mine[0]["state"] == "disbursed" else None

    mine = await _until("the donor's report shows the disbursements", spent)
    for d in mine["disbursements"]:
        say(f"  your money: {d['from_this_transfer']['amount']} USD for {d['purpose']}")
    sandbox = uuid7()
    await _ask(
        "hub",
        "pledge",
        {
            "transfer_id": sandbox,
            "donor_ref": donor,
            "group_id": GROUP,
            "amount": "25.00",
            "currency": "EUR",
            "rail": "sandbox",
        },
    )

    async def funded() -> bool:
        status = await _ask("hub", "transfer_status", {"transfer_id": sandbox})
        return bool(status["state"] == "funded")

    await _until("the sandbox rail's callbacks fund the pledge", funded)
    say("sandbox pledge funded once, whatever the callbacks did")
    check = await _ask("hub", "ledger_check", {})
    if not check["balanced"]:
        raise DemoFailed(f"the ledger does not balance: {check}")
    say(f"ledger balanced over {check['postings']} postings: {check['sum_per_currency']}")


def run() -> int:
    try:
        asyncio.run(_day())
    except (DemoFailed, OSError, KeyError) as exc:
        print(f"remittance demo failed: {exc}", flush=True)
        return 1
    return 0
