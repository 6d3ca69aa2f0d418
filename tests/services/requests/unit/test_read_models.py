"""The read models as pure folds: events in, the answers the queries give out, without a server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from services.requests import inputs, queries
from services.requests.events import (
    ClaimReleased,
    KitchenNeedPosted,
    KitchenOpened,
    KitchenUpdated,
    MealsServed,
    RequestCancelled,
    RequestClaimed,
    RequestFulfilled,
    RequestMerged,
    RequestOpened,
    SiteSettingsChanged,
    UrgentRequestUnclaimed,
)
from services.requests.projections import SiteReadModels
from shared.cliclient import render
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.ids import uuid7
from shared.subjects import AggregateRef

SITE = "dili"
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TODAY = T0.date()


class Folded:
    """A site's read models, fed one event at a time as the projection runner would."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.models = SiteReadModels()
        self.models.create(self.db)
        self.seq = 0

    def apply(self, kind: str, aggregate_id: str, *payloads: EventPayload) -> None:
        for payload in payloads:
            self.seq += 1
            self.models.apply(self.db, _envelope(kind, aggregate_id, payload), self.seq)

    def dashboard(self, kitchen_id: str | None = None) -> list[dict[str, object]]:
        query = inputs.KitchenDashboard(kitchen_id=kitchen_id)
        return queries.kitchen_dashboard(self.db, query, TODAY)


def _envelope(kind: str, aggregate_id: str, payload: EventPayload) -> Envelope[EventPayload]:
    return make_envelope(
        payload,
        event_id=uuid7(),
        aggregate=AggregateRef("requests", kind, aggregate_id, SITE),
        occurred_at=T0,
        actor="coord-aye",
        correlation_id=uuid7(),
    )


def _folded() -> Iterator[Folded]:
    folded = Folded()
    try:
        yield folded
    finally:
        folded.db.close()


@pytest.fixture
def site() -> Iterator[Folded]:
    yield from _folded()


@pytest.fixture
def hub() -> Iterator[Folded]:
    """The hub's summary: the same fold over the same events, in a database of its own."""
    yield from _folded()


def _kitchen(site: Folded, leads: tuple[str, ...] = ("vol-lead",)) -> None:
    opened = KitchenOpened(
        kitchen_id="k1",
        name="Kyaik Ka San kitchen",
        ward="w3",
        area_id="w3-kyaik",
        capacity_meals_per_day=400,
        leads=leads,
        command_id=uuid7(),
    )
    site.apply("kitchen", "k1", opened)


def _rice_need() -> KitchenNeedPosted:
    return KitchenNeedPosted(
        need_id="n-rice",
        kitchen_id="k1",
        item="rice",
        quantity=200,
        unit="kg",
        estimated_cost_minor=30_000_000,
        currency="MMK",
        ward="w3",
        command_id=uuid7(),
    )


def test_a_needs_cost_is_shown_as_people_read_it_before_its_minor_units(site: Folded) -> None:
    """``estimated_cost_minor=30000000`` came first, right after the lead typed ``--cost 300000``:
    easily read as 30 million kyat."""
    _kitchen(site)
    site.apply("kitchen", "k1", _rice_need())
    (board,) = site.dashboard()
    (need,) = board["open_needs"]  # type: ignore[misc]
    assert need["estimated_cost"] == {"amount": "300000.00", "currency": "MMK"}
    keys = list(need)
    assert keys.index("estimated_cost") < keys.index("estimated_cost_minor")
    line = render(board["open_needs"])
    assert line.index("estimated_cost=300000.00 MMK") < line.index("estimated_cost_minor=")


def test_the_dashboard_shows_a_kitchens_leads(site: Folded) -> None:
    """Leads may record stock, meals and needs; the dashboard did not show them, so nobody could
    see that an update had dropped them all."""
    _kitchen(site, leads=("vol-lead", "vol-cook"))
    assert site.dashboard()[0]["leads"] == ["vol-lead", "vol-cook"]
    emptied = KitchenUpdated(capacity_meals_per_day=500, leads=(), command_id=uuid7())
    site.apply("kitchen", "k1", emptied)
    (board,) = site.dashboard()
    assert (board["leads"], board["capacity_meals_per_day"]) == ([], 500)


