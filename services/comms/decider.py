"""Where each comms aggregate lives: its context (so its stream, so the link's source it crosses by),
its owning site and its audience. The rules are in the modules named after each aggregate
(``message``, ``custody``, ``delivery``, ``alert``, ``directory``).

A message's whole life stays in its priority class's context, receipts included, so that an
emergency message's delivery report does not wait behind bulk traffic either. Hub-owned aggregates
never use the audience ``hub`` except for the hub's own senders and recipients, so the hub's relay can
pick out everything a site wrote with one subject filter (``ev.<ctx>.*.hub.>``).
"""

from __future__ import annotations

from services.comms.events import ALERTS, DIRECTORY, Priority, context_of
from shared.subjects import ALL, HUB, AggregateRef

VALVED: tuple[Priority, ...] = ("high", "normal", "bulk")
"""Classes whose messages wait behind a valve before crossing a link (see ``valve``); emergency
messages cross directly, always."""


def home_context(priority: Priority, site: str) -> str:
    """Where a message (at its sender's site) or a relay copy (at the hub) of this class is
    written: its class context, or for the valved classes a held context that is never sourced and
    that the valve copies from. The hub's is named apart from the sites' so that nothing that
    counts backlogs per context mistakes a held stream for one that crosses a link."""
    if priority not in VALVED:
        return context_of(priority)
    return f"{context_of(priority)}_{'queue' if site == HUB else 'held'}"


def message_ref(priority: Priority, message_id: str, site: str) -> AggregateRef:
    return AggregateRef(home_context(priority, site), "msg", message_id, site)


def relay_ref(priority: Priority, message_id: str, dest: str) -> AggregateRef:
    return AggregateRef(
        home_context(priority, HUB), "relay", f"{message_id}_{dest}", HUB, audience=dest
    )


def tracking_ref(priority: Priority, message_id: str, origin: str) -> AggregateRef:
    return AggregateRef(context_of(priority), "track", message_id, HUB, audience=origin)


def delivery_ref(priority: Priority, message_id: str, site: str) -> AggregateRef:
    return AggregateRef(context_of(priority), "dlv", message_id, site)


def alert_ref(alert_id: str, site: str) -> AggregateRef:
    return AggregateRef(ALERTS, "alert", alert_id, site)


def board_ref(alert_id: str) -> AggregateRef:
    return AggregateRef(ALERTS, "board", alert_id, HUB, audience=ALL)


def ack_ref(alert_id: str, site: str) -> AggregateRef:
    return AggregateRef(ALERTS, "ack", alert_id, site)


def book_ref(site: str) -> AggregateRef:
    return AggregateRef(DIRECTORY, "book", "book", site)


def published_ref(site: str) -> AggregateRef:
    return AggregateRef(DIRECTORY, "book", site, HUB, audience=ALL)


def channel_ref(name: str) -> AggregateRef:
    return AggregateRef(DIRECTORY, "channel", name, HUB, audience=ALL)
