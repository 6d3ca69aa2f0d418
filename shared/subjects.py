"""Subject and stream naming: the one place that says where an event lives.

Subject scheme (every token is one NATS token: letters, digits, ``-`` or ``_``)::

    ev.<context>.<owner>.<audience>.<kind>.<aggregate_id>     events of one aggregate
    cmd.<site>.<context>.<command>                             commands (request-reply)
    dlq.<site>.<consumer>                                      dead letters of one consumer
    local.<site>.<context>.>                                   site-local data, never sourced

``owner`` is the aggregate's single owning site (``hub`` or a site id): only that site's server has a
stream listening on ``ev.<context>.<owner>.>``, so a write can only land where the aggregate lives.
``audience`` says who else must see the events: site-owned aggregates use ``hub`` (everything a site
writes is sourced up), hub-owned aggregates name the site they concern or ``all`` for broadcasts, and
each site sources exactly ``ev.<context>.hub.<site>.>`` and ``ev.<context>.hub.all.>`` from the hub.

Streams are per context and site: ``<CONTEXT>_<SITE>`` (``REQUESTS_HUB``, ``REQUESTS_DILI``). A site's
stream holds its own events plus the hub events sourced for it; the hub's stream holds hub events plus
every site's events sourced up, so a projection reads one stream wherever it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HUB = "hub"
ALL = "all"
LOCAL_PREFIX = "local"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_SITE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class InvalidName(ValueError):
    """A name that cannot be a NATS subject token or a site id."""


def token(value: str, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InvalidName(f"{what} must be 1-128 letters, digits, '-' or '_', got {value!r}")
    return value


def site_id(value: str) -> str:
    """A site id doubles as a JetStream domain and a subject token, hence the narrow alphabet."""
    if not isinstance(value, str) or not _SITE.fullmatch(value) or value == ALL:
        raise InvalidName(
            f"site id must be lowercase letters, digits and '-', at most 32, got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class AggregateRef:
    """Where one aggregate's history lives: its subject is the aggregate."""

    context: str
    kind: str
    id: str
    site: str
    audience: str = HUB

    def __post_init__(self) -> None:
        token(self.context, "context")
        token(self.kind, "aggregate kind")
        token(self.id, "aggregate id")
        site_id(self.site)
        if self.audience != ALL:
            site_id(self.audience)

    @property
    def subject(self) -> str:
        return f"ev.{self.context}.{self.site}.{self.audience}.{self.kind}.{self.id}"

    @classmethod
    def from_subject(cls, subject: str) -> AggregateRef:
        parts = subject.split(".")
        if len(parts) != 6 or parts[0] != "ev":
            raise InvalidName(f"not an event subject: {subject!r}")
        _, context, site, audience, kind, agg_id = parts
        return cls(context=context, kind=kind, id=agg_id, site=site, audience=audience)


def stream_name(context: str, site: str) -> str:
    return f"{token(context, 'context').upper()}_{site_id(site).upper()}"


def owned_subjects(context: str, site: str) -> str:
    """What the ``<CONTEXT>_<SITE>`` stream listens on: only events the site owns."""
    return f"ev.{token(context, 'context')}.{site_id(site)}.>"


def events_for_site(context: str, site: str) -> tuple[str, str]:
    """The hub events a site sources down: those addressed to it, and broadcasts."""
    return (f"ev.{context}.{HUB}.{site_id(site)}.>", f"ev.{context}.{HUB}.{ALL}.>")


def command_subject(site: str, context: str, command: str) -> str:
    return f"cmd.{site_id(site)}.{token(context, 'context')}.{token(command, 'command')}"


def dlq_stream(site: str) -> str:
    return f"DLQ_{site_id(site).upper()}"


def dlq_subject(site: str, consumer: str) -> str:
    return f"dlq.{site_id(site)}.{token(consumer, 'consumer')}"


def local_subjects(site: str) -> str:
    return f"local.{site_id(site)}.>"
