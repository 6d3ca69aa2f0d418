"""The CLI's own defaults, without a server (the service's side of them on an in-memory store)."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from services.requests import cli, inputs
from services.requests.events import MealsServed
from services.requests.handlers import Handlers
from shared.memorystore import InMemoryEventStore
from tests.services.requests.given import command_id_at


@pytest.fixture
def laptop_on_kiritimati() -> Iterator[None]:
    """The laptop's clock on UTC+14, as a laptop in the field often is, set to a zone not its own."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


BREAKFAST_IN_DILI = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
"""07:30 on 24 November in Dili; the 23rd in UTC, and already the 25th on the laptop."""


async def _served_at_the_site(body: dict[str, object]) -> date:
    """The day the service gives the meals: a site in Dili, with the CLI's payload sent as the
    edge would (validated into the same input model) at 07:30 there."""
    store = InMemoryEventStore("dili")
    handlers = Handlers(store, "dili", vault=None)
    coordinator = {"actor": "coord-aye", "role": "coordinator"}

    def made(**fields: object) -> dict[str, object]:
        return {"command_id": command_id_at(BREAKFAST_IN_DILI), **fields}

    await handlers.appoint_coordinator(
        inputs.AppointCoordinator(**made(**coordinator, coordinator_id="coord-aye"))
    )
    await handlers.change_settings(
        inputs.ChangeSettings(**made(**coordinator, timezone="Asia/Dili"))
    )
    await handlers.define_area(
        inputs.DefineArea(**made(**coordinator, area_id="w1", name="Comoro", level="ward"))
    )
    await handlers.open_kitchen(
        inputs.OpenKitchen(
            **made(**coordinator, kitchen_id="k1", name="Kitchen", area_id="w1", capacity=400)
        )
    )
    await handlers.serve_meals(inputs.ServeMeals(**made(**coordinator, **body)))
    loaded = await store.load(handlers.ref("kitchen", "k1"))
    (served,) = [e.envelope.payload for e in loaded.events if e.envelope.type == "MealsServed"]
    assert isinstance(served, MealsServed)
    return served.day


async def test_meals_served_without_a_day_are_dated_by_the_service_in_the_sites_zone(
    laptop_on_kiritimati: None,
) -> None:
    """The CLI sent the laptop's local date: a laptop set to a wrong zone dated Dili's breakfast
    a day out. Now it sends no day, and the service dates it in the site's zone."""
    sent = _payload(cli._meals, "kitchens", "serve", "k1", "--meals", "120")
    assert sent == {"kitchen_id": "k1", "meals": 120}
    assert await _served_at_the_site(sent) == date(2026, 11, 24)


async def test_a_day_given_on_the_command_line_is_kept(laptop_on_kiritimati: None) -> None:
    sent = _payload(cli._meals, "kitchens", "serve", "k1", "--meals", "1", "--day", "2026-11-20")
    assert sent == {"kitchen_id": "k1", "meals": 1, "day": "2026-11-20"}
    assert await _served_at_the_site(sent) == date(2026, 11, 20)
    planned = _payload(cli._meals, "kitchens", "plan", "k1", "--meals", "300")
    assert planned == {"kitchen_id": "k1", "meals": 300}


def _need_args(cost: str, currency: str) -> argparse.Namespace:
    return argparse.Namespace(
        kitchen_id="k1",
        need_id=None,
        item="rice",
        quantity=200,
        unit="kg",
        cost=cost,
        currency=currency,
    )


@pytest.mark.parametrize(
    ("cost", "currency", "minor"),
    [
        ("300000", "MMK", 30_000_000),
        ("180.50", "USD", 18_050),
        ("300000", "JPY", 300_000),
        ("12.345", "KWD", 12_345),
        ("0", "SDG", 0),
    ],
)
def test_a_needs_cost_is_typed_as_on_a_price_list(cost: str, currency: str, minor: int) -> None:
    """In the currency's own units, as every `remit` amount: the CLI took minor units, so a lead
    typing 300000 for 300,000 kyat posted a need of 3,000.00 MMK to every donor's page."""
    assert cli._need(_need_args(cost, currency))["estimated_cost_minor"] == minor


