"""The hub relay: takes custody of what sites send, carries receipts back to senders, broadcasts
alerts with their board, and republishes each site's directory for every site.

It reads only what sites wrote (``ev.<ctx>.*.hub.>``: site-owned events, and the hub's own senders
and recipients), one reactor per priority class, so custody of an emergency message never waits for
the bulk class's work. Within a class, one sender's messages go through one lane, in the order the
sender's site wrote them, so copies reach each recipient site in that order.
"""

from __future__ import annotations

from services.comms import addresses
from services.comms.alert import Broadcast, RecordAck, RecordReceipt
from services.comms.custody import (
    OpenTracking,
    RecordArrivedExpired,
    RecordDelivery,
    RecordRead,
    Relay,
)
from services.comms.decider import board_ref, published_ref, relay_ref, tracking_ref
from services.comms.directory import Publish, Withdraw
from services.comms.events import (
    AddressListed,
    AddressUnlisted,
    AlertAcknowledged,
    AlertBroadcast,
    AlertRaised,
    AlertReceived,
    ArrivedExpired,
    MessageDelivered,
    MessageRead,
    MessageRelayed,
    MessageSent,
    Priority,
)
from services.comms.handlers import Comms
from services.comms.reaction import HUB_INDEX, commit, reaction
from shared.envelope import Envelope, EventPayload
from shared.reactor import Plan, Planned

ACTOR = "relay@hub"


def sender_lane(event: Envelope[EventPayload]) -> str:
    """One lane per sender for new messages (their order is kept), per aggregate otherwise."""
    match event.payload:
        case MessageSent(sender=sender):
            return f"{event.site}|{sender}"
        case MessageRelayed(origin=origin, sender=sender):
            return f"{origin}|{sender}"
    return event.aggregate_id


class HubRelay:
    def __init__(self, comms: Comms) -> None:
        self.comms = comms

    def messages(self, priority: Priority) -> Plan:
        async def plan(event: Envelope[EventPayload]) -> Planned | None:
            async with self.comms.gate.step(priority):
                await self._message_event(priority, event)
            return None

        return plan

    async def _message_event(self, priority: Priority, event: Envelope[EventPayload]) -> None:
        p, here = event.payload, event.site
        mid = event.aggregate_id
        command: object
        match p:
            case MessageSent():
                await self._take_custody(priority, event, p)
                return
            case MessageDelivered(origin=origin, recipients=recipients, at=at) if origin != here:
                command = RecordDelivery(here, recipients, at)
            case ArrivedExpired(origin=origin, at=at) if origin != here:
                command = RecordArrivedExpired(here, at)
            case MessageRead(origin=origin, recipient=reader, at=at) if origin != here:
                command = RecordRead(here, reader, at)
            case _:
                return  # local receipts stay with their sender; the hub's own events are done
        meta = reaction(event, HUB_INDEX, ACTOR, self.comms.clock())
        await commit(
            self.comms.reacting.tracking, tracking_ref(priority, mid, origin), command, meta
        )

    async def _take_custody(
        self, priority: Priority, event: Envelope[EventPayload], sent: MessageSent
    ) -> None:
        """Record the decision first (custody, or refusal as expired), then make the copies it
        calls for: a redelivery repeats the recorded decision instead of deciding again."""
        origin, mid = event.site, event.aggregate_id
        directory = self.comms.reads.directory()
        addressed = addresses.sites_addressed(sent.to, directory) - {origin}
        dests = tuple(sorted(addressed & directory.sites))
        unknown = tuple(sorted(addressed - directory.sites))
        now = self.comms.clock()
        meta = reaction(event, HUB_INDEX, ACTOR, now)
        decided = await commit(
            self.comms.reacting.tracking,
            tracking_ref(priority, mid, origin),
            OpenTracking(dests, unknown, sent.expires_at, now),
            meta,
        )
        for i, dest in enumerate(decided.state.custody, start=1):
            copy = MessageRelayed(
                message_id=mid,
                origin=origin,
                site=dest,
                priority=sent.priority,
                sender=sent.sender,
                to=addresses.recipients_at(sent.to, dest, directory) or sent.to,
                channel=sent.channel,
                sealed=sent.sealed,
                body=sent.body,
                expires_at=sent.expires_at,
                sent_at=event.occurred_at,
                attachments=sent.attachments,
                resend_of=sent.resend_of,
            )
            meta = reaction(event, HUB_INDEX + i, ACTOR, now)
            await commit(
                self.comms.reacting.relays, relay_ref(priority, mid, dest), Relay(copy), meta
            )

    async def alerts(self, event: Envelope[EventPayload]) -> Planned | None:
        async with self.comms.gate.step("emergency"):  # warnings go first, like emergencies
            await self._alert_event(event)
        return None

    async def _alert_event(self, event: Envelope[EventPayload]) -> None:
        aid, here = event.aggregate_id, event.site
        command: object
        match event.payload:
            case AlertRaised() as p:
                area = p.area or tuple(sorted(self.comms.reads.directory().sites))
                command = Broadcast(
                    AlertBroadcast(
                        origin=here,
                        severity=p.severity,
                        area=area,
                        channel=p.channel,
                        sealed=p.sealed,
                        text=p.text,
                        source=p.source,
                        raised_by=p.raised_by,
                        raised_at=event.occurred_at,
                        ward=p.ward,
                    )
                )
            case AlertReceived(at=at):
                command = RecordReceipt(here, at)
            case AlertAcknowledged(by=by, at=at):
                command = RecordAck(here, by, at)
            case _:
                return
        meta = reaction(event, HUB_INDEX, ACTOR, self.comms.clock())
        await commit(self.comms.reacting.boards, board_ref(aid), command, meta)

    async def directory(self, event: Envelope[EventPayload]) -> Planned | None:
        command: object
        match event.payload:
            case AddressListed(address=address):
                command = Publish(event.site, address)
            case AddressUnlisted(address=address):
                command = Withdraw(event.site, address)
            case _:
                return None
        meta = reaction(event, HUB_INDEX, ACTOR, self.comms.clock())
        await commit(self.comms.published, published_ref(event.site), command, meta)
        return None
