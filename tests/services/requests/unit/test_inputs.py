"""What the edges accept, checked on the input models alone (the same models NATS, HTTP and the CLI
validate with): an id is exactly an id, text meant for everyone is one clean line, an item is its
name without stray spaces."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from services.requests import inputs
from shared.ids import uuid7

WHO = {"actor": "coord-aye", "role": "coordinator"}


def _refused(model: type[inputs.Input], body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [field]


def test_an_id_with_a_trailing_newline_is_refused() -> None:
    """``$`` in a Python pattern also matches before a final newline: such an id passed validation
    and failed deeper down as an internal error."""
    _refused(
        inputs.RequestAction,
        {"command_id": uuid7() + "\n", **WHO, "request_id": uuid7()},
        "command_id",
    )
    _refused(
        inputs.RequestAction,
        {"command_id": uuid7(), **WHO, "request_id": uuid7() + "\n"},
        "request_id",
    )
    _refused(inputs.ShowRequest, {"request_id": uuid7() + "\n"}, "request_id")


def test_an_id_dated_after_the_calendar_ends_is_refused() -> None:
    """A command's time is its id's; the year 10889 cannot be a date (an internal error before)."""
    late = "ffffffff-ffff-7fff-bfff-ffffffffffff"
    _refused(inputs.RequestAction, {"command_id": late, **WHO, "request_id": uuid7()}, "command_id")
    fine = inputs.RequestAction.model_validate(
        {"command_id": uuid7(), **WHO, "request_id": uuid7()}
    )
    assert fine.role == "coordinator"


def _stock(item: str) -> dict[str, Any]:
    return {
        "command_id": uuid7(),
        **WHO,
        "kitchen_id": "k1",
        "item": item,
        "quantity": "5",
        "unit": "kg",
    }


def test_an_item_is_its_name_without_stray_spaces() -> None:
    """``rice `` was a second item beside ``rice``: shown on the dashboard, never found by stock-out."""
    assert inputs.StockChange.model_validate(_stock("rice ")).item == "rice"
    assert inputs.StockChange.model_validate(_stock("cooking oil")).item == "cooking oil"
    assert inputs.StockChange.model_validate(_stock("ဆန်")).item == "ဆန်"
    _refused(inputs.StockChange, _stock("   "), "item")


@pytest.mark.parametrize(
    "text", ["", "   ", "Clinic\x1b[2J", "Clinic\x00", "Mon-Fri\n8-16", "a\x85b"]
)
def test_public_text_is_one_clean_line(text: str) -> None:
    """Blank names and control characters (a terminal escape, a NUL) are refused, not listed."""
    entry = {"command_id": uuid7(), **WHO, "entry_id": "clinic-1", "kind": "clinic"}
    _refused(inputs.ListDirectoryEntry, {**entry, "name": text, "how_to_reach": "ok"}, "name")
    _refused(
        inputs.ListDirectoryEntry, {**entry, "name": "ok", "how_to_reach": text}, "how_to_reach"
    )
    area = {"command_id": uuid7(), **WHO, "area_id": "w9", "level": "ward"}
    _refused(inputs.DefineArea, {**area, "name": text}, "name")
    kitchen = {"command_id": uuid7(), **WHO, "kitchen_id": "k9", "area_id": "w1", "capacity": 10}
    _refused(inputs.OpenKitchen, {**kitchen, "name": text}, "name")


def test_public_text_keeps_its_words_and_loses_the_spaces_around_them() -> None:
    area = {"command_id": uuid7(), **WHO, "area_id": "w9", "level": "ward"}
    assert (
        inputs.DefineArea.model_validate({**area, "name": "  Kyaik Ka San  "}).name
        == "Kyaik Ka San"
    )
    assert inputs.DefineArea.model_validate({**area, "name": "Café ဆန် 3"}).name == "Café ဆန် 3"


def _need(currency: str) -> dict[str, Any]:
    return {
        "command_id": uuid7(),
        **WHO,
        "kitchen_id": "k1",
        "item": "rice",
        "quantity": 200,
        "unit": "kg",
        "estimated_cost_minor": 30_000_000,
        "currency": currency,
    }


@pytest.mark.parametrize("currency", ["XYZ", "MMKS", "mmk", "BTC"])
def test_a_need_is_priced_in_a_currency_the_ledger_knows(currency: str) -> None:
    """A need in a code the remittance ledger does not know was posted and could never be funded."""
    _refused(inputs.PostNeed, _need(currency), "currency")
    assert inputs.PostNeed.model_validate(_need("SDG")).currency == "SDG"


def test_a_kitchen_update_changes_capacity_or_leads_and_says_so_when_it_names_neither() -> None:
    base = {"command_id": uuid7(), **WHO, "kitchen_id": "k1"}
    assert inputs.UpdateKitchen.model_validate(base | {"capacity": 400}).leads is None
    assert inputs.UpdateKitchen.model_validate(base | {"leads": []}).leads == []  # remove all
    with pytest.raises(ValidationError) as caught:
        inputs.UpdateKitchen.model_validate(base)
    (error,) = caught.value.errors()
    assert "capacity or leads" in error["msg"]
    with pytest.raises(ValidationError):
        inputs.UpdateKitchen.model_validate(base | {"capacity": None, "leads": None})


def test_a_volunteer_update_changes_area_skills_or_limit_and_says_so_when_it_names_none() -> None:
    base = {"command_id": uuid7(), **WHO, "volunteer_id": "vol-mya"}
    only = inputs.UpdateVolunteer.model_validate(base | {"skills": ["care"]})
    assert (only.area_id, only.max_claims) == (None, None)
    reset = inputs.UpdateVolunteer.model_validate_json(
        json.dumps(base | {"max_claims": "site_default"}), strict=True
    )
    assert reset.max_claims == "site_default"
    with pytest.raises(ValidationError) as caught:
        inputs.UpdateVolunteer.model_validate(base)
    (error,) = caught.value.errors()
    assert "area_id, skills or max_claims" in error["msg"]
    for bad in ({"max_claims": 0}, {"max_claims": "site"}, {"skills": []}):
        with pytest.raises(ValidationError):
            inputs.UpdateVolunteer.model_validate(base | bad)
    _refused(
        inputs.RegisterVolunteer,
        base | {"area_id": "w1", "skills": ["food"], "max_claims": "site_default"},
        "max_claims",
    )
