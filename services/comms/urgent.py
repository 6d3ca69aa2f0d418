"""Automatic alerts: an urgent help request that nobody has claimed raises an alert at its site.

Reads the requests service's contract event ``UrgentRequestUnclaimed`` from ``REQUESTS_<SITE>`` and
nothing else (other requests events are skipped, not dead-lettered). Only the site that owns the
request reacts, so the hub, which sees every site's requests, does not raise it a second time. A
stale event (replayed when this consumer is first created) raises nothing: an alert about a request
left unclaimed days ago would send people out for nothing.
"""

from __future__ import annotations

from datetime import timedelta

from services.comms.alert import RaiseAlert
from services.comms.decider import alert_ref
from services.comms.events import MAX_ALERT_TEXT_BYTES
from services.comms.handlers import Comms
from services.requests.events import UrgentRequestUnclaimed
from shared.envelope import Envelope, EventPayload, EventRegistry
from shared.ids import child_id
from shared.reactor import Planned

REQUESTS_CONTEXT = "requests"
ONLY = frozenset({"UrgentRequestUnclaimed"})
STALE_AFTER = timedelta(hours=6)
registry = EventRegistry(UrgentRequestUnclaimed)


def text_of(request: UrgentRequestUnclaimed) -> str:
    text = (
        f"Urgent {request.category} request ({request.urgency}) unclaimed for "
        f"{request.minutes} min in ward {request.ward}"
    )
    return text.encode()[:MAX_ALERT_TEXT_BYTES].decode(errors="ignore")


class UrgentAlerts:
    def __init__(self, comms: Comms) -> None:
        self.comms = comms

    async def plan(self, event: Envelope[EventPayload]) -> Planned | None:
        request = event.payload
        if not isinstance(request, UrgentRequestUnclaimed) or event.site != self.comms.site:
            return None
        if self.comms.clock() - event.occurred_at > STALE_AFTER:
            return None
        site = self.comms.site
        command = RaiseAlert(
            site=site,
            severity="urgent",
            area=(site,),
            channel=None,
            sealed=False,
            text=text_of(request),
            source="requests",
            raised_by=f"role:requests@{site}",
            directory=self.comms.reads.directory(),
            ward=request.ward[:64],
        )
        alert_id = child_id(event.event_id, 0)
        return Planned(self.comms.raised, alert_ref(alert_id, site), command)
