"""What a site does when something reaches it: deliver a message (or record that it came too
late), deliver its own site's messages to its own people, and receive an alert of its area.

Whether a message arrived in time is this site's call, made with its clock when the copy arrives.
"""

from __future__ import annotations

from services.comms import addresses
from services.comms.alert import ReceiveAlert
from services.comms.decider import ack_ref, delivery_ref
from services.comms.delivery import Deliver
from services.comms.events import AlertBroadcast, AlertRaised, MessageRelayed, MessageSent, Priority
from services.comms.handlers import Comms
from services.comms.reaction import commit, reaction, site_index
from shared.envelope import Envelope, EventPayload
from shared.reactor import Plan, Planned
from shared.subjects import HUB


def delivery_filters(context: str, site: str) -> tuple[str, ...]:
    """What a site's delivery reads: the hub's copies for it and its own new messages, nothing
    else (at the hub, whose stream holds every site's events, this is most of the saving)."""
    return (f"ev.{context}.{HUB}.{site}.relay.>", f"ev.{context}.{site}.{HUB}.msg.>")


class Arrival:
    def __init__(self, comms: Comms) -> None:
        self.comms = comms
        self.site = comms.site
        self.actor = f"comms@{comms.site}"
        self._index = site_index(comms.site)

    def messages(self, priority: Priority) -> Plan:
        async def plan(event: Envelope[EventPayload]) -> Planned | None:
            async with self.comms.gate.step(priority):
                await self._message_event(priority, event)
            return None

        return plan

    async def _message_event(self, priority: Priority, event: Envelope[EventPayload]) -> None:
        p = event.payload
        match p:
            case MessageRelayed(site=dest) if dest == self.site:
                mid, origin, recipients = p.message_id, p.origin, p.to
            case MessageSent() if event.site == self.site:
                mid, origin = event.aggregate_id, self.site
                directory = self.comms.reads.directory()
                recipients = addresses.recipients_at(p.to, self.site, directory)
                if not recipients:
                    return  # nobody here: the hub takes it to the others
            case _:
                return
        now = self.comms.clock()
        command = Deliver(origin, recipients, p.expires_at, now)
        meta = reaction(event, self._index, self.actor, now)
        ref = delivery_ref(priority, mid, self.site)
        await commit(self.comms.reacting.deliveries, ref, command, meta)

    async def alerts(self, event: Envelope[EventPayload]) -> Planned | None:
        p = event.payload
        match p:
            case AlertBroadcast(area=area, origin=origin) if self.site in area:
                pass
            case AlertRaised(area=area) if event.site == self.site and (
                not area or self.site in area
            ):
                origin = self.site  # its own people hear of it at once, link or no link
            case _:
                return None
        now = self.comms.clock()
        meta = reaction(event, self._index, self.actor, now)
        command = ReceiveAlert(origin, now)
        ref = ack_ref(event.aggregate_id, self.site)
        await commit(self.comms.reacting.receipts, ref, command, meta)
        return None
