"""Field sites over intermittent links, against real nats-servers on loopback (stopped by PID)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.commands import CommandHandler, CommandMeta
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.linksim import Mode
from shared.projector import ProjectionRunner
from shared.sites import Sites
from shared.status import LinkStatus
from shared.subjects import AggregateRef
from tests.sitekit import assert_holds_exactly, read_stream, running_sites, wait_until, write
from tests.tally import Increment, TallyProjection, registry, tally

pytestmark = pytest.mark.slow
EVENTS = 5_000


async def outage(
    net: Sites,
    site: str,
    mode: Mode,
    during: Callable[[], Awaitable[None]] | None = None,
    flap: bool = False,
    hold: float = 0.0,
) -> float:
    """Cut the link, write 5,000 events at the site and 5,000 at the hub for it, restore, and wait
    until both sides hold every event exactly once in order; returns the catch-up seconds."""
    site_refs = [AggregateRef("tally", "tally", uuid7(), site) for _ in range(50)]
    hub_refs = [AggregateRef("tally", "tally", uuid7(), "hub", audience=site) for _ in range(50)]
    await net.link(site).down(mode)
    from_site = await write(net.nc(site), site, site_refs, EVENTS)
    from_hub = await write(net.nc("hub"), "hub", hub_refs, EVENTS)
    if during is not None:
        await during()
    await asyncio.sleep(hold)
    started = time.monotonic()
    await net.link(site).up()
    if flap:  # a thin link, so catch-up spans several windows
        net.link(site).shape(latency_ms=20, bandwidth_bps=250_000)
        net.link(site).starlink(up_s=2.0, down_s=1.0, mode="refuse")

    async def converged() -> bool:
        b = await net.backlog(site, "tally")
        return b.up == 0 and b.down == 0

    await wait_until(converged, timeout=180, step=0.1)
    took = time.monotonic() - started
    if flap:
        net.link(site).stop_schedule()
        net.link(site).shape(latency_ms=0, bandwidth_bps=0)
        await net.link(site).up()
    hub_side = await read_stream(net.nc("hub"), "TALLY_HUB")
    site_side = await read_stream(net.nc(site), f"TALLY_{site.upper()}")
    assert_holds_exactly(hub_side, from_site)
    assert_holds_exactly(site_side, from_hub)
    hub_ids = [m[1] for m in hub_side]
    site_ids = [m[1] for m in site_side]
    assert len(hub_ids) == len(set(hub_ids))
    assert len(site_ids) == len(set(site_ids))
    print(f"\ncatch-up after a {mode} outage{' (flapping)' if flap else ''}: {took:.2f}s")
    return took


async def test_refused_link_converges_exactly_once(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:
        await outage(net, "dili", "refuse")


async def test_frozen_link_converges_exactly_once(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:
        await outage(net, "dili", "freeze", hold=35)  # long enough for both ends to drop the leaf


async def test_hub_restarted_during_outage(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:

        async def restart_hub() -> None:
            await net.stop_server("hub")
            await net.start_server("hub")

        await outage(net, "dili", "freeze", during=restart_hub)


async def test_site_restarted_during_outage(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:

        async def restart_site() -> None:
            await net.stop_server("dili")
            await net.start_server("dili")

        await outage(net, "dili", "refuse", during=restart_site)


async def test_link_flapping_during_catch_up(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:
        await outage(net, "dili", "freeze", flap=True)


async def test_site_keeps_working_while_cut_off(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:
        await net.link("dili").down("freeze")
        store = EventStore(net.nc("dili"), registry, "dili")
        handler = CommandHandler(store, tally)
        ref = AggregateRef("tally", "tally", uuid7(), "dili")
        runner = ProjectionRunner(
            net.nc("dili"),
            TallyProjection("tally_offline"),
            registry,
            db_path=tmp_path / "dili.db",
            stream="TALLY_DILI",
            site="dili",
        )
        await runner.start()
        for i in range(1, 11):
            meta = CommandMeta(uuid7(), "coordinator-1", datetime.now(UTC))
            await asyncio.wait_for(handler.handle(ref, Increment(by=i), meta), 5)

        def total() -> int | None:
            row = runner.db.execute(
                "SELECT total FROM tally_totals WHERE aggregate = ?", (ref.id,)
            ).fetchone()
            return row[0] if row else None

        await wait_until(lambda: total() == 55, timeout=10)
        await runner.stop()
        assert (await net.backlog("dili", "tally")).up == 10


async def test_second_site_outage_does_not_slow_the_first(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:
        alone = await outage(net, "dili", "refuse")
        await net.link("yangon-north").down("freeze")
        await write(
            net.nc("yangon-north"),
            "yangon-north",
            [AggregateRef("tally", "tally", uuid7(), "yangon-north") for _ in range(20)],
            2_000,
        )
        beside = await outage(net, "dili", "refuse")
        print(f"dili catch-up alone {alone:.2f}s, with yangon-north cut off {beside:.2f}s")
        assert beside < max(3 * alone, alone + 5)
        await net.link("yangon-north").up()


async def test_site_local_data_never_reaches_the_hub(tmp_path: Path) -> None:
    import nats

    async with running_sites(tmp_path) as net:
        planted = b"Daw Khin Myint +95 9 7312 4455"
        local = await nats.connect(net.local_url("dili"))
        ljs = local.jetstream()
        kv = await ljs.create_key_value(bucket="vault_dili")
        await kv.put("contact-1", planted)
        await ljs.add_stream(name="LOCAL_DILI", subjects=["local.dili.>"])
        await ljs.publish("local.dili.requests.contact", planted)
        # And from the linked account: local subjects are refused on the way out.
        await net.nc("dili").publish("local.dili.requests.contact", planted)
        await write(net.nc("dili"), "dili", [AggregateRef("tally", "tally", uuid7(), "dili")], 10)
        await wait_until(lambda: _hub_has(net, 10), timeout=30)
        hub = net.js("hub")
        for info in await hub.streams_info():
            for _, _, data in await read_stream(net.nc("hub"), info.config.name or ""):
                assert planted not in data
        # The hub cannot reach the site-local account's data through the domain API either.
        names = [s.config.name for s in await net.nc("hub").jetstream(domain="dili").streams_info()]
        assert "LOCAL_DILI" not in names
        assert "KV_vault_dili" not in names
        await local.close()


async def _hub_has(net: Sites, count: int) -> bool:
    return (await net.js("hub").stream_info("TALLY_HUB")).state.messages >= count


async def test_hub_cannot_write_into_a_site_nor_a_site_into_the_hub(tmp_path: Path) -> None:
    from nats.errors import NoRespondersError

    async with running_sites(tmp_path) as net:
        with pytest.raises(NoRespondersError):
            await net.nc("hub").request("ev.tally.dili.hub.tally.x", b"{}", timeout=2)
        with pytest.raises(NoRespondersError):
            await net.nc("dili").request("ev.tally.hub.dili.tally.x", b"{}", timeout=2)
        with pytest.raises(NoRespondersError):
            await net.nc("dili").request("ev.tally.yangon-north.hub.tally.x", b"{}", timeout=2)


async def test_a_site_added_at_run_time_syncs_without_restarts(tmp_path: Path) -> None:
    async with running_sites(tmp_path) as net:
        hub_pid = net.runtimes["hub"].server.pid
        await net.add_site("kassala")
        assert net.runtimes["hub"].server.pid == hub_pid
        written = await write(
            net.nc("kassala"), "kassala", [AggregateRef("tally", "tally", uuid7(), "kassala")], 20
        )
        await wait_until(lambda: _hub_has(net, 20), timeout=30)
        assert_holds_exactly(await read_stream(net.nc("hub"), "TALLY_HUB"), written)


async def test_status_tells_a_frozen_link_while_the_hub_still_sees_the_connection(
    tmp_path: Path,
) -> None:
    """A frozen link keeps its leaf connection for about a minute, until pings time out; status
    read that minute as "last contact now" and "in sync". The source's own activity clock says
    how long the hub has heard nothing."""
    from shared.status import SiteStatus, link_status, render

    async with running_sites(tmp_path, sites=("dili",)) as net:
        dep = net.deployment
        dili = next(s for s in dep.sites if s.site == "dili")

        async def now() -> LinkStatus:
            return await link_status(dep, dili, net.nc("hub"), net.nc("dili"))

        await write(net.nc("dili"), "dili", [AggregateRef("tally", "tally", uuid7(), "dili")], 3)
        await wait_until(lambda: _in_sync(now()), timeout=30, step=0.2)
        await wait_until(lambda: _heard(now()), timeout=30, step=0.2)  # the source has run
        await net.link("dili").down("freeze")
        await wait_until(lambda: _silent(now()), timeout=30, step=0.5)
        frozen = await now()
        assert not frozen.in_sync
        assert frozen.last_contact_s is not None and frozen.last_contact_s > 5
        text = render([SiteStatus("dili", dili.url, True, link=frozen)])
        if frozen.connected:  # the usual case this early: the leaf has not timed out yet
            assert "hears nothing (a frozen link?)" in text, text
        assert "last contact now" not in text, text
        await net.link("dili").up()
        await wait_until(lambda: _in_sync(now()), timeout=60, step=0.2)


async def _in_sync(status: Awaitable[LinkStatus]) -> bool:
    return (await status).in_sync


async def _heard(status: Awaitable[LinkStatus]) -> bool:
    return bool((await status).last_contact_s)


async def _silent(status: Awaitable[LinkStatus]) -> bool:
    return (await status).silent