def _opened(request_id: str, urgency: str = "urgent", ward: str = "w1") -> RequestOpened:
    return RequestOpened(
        request_id=request_id,
        category="medicine",
        urgency=urgency,  # type: ignore[arg-type]
        ward=ward,
        area_id=f"{ward}-a",
        household_size=2,
        contact_ref=None,
        command_id=request_id,
    )


def _alert(request_id: str, ward: str = "w1") -> UrgentRequestUnclaimed:
    return UrgentRequestUnclaimed(
        request_id=request_id, category="medicine", urgency="urgent", ward=ward, minutes=30
    )


def _claimed(claim_id: str, volunteer: str = "vol-mya") -> RequestClaimed:
    return RequestClaimed(claim_id=claim_id, volunteer_id=volunteer, expires_at=T0 + HOUR)


def _summary(site: Folded) -> dict[str, object]:
    (summary,) = queries.site_summary(site.db, SITE, T0)
    return summary


def test_unclaimed_alerts_count_the_alerted_requests_still_waiting(site: Folded) -> None:
    """It counted every alert ever raised and never went down: after the demo a hub coordinator
    read 22 "unclaimed" alerts with 20 urgent requests open, some long claimed."""
    ids = [uuid7() for _ in range(6)]
    for request_id in ids:
        site.apply("request", request_id, _opened(request_id), _alert(request_id))
    assert _summary(site)["unclaimed_alerts"] == 6
    claim = uuid7()
    site.apply("request", ids[0], _claimed(claim))
    site.apply(
        "request",
        ids[1],
        RequestCancelled(reason="withdrawn", claim_id=None, volunteer_id=None, command_id=uuid7()),
    )
    site.apply("request", ids[2], RequestMerged(into_request_id=ids[3], command_id=uuid7()))
    other = uuid7()
    site.apply(
        "request",
        ids[4],
        _claimed(other),
        RequestFulfilled(claim_id=other, volunteer_id="vol-mya", command_id=uuid7()),
    )
    assert _summary(site)["unclaimed_alerts"] == 2  # ids[3] and ids[5] are still waiting
    # A released claim reopens the request in a new round: it waits again, but its alert was for
    # the round before; it counts once the timer raises this round's.
    site.apply(
        "request",
        ids[0],
        ClaimReleased(claim_id=claim, volunteer_id="vol-mya", command_id=uuid7()),
    )
    assert _summary(site)["unclaimed_alerts"] == 2
    site.apply("request", ids[0], _alert(ids[0]))
    assert _summary(site)["unclaimed_alerts"] == 3
    normal = uuid7()
    site.apply("request", normal, _opened(normal, urgency="normal"))  # open, never alerted
    assert _summary(site)["unclaimed_alerts"] == 3
    assert _summary(site)["open_by_urgency"] == {"normal": 1, "urgent": 3}


def test_the_hub_and_the_site_fold_alerts_to_the_same_count(site: Folded, hub: Folded) -> None:
    """The hub folds the same events with the same summary: its count converges to the site's
    whatever the other aggregates' events arrived in between."""
    waiting, taken = uuid7(), uuid7()
    history = [
        ("request", waiting, _opened(waiting, ward="w2")),
        ("request", taken, _opened(taken)),
        ("request", taken, _alert(taken)),
        ("request", waiting, _alert(waiting, ward="w2")),
        ("request", taken, _claimed(uuid7())),
    ]
    for kind, aggregate_id, payload in history:
        site.apply(kind, aggregate_id, payload)
    # the hub's copy: one request's events after the other's
    for kind, aggregate_id, payload in sorted(history, key=lambda h: h[1] != taken):
        hub.models.summary.apply(hub.db, _envelope(kind, aggregate_id, payload), 0)
    assert _summary(site)["unclaimed_alerts"] == _summary(hub)["unclaimed_alerts"] == 1


BREAKFAST_IN_DILI = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
"""07:30 on 24 November in Dili, still the 23rd in UTC."""


def _zone(timezone: str | None) -> SiteSettingsChanged:
    return SiteSettingsChanged(
        default_max_claims=3,
        claim_expiry_minutes=120,
        urgent_alert_minutes=30,
        command_id=uuid7(),
        timezone=timezone,
    )


def _served(day: date, meals: int) -> MealsServed:
    return MealsServed(kitchen_id="k1", day=day, meals=meals, command_id=uuid7())