@pytest.mark.parametrize(
    ("cost", "currency", "words"),
    [
        ("300000.5", "JPY", "JPY has 0 decimal places"),
        ("1,000", "MMK", "digits with an optional"),
        ("-5", "MMK", "cannot be negative"),
        ("100", "XYZ", "not a currency"),
    ],
)
def test_a_cost_that_is_no_amount_is_refused_before_anything_is_sent(
    cost: str, currency: str, words: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        cli._need(_need_args(cost, currency))
    assert words in str(refused.value)


@pytest.mark.parametrize(
    ("cost", "currency", "option"),
    [
        ("100", "usd", "--currency 'usd'"),
        ("100", "XYZ", "--currency 'XYZ'"),
        ("1,0", "MMK", "--cost"),
    ],
)
def test_a_refused_cost_names_the_option_at_fault(cost: str, currency: str, option: str) -> None:
    """An unknown currency blamed --cost ("--cost '100': that is not a currency"): a lead looked for
    what was wrong with 100."""
    with pytest.raises(SystemExit) as refused:
        cli._need(_need_args(cost, currency))
    message = str(refused.value)
    assert message.startswith(f"aidmesh: {option}"), message
    other = "--cost" if option.startswith("--currency") else "--currency"
    assert other not in message


def _parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aidmesh")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def _payload(payload: cli.Payload, *argv: str) -> dict[str, object]:
    """What the command line would send, as ``_send`` builds it (what is None is left out)."""
    return {k: v for k, v in payload(_parsed(*argv)).items() if v is not None}


def test_a_kitchen_update_sends_only_what_was_given() -> None:
    """``--capacity 400`` alone sent no leads, and the kitchen lost them all."""
    assert _payload(cli._kitchen_update, "kitchens", "update", "k1", "--capacity", "400") == {
        "kitchen_id": "k1",
        "capacity": 400,
    }
    assert _payload(cli._kitchen_update, "kitchens", "update", "k1", "--leads", "vol-a,vol-b") == {
        "kitchen_id": "k1",
        "leads": ["vol-a", "vol-b"],
    }
    assert _payload(cli._kitchen_update, "kitchens", "update", "k1", "--leads", "") == {
        "kitchen_id": "k1",
        "leads": [],
    }
    with pytest.raises(SystemExit) as refused:
        _payload(cli._kitchen_update, "kitchens", "update", "k1")
    assert "--capacity" in str(refused.value) and "--leads" in str(refused.value)


def test_a_volunteer_update_sends_only_what_was_given() -> None:
    """Without ``--max-claims`` an update put the volunteer back on the site's default limit."""
    update = ("volunteers", "update", "vol-mya")
    assert _payload(cli._volunteer_update, *update, "--skills", "food,care") == {
        "volunteer_id": "vol-mya",
        "skills": ["food", "care"],
    }
    assert _payload(cli._volunteer_update, *update, "--area", "w1-a") == {
        "volunteer_id": "vol-mya",
        "area_id": "w1-a",
    }
    assert _payload(cli._volunteer_update, *update, "--max-claims", "site") == {
        "volunteer_id": "vol-mya",
        "max_claims": "site_default",
    }
    assert _payload(cli._volunteer_update, *update, "--max-claims", "4")["max_claims"] == 4
    with pytest.raises(SystemExit) as refused:
        _payload(cli._volunteer_update, *update)
    assert all(option in str(refused.value) for option in ("--area", "--skills", "--max-claims"))
    with pytest.raises(SystemExit):  # neither a number nor 'site': argparse says so
        _parsed(*update, "--max-claims", "lots")


def test_registering_a_volunteer_still_needs_area_and_skills() -> None:
    with pytest.raises(SystemExit):
        _parsed("volunteers", "register", "vol-mya", "--skills", "food")
    with pytest.raises(SystemExit):  # the site's default is what leaving it out means
        _parsed(
            "volunteers",
            "register",
            "vol-mya",
            "--area",
            "w1",
            "--skills",
            "food",
            "--max-claims",
            "site",
        )


def test_settings_set_sends_the_time_zone_and_only_what_was_given() -> None:
    sent = _payload(cli._change_settings, "requests", "settings", "set", "--timezone", "Asia/Dili")
    assert sent == {"timezone": "Asia/Dili"}
