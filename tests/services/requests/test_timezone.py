"""A site's "today" is its local date, against real nats-servers: meals served without a day are
dated there, a day still to come there is refused, and the site summary counts the site's day at
the site and at the hub alike. The service clock is UTC; a coordinator's laptop may be on any zone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.subjects import HUB
from tests.services.requests.harness import (
    as_volunteer,
    cli,
    command,
    ok,
    refused,
    register,
    service_at,
    set_up_site,
)
from tests.sitekit import running_sites, wait_until

SITE = "dili"


def zone_on_another_day(now: datetime) -> str:
    """A zone whose date is not UTC's at ``now``, with half an hour to spare before or after its
    own midnight, so the test gives one answer whenever it runs (Dili, UTC+9, is on UTC's date
    from 00:00 to 15:00 UTC: a test in Dili's zone would show nothing for most of the day)."""
    after = now.hour * 60 + now.minute >= 10 * 60 + 30
    return "Pacific/Kiritimati" if after else "Pacific/Pago_Pago"  # UTC+14 (10:00), UTC-11 (11:00)


async def test_a_sites_today_is_its_local_date_at_the_site_and_at_the_hub(tmp_path: Path) -> None:
    async with (
        running_sites(tmp_path, sites=(SITE,), contexts=("requests",)) as net,
        service_at(net, HUB, tmp_path / "hub-var"),
        service_at(net, SITE, tmp_path / "site-var"),
    ):
        nc = net.nc(SITE)
        await set_up_site(nc, SITE)
        now = datetime.now(UTC)
        zone = zone_on_another_day(now)
        local = now.astimezone(ZoneInfo(zone)).date()
        assert local != now.date(), "the site is on another day than UTC"
        settings = await ok(nc, SITE, "change_settings", command(timezone=zone))
        assert settings["settings"]["timezone"] == zone
        shown = await ok(nc, SITE, "show_settings", {})
        assert shown["timezone"] == zone
        assert shown["claim_expiry_minutes"] == 60, "the other settings are kept"
        assert datetime.fromisoformat(shown["time_at_site"]).date() == local

        await register(nc, SITE, "cook")
        kitchen = {"kitchen_id": "k1"}
        await ok(
            nc,
            SITE,
            "open_kitchen",
            command(**kitchen, name="Kitchen", area_id="w1-a", capacity=400, leads=["cook"]),
        )
        yesterday = (local - timedelta(days=1)).isoformat()
        await ok(nc, SITE, "serve_meals", as_volunteer("cook", **kitchen, day=yesterday, meals=40))
        await ok(nc, SITE, "serve_meals", as_volunteer("cook", **kitchen, meals=120))  # no day
        await ok(nc, SITE, "plan_meals", as_volunteer("cook", **kitchen, meals=300))  # no day
        tomorrow = (local + timedelta(days=1)).isoformat()
        error = await refused(
            nc, SITE, "serve_meals", as_volunteer("cook", **kitchen, day=tomorrow, meals=5)
        )
        assert error.code == "future"
        assert f"today there is {local.isoformat()}" in error.message

        async def at_site() -> list[dict[str, object]]:
            rows: list[dict[str, object]] = await ok(nc, SITE, "site_summary", {})
            return rows

        async def counted() -> bool:
            rows = await at_site()
            return bool(rows) and rows[0]["meals_served"] == {"total": 160, "today": 120}

        await wait_until(counted, timeout=60, step=0.1)
        (summary,) = await at_site()
        assert (summary["timezone"], summary["today"]) == (zone, local.isoformat())
        (board,) = await ok(nc, SITE, "kitchen_dashboard", {**kitchen, "days": 1})
        assert board["meals"] == [{"day": local.isoformat(), "planned": 300, "served": 120}]

        async def hub_agrees() -> bool:
            rows = await ok(net.nc(HUB), HUB, "site_summary", {"site": SITE})
            return bool(rows == await at_site())

        await wait_until(hub_agrees, timeout=60, step=0.2)
        (at_hub,) = await ok(net.nc(HUB), HUB, "site_summary", {"site": SITE})
        assert at_hub["meals_served"] == {"total": 160, "today": 120}
        assert at_hub["today"] == local.isoformat()


async def test_an_unknown_time_zone_is_refused_naming_the_field(tmp_path: Path) -> None:
    async with (
        running_sites(tmp_path, sites=(SITE,), contexts=("requests",)) as net,
        service_at(net, SITE, tmp_path / "site-var"),
    ):
        nc = net.nc(SITE)
        await set_up_site(nc, SITE)
        for bad in ("Mars/Olympus_Mons", "+09:00", "localtime", "x" * 65):
            error = await refused(nc, SITE, "change_settings", command(timezone=bad))
            assert error.code == "invalid"
            assert "timezone" in error.message
            assert bad not in json.dumps(error.model_dump()), "input is never echoed"
        assert (await ok(nc, SITE, "show_settings", {}))["timezone"] == "UTC", "nothing changed"
        done = await cli(net, SITE, "requests", "settings", "set", "--timezone", "Asia/Dili")
        assert done.returncode == 0, done.stderr
        shown = await cli(net, SITE, "requests", "settings", "show", "--json")
        assert json.loads(shown.stdout)["timezone"] == "Asia/Dili"
