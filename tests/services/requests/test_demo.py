"""The scripted day runs against a real hub and site, shows its read models, and a second run in the
same hour changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.requests.actors import SYSTEM_ACTOR
from services.requests.demo import run_day
from shared.sites import Sites
from shared.subjects import HUB
from tests.services.requests.harness import service_at
from tests.sitekit import read_stream, running_sites

pytestmark = pytest.mark.slow
SITE = "dili"


async def test_the_scripted_day_runs_twice_and_changes_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with (
        running_sites(tmp_path, sites=(SITE,), contexts=("requests",)) as net,
        service_at(net, HUB, tmp_path / "hub-var"),
        service_at(net, SITE, tmp_path / "site-var"),
    ):
        site_url, hub_url = net.runtimes[SITE].server.url, net.runtimes[HUB].server.url
        assert await run_day(SITE, site_url, hub_url) == 0
        first = capsys.readouterr().out
        events = await by_people(net)
        assert await run_day(SITE, site_url, hub_url) == 0
        again = await by_people(net)
    assert "create_request                                200" in first
    assert "register_volunteer                            30" in first
    assert "Solidarity kitchen north" in first
    assert "the hub's view of the site" in first
    assert "the site's time zone: Asia/Dili" in first
    assert first.count('"timezone": "Asia/Dili"') == 2, "the site's summary and the hub's"
    assert "Demo requester" not in first, "the demo prints no personal data"
    assert len(events) > 600
    assert again == events, "a second run in the same hour adds nothing"


async def by_people(net: Sites) -> list[str]:
    """The ids of the events people caused (the site's timer adds expiries and alerts meanwhile)."""
    messages = await read_stream(net.nc(SITE), "REQUESTS_DILI")
    return [msg_id for _, msg_id, data in messages if json.loads(data)["actor"] != SYSTEM_ACTOR]
