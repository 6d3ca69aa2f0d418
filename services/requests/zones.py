"""A site's time zone: which names are zones, and the site's date at a given moment.

A kitchen's day is its local day: meals served at 07:30 in Dili are that day's breakfast, though it
is still the day before in UTC. Neither the service's clock (UTC) nor a coordinator's laptop (often
set to the wrong zone in the field) knows the site's day, so the site says which zone it is in, an
IANA name such as ``Asia/Dili``, and every "today" at the site is its date there. No clock here:
the moment is always given; the zone database is reference data, read as needed and remembered.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_TIMEZONE = "UTC"
"""The zone of a site that never set one (and of settings events from before sites had one)."""

_NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})
"""Entries of a zone database that name no place: ``localtime`` is the server's own zone, the
very mistake the setting is there to avoid."""


@cache
def _names() -> frozenset[str]:
    """The database's own list (read once, ~0.1 s): zoneinfo alone takes a name as a path, so on a
    case-insensitive disk ``asia/dili`` would load at a site and be unknown at the hub."""
    return frozenset(available_timezones()) - _NOT_A_PLACE


@lru_cache(maxsize=512)
def zone_named(name: str) -> tzinfo | None:
    """The zone of that IANA name, or None when it names none (bounded: the names tried come from
    the edges, and unknown ones are remembered too)."""
    if name == DEFAULT_TIMEZONE:
        return UTC  # the default never depends on a zone database being there
    if name not in _names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_timezone(name: str) -> bool:
    return zone_named(name) is not None


def local_date(moment: datetime, timezone: str | None) -> date:
    """The site's date at ``moment`` (timezone-aware). None is a site that never set its zone:
    UTC. A name this machine's zone database does not know (an older database at the hub than at
    the site) also reads as UTC, so that a count is off by a day rather than not shown at all."""
    zone = zone_named(timezone or DEFAULT_TIMEZONE) or UTC
    return moment.astimezone(zone).date()
