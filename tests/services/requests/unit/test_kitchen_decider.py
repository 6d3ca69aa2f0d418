"""The solidarity kitchen's rules: stock, meals (counts only) and needs for donors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.requests.actors import Actor
from services.requests.events import (
    KitchenNeedMet,
    KitchenNeedPosted,
    KitchenOpened,
    KitchenUpdated,
    MealsPlanned,
    MealsServed,
    StockReceived,
    StockUsed,
)
from services.requests.kitchen import (
    MeetNeed,
    OpenKitchen,
    PlanMeals,
    PostNeed,
    ReceiveStock,
    ServeMeals,
    UpdateKitchen,
    UseStock,
    kitchen_decider,
)
from services.requests.zones import local_date
from tests.services.requests.given import given

COORD = Actor("coord-aye", "coordinator")
LEAD = Actor("vol-lead", "volunteer")
OTHER = Actor("vol-other", "volunteer")
TODAY = date(2026, 3, 1)

opened = KitchenOpened(
    kitchen_id="k1",
    name="Kyaik Ka San kitchen",
    ward="w3",
    area_id="w3-kyaik",
    capacity_meals_per_day=400,
    leads=("vol-lead",),
    command_id="c-open",
)
rice_in = StockReceived(item="rice", quantity=Decimal("250"), unit="kg", command_id="c-in")


def test_a_coordinator_opens_a_kitchen() -> None:
    command = OpenKitchen(
        "c-open", COORD, "k1", "Kyaik Ka San kitchen", "w3", "w3-kyaik", 400, ("vol-lead",)
    )
    state = given(kitchen_decider).when(command).then(opened)
    assert state.capacity == 400


def test_a_volunteer_cannot_open_a_kitchen() -> None:
    command = OpenKitchen("c-open", LEAD, "k1", "K", "w3", "w3", 400, ())
    given(kitchen_decider).when(command).refused("not_allowed")


def test_a_lead_records_stock_in_and_out() -> None:
    state = (
        given(kitchen_decider, opened)
        .when(ReceiveStock("c-in", LEAD, "rice", Decimal("250"), "kg"))
        .then(rice_in)
    )
    assert state.stock["rice"].quantity == 250
    used = StockUsed(item="rice", quantity=Decimal("40.5"), unit="kg", command_id="c-out")
    state = (
        given(kitchen_decider, opened, rice_in)
        .when(UseStock("c-out", LEAD, "rice", Decimal("40.5"), "kg"))
        .then(used)
    )
    assert state.stock["rice"].quantity == Decimal("209.5")


def test_a_volunteer_who_is_not_a_lead_cannot_record_stock() -> None:
    given(kitchen_decider, opened).when(
        ReceiveStock("c-in", OTHER, "rice", Decimal(1), "kg")
    ).refused("not_allowed", "leads")


def test_using_more_than_is_in_stock_is_refused() -> None:
    given(kitchen_decider, opened, rice_in).when(
        UseStock("c-out", LEAD, "rice", Decimal(300), "kg")
    ).refused("not_enough_stock", "only 250 kg of rice")


def test_an_item_keeps_its_unit() -> None:
    given(kitchen_decider, opened, rice_in).when(
        ReceiveStock("c-in2", LEAD, "rice", Decimal(5), "litres")
    ).refused("unit_mismatch", "kg")


def test_meals_planned_and_served_are_counts() -> None:
    given(kitchen_decider, opened).when(PlanMeals("c-plan", LEAD, TODAY, 350, TODAY)).then(
        MealsPlanned(day=TODAY, meals=350, command_id="c-plan")
    )
    given(kitchen_decider, opened).when(ServeMeals("c-serve", LEAD, TODAY, 320, TODAY)).then(
        MealsServed(kitchen_id="k1", day=TODAY, meals=320, command_id="c-serve")
    )


def test_meals_cannot_be_served_in_the_future() -> None:
    given(kitchen_decider, opened).when(
        ServeMeals("c-serve", LEAD, date(2026, 3, 2), 10, TODAY)
    ).refused("future")


def test_meals_recorded_without_a_day_are_the_sites_today() -> None:
    given(kitchen_decider, opened).when(ServeMeals("c-serve", LEAD, None, 120, TODAY)).then(
        MealsServed(kitchen_id="k1", day=TODAY, meals=120, command_id="c-serve")
    )
    given(kitchen_decider, opened).when(PlanMeals("c-plan", LEAD, None, 350, TODAY)).then(
        MealsPlanned(day=TODAY, meals=350, command_id="c-plan")
    )


BREAKFAST_IN_DILI = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
"""07:30 on 24 November in Dili (UTC+9), still the 23rd in UTC."""


def test_at_breakfast_in_dili_today_is_dilis_day_not_utcs() -> None:
    """For the first 9 hours of every Dili day, the day's meals were dated, or counted, as UTC's
    day: the day before."""
    today = local_date(BREAKFAST_IN_DILI, "Asia/Dili")
    assert today == date(2026, 11, 24)
    given(kitchen_decider, opened).when(ServeMeals("c-1", LEAD, None, 120, today)).then(
        MealsServed(kitchen_id="k1", day=date(2026, 11, 24), meals=120, command_id="c-1")
    )
    given(kitchen_decider, opened).when(
        ServeMeals("c-2", LEAD, date(2026, 11, 24), 120, today)
    ).then(MealsServed(kitchen_id="k1", day=date(2026, 11, 24), meals=120, command_id="c-2"))
    given(kitchen_decider, opened).when(
        ServeMeals("c-3", LEAD, date(2026, 11, 25), 120, today)
    ).refused("future", "2026-11-25 is still to come", "today there is 2026-11-24")


def test_in_the_dili_evening_tomorrow_is_still_to_come() -> None:
    """At 19:00 in Dili it is 10:00 UTC: a day up to UTC+14 went through (UTC's date + 14 hours),
    so Dili recorded meals "served" tomorrow from 19:00 on."""
    evening = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    today = local_date(evening, "Asia/Dili")
    assert today == date(2026, 11, 24)
    given(kitchen_decider, opened).when(
        ServeMeals("c-1", LEAD, date(2026, 11, 25), 120, today)
    ).refused("future")
    given(kitchen_decider, opened).when(
        PlanMeals("c-2", LEAD, date(2026, 11, 25), 300, today)
    ).then(MealsPlanned(day=date(2026, 11, 25), meals=300, command_id="c-2"))  # plans may


@pytest.mark.parametrize(
    ("zone", "moment", "local"),
    [
        ("Asia/Dili", datetime(2026, 11, 23, 15, 0, tzinfo=UTC), date(2026, 11, 24)),
        ("Asia/Yangon", datetime(2026, 11, 23, 17, 45, tzinfo=UTC), date(2026, 11, 24)),
        ("Africa/Khartoum", datetime(2026, 11, 23, 23, 0, tzinfo=UTC), date(2026, 11, 24)),
        ("America/Port-au-Prince", datetime(2026, 11, 24, 2, 0, tzinfo=UTC), date(2026, 11, 23)),
        ("UTC", datetime(2026, 11, 23, 23, 59, tzinfo=UTC), date(2026, 11, 23)),
        (None, datetime(2026, 11, 23, 23, 59, tzinfo=UTC), date(2026, 11, 23)),
    ],
)
def test_the_sites_today_is_its_local_date(zone: str | None, moment: datetime, local: date) -> None:
    """West of UTC too: at 21:00 in Port-au-Prince, UTC's tomorrow is still to come there."""
    today = local_date(moment, zone)
    assert today == local
    given(kitchen_decider, opened).when(ServeMeals("c", LEAD, None, 10, today)).then(
        MealsServed(kitchen_id="k1", day=local, meals=10, command_id="c")
    )
    given(kitchen_decider, opened).when(
        ServeMeals("c", LEAD, local + timedelta(days=1), 10, today)
    ).refused("future")


def test_a_day_more_than_a_year_off_names_the_sites_today() -> None:
    """The refusal named UTC's date, the day before the one the lead sees in Dili in the morning."""
    today = local_date(BREAKFAST_IN_DILI, "Asia/Dili")
    given(kitchen_decider, opened).when(ServeMeals("c", LEAD, date(2025, 1, 1), 10, today)).refused(
        "bad_day", "more than a year from 2026-11-24"
    )


def test_meals_are_planned_and_served_within_a_year_of_today() -> None:
    for typo in (date(1, 1, 1), TODAY - timedelta(days=367)):
        given(kitchen_decider, opened).when(ServeMeals("c", LEAD, typo, 10, TODAY)).refused(
            "bad_day"
        )
    for typo in (date(9999, 12, 31), TODAY + timedelta(days=367), TODAY - timedelta(days=367)):
        given(kitchen_decider, opened).when(PlanMeals("c", LEAD, typo, 10, TODAY)).refused(
            "bad_day"
        )
    late_log = TODAY - timedelta(days=200)  # a paper log typed in after a long outage
    given(kitchen_decider, opened).when(ServeMeals("c", LEAD, late_log, 10, TODAY)).then(
        MealsServed(kitchen_id="k1", day=late_log, meals=10, command_id="c")
    )


def test_a_need_is_posted_for_donors_with_the_kitchens_ward() -> None:
    posted = KitchenNeedPosted(
        need_id="n1",
        kitchen_id="k1",
        item="rice",
        quantity=200,
        unit="kg",
        estimated_cost_minor=300_000,
        currency="MMK",
        ward="w3",
        command_id="c-need",
    )
    state = (
        given(kitchen_decider, opened)
        .when(PostNeed("c-need", LEAD, "n1", "rice", 200, "kg", 300_000, "MMK"))
        .then(posted)
    )
    assert "n1" in state.open_needs
    given(kitchen_decider, opened, posted).when(
        PostNeed("c-need-2", LEAD, "n1", "oil", 1, "litres", 1, "MMK")
    ).refused("exists")


def test_a_need_is_met_once() -> None:
    posted = KitchenNeedPosted(
        need_id="n1",
        kitchen_id="k1",
        item="rice",
        quantity=200,
        unit="kg",
        estimated_cost_minor=300_000,
        currency="MMK",
        ward="w3",
    )
    met = KitchenNeedMet(need_id="n1", kitchen_id="k1", how="funded", command_id="c-met")
    given(kitchen_decider, opened, posted).when(MeetNeed("c-met", COORD, "n1", "funded")).then(met)
    given(kitchen_decider, opened, posted, met).when(
        MeetNeed("c-met-2", COORD, "n1", "withdrawn")
    ).refused("already_met")
    given(kitchen_decider, opened).when(MeetNeed("c-met", COORD, "n9", "funded")).refused(
        "not_found"
    )


def test_only_a_coordinator_changes_capacity_and_leads() -> None:
    given(kitchen_decider, opened).when(UpdateKitchen("c-up", LEAD, 500, ())).refused("not_allowed")
    given(kitchen_decider, opened).when(UpdateKitchen("c-up", COORD, 500, ())).then(
        KitchenUpdated(capacity_meals_per_day=500, leads=(), command_id="c-up")
    )


def test_an_update_keeps_what_it_leaves_out() -> None:
    """``kitchens update K --capacity 400`` removed every lead: the update sent none and an empty
    list replaced them, so the kitchen's leads could no longer record stock."""
    state = (
        given(kitchen_decider, opened)
        .when(UpdateKitchen("c-up", COORD, capacity=500))
        .then(KitchenUpdated(capacity_meals_per_day=500, leads=("vol-lead",), command_id="c-up"))
    )
    assert state.leads == ("vol-lead",)
    given(kitchen_decider, opened).when(UpdateKitchen("c-up", COORD, leads=("vol-new",))).then(
        KitchenUpdated(capacity_meals_per_day=400, leads=("vol-new",), command_id="c-up")
    )
    given(kitchen_decider, opened).when(UpdateKitchen("c-up", COORD)).then()  # nothing to change
    given(kitchen_decider, opened).when(UpdateKitchen("c-up", COORD, capacity=400)).then()


def test_a_lead_kept_by_an_update_still_records_stock() -> None:
    kept = KitchenUpdated(capacity_meals_per_day=500, leads=("vol-lead",), command_id="c-up")
    given(kitchen_decider, opened, kept).when(
        ReceiveStock("c-in", LEAD, "rice", Decimal("250"), "kg")
    ).then(rice_in)


def test_an_unknown_kitchen_is_not_found() -> None:
    given(kitchen_decider).when(PlanMeals("c", COORD, TODAY, 1, TODAY)).refused("not_found")
