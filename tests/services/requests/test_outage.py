"""With its uplink cut, a site keeps taking and matching requests; when the link returns, the hub's
site summary converges to the site's own, with no personal data in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.requests.timers import SiteTimer
from shared.subjects import HUB
from tests.services.requests.harness import (
    as_volunteer,
    command,
    ok,
    register,
    service_at,
    set_up_site,
    until_listed,
)
from tests.sitekit import read_stream, running_sites, wait_until

pytestmark = pytest.mark.slow
SITE = "dili"
NAME, PHONE = "Maria da Costa", "+670 7723 9090"


async def test_a_cut_off_site_keeps_working_and_the_hub_summary_converges(tmp_path: Path) -> None:
    async with (
        running_sites(tmp_path, sites=(SITE,), contexts=("requests",)) as net,
        service_at(net, HUB, tmp_path / "hub-var"),
        service_at(net, SITE, tmp_path / "site-var") as running,
    ):
        nc = net.nc(SITE)
        await set_up_site(nc, SITE)
        for i, area in enumerate(("w1-a", "w1-b", "w2-a")):
            await register(nc, SITE, f"vol-{i}", area)

        async def hub_knows_the_site() -> bool:
            rows = await ok(net.nc(HUB), HUB, "site_summary", {"site": SITE})
            return bool(rows) and rows[0]["volunteers"]["registered"] == 3

        # Before the cut: the hub's summary of the site, as of then, is what falls behind (cut
        # straight after the registrations, the hub sometimes had no row for the site at all).
        await wait_until(hub_knows_the_site, timeout=60, step=0.2)
        await net.link(SITE).down("freeze")
        created = []
        for i in range(30):
            body = command(
                category=("food", "medicine", "care")[i % 3],
                urgency=("normal", "urgent", "critical")[i % 3],
                area_id=("w1-a", "w1-b", "w2-a", "w2-b")[i % 4],
                household_size=1 + i % 6,
                name=NAME,
                phone=PHONE,
            )
            created.append((await ok(nc, SITE, "create_request", body))["request_id"])
        match = await ok(nc, SITE, "match_request", {"request_id": created[0]})
        assert match["suggestions"][0]["volunteer_id"] == "vol-0"
        # The alert delay passes: the 20 urgent and critical requests are alerted; 6 of them are
        # claimed below, so 14 wait, at the site and (once the link is back) at the hub.
        await until_listed(nc, SITE, "list_requests", {"status": "open"}, 30)
        timer = SiteTimer(running.handlers, running.wiring.reads.connect)
        alerted = await timer.tick(datetime.now(UTC) + timedelta(minutes=20))
        assert alerted.alerted == 20
        for i, request_id in enumerate(created[:9]):
            volunteer = f"vol-{i % 3}"
            await ok(nc, SITE, "claim_request", as_volunteer(volunteer, request_id=request_id))
            if i % 3 == 0:
                await ok(nc, SITE, "fulfil_request", as_volunteer(volunteer, request_id=request_id))
        await ok(nc, SITE, "forget_contact", command(request_id=created[0]))
        backlog = await net.backlog(SITE, "requests")
        assert backlog.up > 0, "the events are waiting at the site"

        async def site_summary() -> list[dict[str, object]]:
            rows: list[dict[str, object]] = await ok(nc, SITE, "site_summary", {})
            return rows

        async def site_settled() -> bool:
            rows = await site_summary()
            return (
                bool(rows)
                and rows[0]["requests"] == {"open": 21, "claimed": 6, "fulfilled": 3}
                and rows[0]["unclaimed_alerts"] == 14
            )

        await wait_until(site_settled, timeout=60, step=0.2)
        (cut_off,) = await ok(net.nc(HUB), HUB, "site_summary", {"site": SITE})
        (at_site,) = await site_summary()
        assert cut_off["latest_event_at"] < at_site["latest_event_at"], "the hub says how old"
        await net.link(SITE).up()
        expected = await site_summary()
        assert expected[0]["requests"] == {"open": 21, "claimed": 6, "fulfilled": 3}
        assert expected[0]["unclaimed_alerts"] == 14, "alerted and still waiting, not all alerts"
        assert expected[0]["open_by_urgency"] == {"normal": 7, "urgent": 7, "critical": 7}

        async def hub_converged() -> bool:
            return bool(await ok(net.nc(HUB), HUB, "site_summary", {"site": SITE}) == expected)

        await wait_until(hub_converged, timeout=120, step=0.3)
        summary = await ok(net.nc(HUB), HUB, "site_summary", {})
        text = str(summary)
        assert NAME not in text
        assert PHONE not in text
        assert "w1-a" not in text, "the hub's view stops at the ward"
        assert set(summary[0]["open_by_ward"]) == {"w1", "w2"}
        hub_events = await read_stream(net.nc(HUB), "REQUESTS_HUB")
        assert len(hub_events) > 30
        for _, _, data in hub_events:
            assert NAME.encode() not in data
            assert PHONE.encode() not in data


async def test_the_service_carries_on_after_its_server_is_killed(tmp_path: Path) -> None:
    """A power cut at the field node kills its nats-server under the running service: once the
    server is back, the same service process takes commands again (vault included) and its read
    models follow the stream from where they were, with nothing lost or counted twice."""
    async with (
        running_sites(tmp_path, sites=(SITE,), contexts=("requests",)) as net,
        service_at(net, SITE, tmp_path / "site-var"),
    ):
        nc = net.nc(SITE)
        await set_up_site(nc, SITE)
        await register(nc, SITE, "vol-0")
        before = command(category="food", urgency="urgent", area_id="w1-a", name=NAME, phone=PHONE)
        first = (await ok(nc, SITE, "create_request", before))["request_id"]
        await until_listed(nc, SITE, "list_requests", {"area_id": "w1-a"}, 1)

        await net.kill_server(SITE)
        await net.start_server(SITE)

        async def answers() -> bool:
            reply = await ok(nc, SITE, "create_request", after)
            return bool(reply["request_id"])

        after = command(category="care", urgency="normal", area_id="w1-a", name=NAME, phone=PHONE)
        await wait_until(answers, timeout=60, step=0.5)  # the client's retries: one request
        await ok(nc, SITE, "claim_request", as_volunteer("vol-0", request_id=first))
        reader = {"actor": "vol-0", "role": "volunteer", "request_id": first}
        contact = await ok(nc, SITE, "read_contact", reader)
        assert contact["contact"]["phone"] == PHONE
        rows = await until_listed(nc, SITE, "list_requests", {"area_id": "w1-a"}, 2)
        assert len(rows) == 2

        async def claimed_shown() -> bool:
            listed = (await ok(nc, SITE, "list_requests", {"area_id": "w1-a"}))["items"]
            return any(r["request_id"] == first and r["status"] == "claimed" for r in listed)

        await wait_until(claimed_shown, timeout=60, step=0.2)
