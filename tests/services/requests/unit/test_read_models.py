"""The read models as pure folds: events in, the answers the queries give out, without a server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.requests import inputs, queries
from services.requests.events import KitchenNeedPosted, KitchenOpened, KitchenUpdated
from services.requests.projections import SiteReadModels
from shared.cliclient import render
from shared.envelope import EventPayload, make_envelope
from shared.ids import uuid7
from shared.subjects import AggregateRef

SITE = "dili"
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
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
            envelope = make_envelope(
                payload,
                event_id=uuid7(),
                aggregate=AggregateRef("requests", kind, aggregate_id, SITE),
                occurred_at=T0 + timedelta(seconds=self.seq),
                actor="coord-aye",
                correlation_id=uuid7(),
            )
            self.models.apply(self.db, envelope, self.seq)

    def dashboard(self, kitchen_id: str | None = None) -> list[dict[str, object]]:
        query = inputs.KitchenDashboard(kitchen_id=kitchen_id)
        return queries.kitchen_dashboard(self.db, query, TODAY)


@pytest.fixture
def site() -> Iterator[Folded]:
    folded = Folded()
    try:
        yield folded
    finally:
        folded.db.close()


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
