"""The CLI's own defaults, without a server."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

import pytest

from services.requests import cli


@pytest.fixture
def in_dili() -> Iterator[None]:
    """The machine's clock set to Dili (UTC+9), as a coordinator's laptop there is."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Dili"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


class _Breakfast(datetime):
    """07:30 in Dili on 24 November, which is 22:30 UTC on the 23rd."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        moment = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
        return moment.astimezone(tz) if tz else moment.astimezone().replace(tzinfo=None)


def test_meals_served_default_to_the_kitchens_own_today(
    in_dili: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "datetime", _Breakfast)
    args = argparse.Namespace(kitchen_id="k1", meals=120, day=None)
    assert cli._meals(args)["day"] == "2026-11-24"
    assert (
        cli._meals(argparse.Namespace(kitchen_id="k1", meals=1, day="2026-11-20"))["day"]
        == "2026-11-20"
    )
