"""Remittance benchmarks: transfers per second through the whole lifecycle, beside the raw append
rate of the same server measured in the same run, with and without an fsync on every write.

One lifecycle is six appends through the service's own application layer (the code behind the NATS
and HTTP edges): pledge, fund and dispatch at the hub, the treasurer's confirmation and a
disbursement at the site, and the hub's reactor noting the receipt on the transfer (sourced from the
site's stream). The baseline is ``js.publish_async`` of the same number of event-sized messages,
expressed as transfers per second (appends per second / 6).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from bench.harness import PlainAppends, Row, Timer, server
from services.remittance.__main__ import prepare
from services.remittance.donations import Donations
from services.remittance.handlers import Handlers
from services.remittance.rails import ManualRail
from services.remittance.schemas import (
    ConfirmReceiptRequest,
    DisburseRequest,
    DispatchRequest,
    FundRequest,
    PledgeRequest,
    RegisterGroupRequest,
)
from services.remittance.subscribers import site_facts_reactor
from services.remittance.treasury import Treasury
from shared.endpoints import NotFound
from shared.ids import uuid7
from shared.streams import SourceSpec, StreamSpec, dead_letter_stream, ensure_stream, event_stream
from shared.subjects import events_for_site

TRANSFERS = 2_000
GROUPS = 200
CONCURRENCY = 200
APPENDS_PER_TRANSFER = 6
SITE = "dili"
NOTES = (
    "A transfer's lifecycle is six appends with dedup and expected-sequence checks (pledge, fund, "
    "dispatch at the hub; confirmation and disbursement at the site; the hub's reactor noting the "
    "receipt, read from the site's stream by sourcing), on one server holding both sites' streams. "
    "Baseline: pipelined `js.publish_async` of event-sized messages on the same server, divided by "
    "six. The floor is the least any Python service can do for the lifecycle here: the same six "
    "appends per transfer in order, each with its expected sequence and dedup id, by plain "
    "`js.publish` from as many concurrent transfers, with no validation, decision or ledger; its "
    "ratio is the ceiling of the lifecycle's. `sync_interval: always` makes the server fsync "
    "every write before acknowledging it: that "
    "is the price of an acknowledged payment surviving a power cut, and the default for money. "
    "Without fsync the lifecycle is bound by Python CPU (0.7 to 0.9 ms of CPU per transfer in one "
    "process)."
)


async def _streams(nc: NATS) -> None:
    js = nc.jetstream()
    from_site = (SourceSpec(f"REMIT_{SITE.upper()}", f"ev.remit.{SITE}.>"),)
    await ensure_stream(js, event_stream("remit", "hub", sources=from_site))
    from_hub = tuple(SourceSpec("REMIT_HUB", f) for f in events_for_site("remit", SITE))
    await ensure_stream(js, event_stream("remit", SITE, sources=from_hub))
    for site in ("hub", SITE):
        await ensure_stream(js, dead_letter_stream(site))


async def raw_appends(nc: NATS, count: int) -> float:
    js = nc.jetstream(publish_async_max_pending=4000)
    await ensure_stream(js, StreamSpec(name="RAW", subjects=("raw.>",), allow_atomic=False))
    payload = b"x" * 700  # about a TransferDispatched envelope
    timer = Timer()
    for i in range(count):
        await js.publish_async(f"raw.{i % 500}", payload)
    await js.publish_async_completed()
    return timer.rate(count)


async def floor_lifecycle(nc: NATS, count: int) -> float:
    """The floor of any Python service for this lifecycle here: the same six appends per transfer,
    one after another, each with the expected last subject sequence and an id for dedup, from as
    many concurrent transfers, by plain ``js.publish``: no validation, decision, ledger or
    idempotency check. What the service adds is the rest of its cost."""
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="FLOOR", subjects=("floor.>",), allow_atomic=False))
    payload = b"x" * 700
    appends = PlainAppends(js)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def append(subject: str) -> None:
        await appends.append(subject, payload)

    async def one(i: int) -> None:
        async with sem:
            transfer = uuid7()
            for _ in ("pledge", "fund", "dispatch"):
                await append(f"floor.hub.transfer.{transfer}")
            await append(f"floor.site.confirmation.{transfer}")
            await append(f"floor.site.group.{i % GROUPS}")  # the disbursement
            await append(f"floor.hub.transfer.{transfer}")  # the receipt noted at the hub

    timer = Timer()
    await asyncio.gather(*(one(i) for i in range(count)))
    return timer.rate(count)


async def lifecycle(nc: NATS, tmp: Path) -> float:
    await _streams(nc)
    hub, site = Handlers(nc, "hub", tmp / "hub.db"), Handlers(nc, SITE, tmp / "site.db")
    prepare(tmp / "hub.db")
    prepare(tmp / "site.db")
    donations, treasury = Donations(hub, {"manual": ManualRail()}), Treasury(site)
    groups = [f"group-{i}" for i in range(GROUPS)]
    for group in groups:
        await donations.register_group(
            RegisterGroupRequest(registration_id=uuid7(), group_id=group, site=SITE, label=group)
        )
    for group in groups:  # the registrations reach the site's stream
        while True:
            try:
                await site.group(group)
                break
            except NotFound:
                await asyncio.sleep(0.05)
    reactor = site_facts_reactor(nc, hub)
    await reactor.start()
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            tid, group = uuid7(), groups[i % GROUPS]
            await donations.pledge(
                PledgeRequest(
                    transfer_id=tid,
                    donor_ref="d-1",
                    group_id=group,
                    amount="100.00",
                    currency="GBP",
                )
            )
            await donations.fund(
                FundRequest(
                    funding_id=uuid7(),
                    transfer_id=tid,
                    collector_ref="c-1",
                    amount="100.00",
                    currency="GBP",
                )
            )
            sent = await donations.dispatch(
                DispatchRequest(
                    dispatch_id=uuid7(),
                    transfer_id=tid,
                    channel="agent",
                    agent_ref="a-1",
                    fee="2.00",
                    rate="4850.25",
                    to_currency="MMK",
                )
            )
            await treasury.confirm_receipt(
                ConfirmReceiptRequest(
                    confirmation_id=uuid7(),
                    group_id=group,
                    transfer_id=tid,
                    amount=sent["delivered"],
                    currency="MMK",
                )
            )
            await treasury.disburse(
                DisburseRequest(
                    disbursement_id=uuid7(),
                    group_id=group,
                    amount=sent["delivered"],
                    currency="MMK",
                    purpose="food",
                    receipt_ref="r-1",
                )
            )

    timer = Timer()
    await asyncio.gather(*(one(i) for i in range(TRANSFERS)))
    # Every receipt noted on its transfer at the hub: the reactor takes in each transfer's
    # confirmation and its disbursement (both on the group's account; it skips the latter).
    while reactor.handled < 2 * TRANSFERS:
        await asyncio.sleep(0.01)
    rate = timer.rate(TRANSFERS)
    await reactor.stop()
    return rate


async def _measure(sync_always: bool) -> tuple[float, float, float]:
    with server(sync_always=sync_always) as srv, tempfile.TemporaryDirectory() as tmp:
        nc = await nats.connect(srv.url)
        try:
            raw = await raw_appends(nc, TRANSFERS * APPENDS_PER_TRANSFER)
            floor = await floor_lifecycle(nc, TRANSFERS)
            ours = await lifecycle(nc, Path(tmp))
        finally:
            await nc.close()
    return ours, floor, raw / APPENDS_PER_TRANSFER


async def run() -> list[Row]:
    rows = []
    for sync_always, label in ((False, "default sync"), (True, "sync_interval: always")):
        ours, floor, raw = await _measure(sync_always)
        rows += [
            Row(
                f"transfers through the full lifecycle ({label})",
                ours,
                "transfers/s",
                "js.publish_async / 6",
                raw,
                0.25,
            ),
            Row(
                f"the floor: the same six appends by plain js.publish ({label})",
                floor,
                "transfers/s",
                "js.publish_async / 6",
                raw,
            ),
        ]
    return rows