def _breakfast_in_dili(folded: Folded, *, summary_only: bool = False) -> None:
    """A kitchen in Dili that served 40 meals yesterday and 120 at breakfast today."""
    history = [
        ("site", SITE, _zone("Asia/Dili")),
        ("kitchen", "k1", _kitchen_opened()),
        ("kitchen", "k1", _served(date(2026, 11, 23), 40)),
        ("kitchen", "k1", _served(date(2026, 11, 24), 120)),
    ]
    for kind, aggregate_id, payload in history:
        if summary_only:
            folded.models.summary.apply(folded.db, _envelope(kind, aggregate_id, payload), 0)
        else:
            folded.apply(kind, aggregate_id, payload)


def _kitchen_opened() -> KitchenOpened:
    return KitchenOpened(
        kitchen_id="k1",
        name="Becora kitchen",
        ward="becora",
        area_id="becora-mercado",
        capacity_meals_per_day=400,
        leads=(),
        command_id=uuid7(),
    )


def test_the_summarys_today_is_the_sites_date_in_its_zone(site: Folded, hub: Folded) -> None:
    """At 07:30 in Dili the summary counted UTC's day, the 23rd: breakfast was not "today" at the
    site nor at the hub until 09:00. The hub keeps each site's zone from its settings, so both
    count the site's own day, and agree."""
    _breakfast_in_dili(site)
    _breakfast_in_dili(hub, summary_only=True)
    (at_site,) = queries.site_summary(site.db, SITE, BREAKFAST_IN_DILI)
    (at_hub,) = queries.site_summary(hub.db, SITE, BREAKFAST_IN_DILI)
    assert at_site["meals_served"] == {"total": 160, "today": 120}
    assert (at_site["today"], at_site["timezone"]) == ("2026-11-24", "Asia/Dili")
    assert at_hub == at_site


def test_each_site_at_the_hub_counts_its_own_today(hub: Folded) -> None:
    """Two sites, one summary: Dili is on the 24th while a site on UTC is still on the 23rd."""
    _breakfast_in_dili(hub, summary_only=True)
    khartoum = make_envelope(
        _kitchen_opened(),
        event_id=uuid7(),
        aggregate=AggregateRef("requests", "kitchen", "k1", "khartoum"),
        occurred_at=T0,
        actor="coord-aye",
        correlation_id=uuid7(),
    )
    hub.models.summary.apply(hub.db, khartoum, 0)
    for day, meals in ((date(2026, 11, 23), 70), (date(2026, 11, 24), 5)):
        served = khartoum.model_copy(update={"event_id": uuid7(), "payload": _served(day, meals)})
        hub.models.summary.apply(hub.db, served, 0)
    dili, utc_site = sorted(
        queries.site_summary(hub.db, None, BREAKFAST_IN_DILI), key=lambda r: r["site"]
    )
    assert (dili["today"], dili["meals_served"]["today"]) == ("2026-11-24", 120)
    assert (utc_site["timezone"], utc_site["today"]) == ("UTC", "2026-11-23")
    assert utc_site["meals_served"]["today"] == 70


def test_a_settings_event_from_before_zones_leaves_the_site_on_utc(site: Folded) -> None:
    site.apply("site", SITE, _zone(None))
    _kitchen(site)
    site.apply("kitchen", "k1", _served(date(2026, 11, 23), 12))
    (summary,) = queries.site_summary(site.db, SITE, BREAKFAST_IN_DILI)
    assert (summary["timezone"], summary["today"]) == ("UTC", "2026-11-23")
    assert summary["meals_served"]["today"] == 12
    assert queries.site_today(site.db, BREAKFAST_IN_DILI) == date(2026, 11, 23)


def test_the_kitchen_dashboards_today_is_the_sites(site: Folded) -> None:
    """One day on the dashboard at 07:30 in Dili is Dili's day, the 24th, with breakfast in it."""
    _breakfast_in_dili(site)
    today = queries.site_today(site.db, BREAKFAST_IN_DILI)
    assert today == date(2026, 11, 24)
    (board,) = queries.kitchen_dashboard(site.db, inputs.KitchenDashboard(days=1), today)
    assert board["meals"] == [{"day": "2026-11-24", "planned": None, "served": 120}]
