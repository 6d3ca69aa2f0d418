"""The comms service at one site: validated input in, decided events out, queries answered.

This is where the edge does what a decider may not: read the clock (only to check a client's id is
not from the future), read the directory, seal and open bodies with the site's channel keys.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.comms import addresses
from services.comms.addresses import Directory
from services.comms.alert import AcknowledgeAlert, RaiseAlert, acks, board, check_text, raised
from services.comms.attachments import Attachments
from services.comms.custody import relay, tracking
from services.comms.decider import (
    ack_ref,
    alert_ref,
    book_ref,
    channel_ref,
    delivery_ref,
    message_ref,
)
from services.comms.delivery import MarkRead, delivery
from services.comms.directory import (
    ListAddress,
    OpenChannel,
    SetChannelSites,
    UnlistAddress,
    book,
    channel,
    published,
)
from services.comms.events import MAX_BODY_BYTES, Attachment, Priority
from services.comms.gate import PriorityGate
from services.comms.inputs import (
    AckInput,
    AddressInput,
    AlertInput,
    AttachInput,
    BoardQuery,
    ChannelInput,
    FetchInput,
    InboxQuery,
    KeyInput,
    OutboxQuery,
    ReadInput,
    ResendInput,
    SendInput,
    StatusQuery,
)
from services.comms.keys import ChannelKeys, decode_key, encode_key, new_key
from services.comms.message import MAX_LIFETIME, MarkResent, SendMessage, message
from services.comms.projections import iso
from services.comms.queries import Reads
from services.comms.sealing import SealError, open_sealed, seal
from shared.commands import AggregateStore, CommandHandler, CommandMeta, meta
from shared.decider import Refused
from shared.endpoints import NotFound
from shared.eventstore import EventConflict
from shared.ids import child_id, uuid7
from shared.locks import KeyedLocks
from shared.subjects import HUB

DEFAULT_LIFETIME: dict[Priority, timedelta] = {
    "emergency": timedelta(hours=12),
    "high": timedelta(days=2),
    "normal": timedelta(days=7),
    "bulk": timedelta(days=14),
}
CLOCK_SKEW = timedelta(minutes=5)
_CLASSES_REMEMBERED = 10_000
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReactionHandlers:
    """Handlers for the steps that mostly create aggregates (custody, delivery, a new message):
    their first load is skipped (``new_on_first_touch``)."""

    def __init__(self, store: AggregateStore) -> None:
        self.tracking = CommandHandler(store, tracking, new_on_first_touch=True)
        self.relays = CommandHandler(store, relay, new_on_first_touch=True)
        self.deliveries = CommandHandler(store, delivery, new_on_first_touch=True)
        self.boards = CommandHandler(store, board, new_on_first_touch=True)
        self.receipts = CommandHandler(store, acks, new_on_first_touch=True)
        self.messages = CommandHandler(store, message, new_on_first_touch=True)


class Comms:
    def __init__(
        self,
        store: AggregateStore,
        site: str,
        reads: Reads,
        keys: ChannelKeys,
        attachments: Attachments,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.site = site
        self.reads = reads
        self.keys = keys
        self.attachments = attachments
        self.clock = clock
        self.messages = CommandHandler(store, message)
        self.tracking = CommandHandler(store, tracking)
        self.deliveries = CommandHandler(store, delivery)
        self.raised = CommandHandler(store, raised)
        self.acks = CommandHandler(store, acks)
        self.reacting = ReactionHandlers(store)
        self.gate = PriorityGate()
        self.valve_report: Callable[[], list[dict[str, Any]]] = list
        self.books = CommandHandler(store, book)
        self.published = CommandHandler(store, published)
        self.channels = CommandHandler(store, channel)
        self._sending: KeyedLocks[str] = KeyedLocks()
        self._classes: OrderedDict[str, Priority] = OrderedDict()
        """The class of each message sent lately: the read model may not show one yet, and the
        same id in another class would be another aggregate, so a second message."""

    def _meta(self, command_id: str, actor: str) -> CommandMeta:
        """The command's time is its UUIDv7's (when it was made, perhaps offline); a time from the
        future means a broken clock, which would let a message dodge its own lifetime."""
        try:
            made = meta(command_id, actor)
        except (ValueError, OverflowError):
            raise Refused("the command id carries no usable time", code="bad_id") from None
        if made.occurred_at > self.clock() + CLOCK_SKEW:
            raise Refused(
                "the command id's time is in the future: check this device's clock", code="bad_id"
            )
        return made

    # --- messages ------------------------------------------------------------------------------

    async def send(self, inp: SendInput, *, resend_of: str | None = None) -> dict[str, Any]:
        made = self._meta(inp.message_id, inp.sender)
        expires_at = _expiry(inp.priority, made.occurred_at, inp.expires_at, inp.lifetime_seconds)
        if len(inp.body.encode()) > MAX_BODY_BYTES:
            raise Refused(
                f"the body is larger than {MAX_BODY_BYTES} bytes: send it as an attachment",
                code="too_large",
            )
        if not inp.body.strip() and not inp.attachments:  # sealed, even "" is not empty
            raise Refused("the message is empty", code="empty")
        # each class is its own aggregate: check and append one send of an id at a time
        async with self._sending(inp.message_id):
            result = await self._send(inp, made, expires_at, resend_of)
        self._classes[inp.message_id] = inp.priority
        while len(self._classes) > _CLASSES_REMEMBERED:
            self._classes.popitem(last=False)
        return result

    async def _send(
        self, inp: SendInput, made: CommandMeta, expires_at: datetime, resend_of: str | None
    ) -> dict[str, Any]:
        known = self.reads.message(inp.message_id)
        priority = self._classes.get(inp.message_id) or (known and known["priority"])
        if priority and priority != inp.priority:
            raise Refused(
                "this message id is already used for another message", code="duplicate_id"
            )
        directory = self.reads.directory()
        for attachment in inp.attachments:
            if attachment.site == self.site and not await self.attachments.held_here(attachment):
                raise Refused(
                    f"attachment {attachment.sha256[:12]}... is not stored at this site: "
                    "attach the file first",
                    code="bad_attachment",
                )
        sealed, body = await self._seal(directory, inp.channel, inp.body, inp.message_id)
        command = SendMessage(
            site=self.site,
            priority=inp.priority,
            sender=inp.sender,
            to=tuple(inp.to),
            channel=inp.channel,
            sealed=sealed,
            body=body,
            expires_at=expires_at,
            at=made.occurred_at,
            directory=directory,
            attachments=tuple(inp.attachments),
            resend_of=resend_of,
        )
        ref = message_ref(inp.priority, inp.message_id, self.site)
        try:  # a new message, most likely: skip loading what does not exist yet
            outcome = await self.reacting.messages.handle(ref, command, made)
        except (Refused, EventConflict):  # or a retry: decide again on what is stored
            outcome = await self.messages.handle(ref, command, made)
        sent = outcome.state.sent
        assert sent is not None
        return {
            "message_id": inp.message_id,
            "priority": sent.priority,
            "sealed": sent.sealed,
            "expires_at": iso(sent.expires_at),
            "state": "queued",
            "retry": not outcome.events,
        }

    async def _seal(
        self, directory: Directory, name: str, text: str, item_id: str
    ) -> tuple[bool, str]:
        known = directory.channels.get(name)
        if known is None or known.public:
            return False, text  # an unknown channel is refused by the decider, with its reason
        key = await self.keys.get(name)
        if key is None:
            raise Refused(
                f"this site holds no key for channel {name!r}: provision one with "
                "`aidmesh msg key` (the same key at every site of the channel)",
                code="no_key",
            )
        return True, seal(key, text, item_id, name)

    async def mark_read(self, inp: ReadInput) -> dict[str, Any]:
        found = self.reads.message(inp.message_id)
        if found is None:
            raise NotFound("no such message has reached this site")
        made = self._meta(inp.command_id, inp.reader)
        ref = delivery_ref(found["priority"], inp.message_id, self.site)
        await self.deliveries.handle(ref, MarkRead(self.site, inp.reader, made.occurred_at), made)
        return {"message_id": inp.message_id, "reader": inp.reader, "read": True}

    async def resend(self, inp: ResendInput) -> dict[str, Any]:
        """A new message to the destinations the original has not reached, linked to it."""
        original = self.reads.status(inp.original)
        if original is None or original["origin"] != self.site:
            raise NotFound("no such message was sent from this site")
        open_sites = {
            d["site"] for d in original["destinations"] if d["state"] not in ("delivered",)
        }
        to = [
            a
            for a in original["to"]
            if (addresses.site_of(a) in open_sites) or (addresses.site_of(a) is None and open_sites)
        ]
        if not to:
            raise Refused(
                "it has reached every destination: there is nothing to resend",
                code="nothing_to_resend",
            )
        text = await self._opened_body(original)
        if text is None:
            raise Refused(
                f"this site holds no key for channel {original['channel']!r}", code="no_key"
            )
        again = SendInput(
            message_id=inp.message_id,
            sender=original["sender"],
            to=to,
            priority=inp.priority or original["priority"],
            channel=original["channel"],
            body=text,
            expires_at=inp.expires_at,
            lifetime_seconds=inp.lifetime_seconds,
            attachments=original["attachments"],
        )
        result = await self.send(again, resend_of=inp.original)
        mark = CommandMeta(
            child_id(inp.message_id, 1), original["sender"], self.clock(), inp.message_id
        )
        ref = message_ref(original["priority"], inp.original, self.site)
        await self.messages.handle(ref, MarkResent(inp.message_id), mark)
        return result | {"resend_of": inp.original}

    async def _opened_body(self, item: dict[str, Any]) -> str | None:
        if not item["sealed"]:
            return str(item["body"])
        key = await self.keys.get(item["channel"])
        if key is None:
            return None
        try:
            return open_sealed(key, item["body"], item["message_id"], item["channel"])
        except SealError:
            return None

    async def attach(self, inp: AttachInput) -> dict[str, Any]:
        try:
            data = base64.b64decode(inp.content, validate=True)
        except (ValueError, binascii.Error):
            raise Refused("the content is not base64", code="invalid") from None
        return await self.store_file(inp.channel, data, inp.media_type)

    async def store_file(self, channel: str, data: bytes, media_type: str) -> dict[str, Any]:
        stored = await self.attachments.put(channel, data, media_type, self.reads.directory())
        return stored.model_dump()

    async def fetch_file(self, inp: FetchInput) -> tuple[bytes, str]:
        """An attachment of a message known here, fetched from its site on first ask."""
        found = self.reads.message(inp.message_id)
        refs = [a for a in (found or {}).get("attachments", []) if a["sha256"] == inp.sha256]
        if found is None or not refs:
            raise NotFound("no such attachment of a message known at this site")
        channel = self.reads.directory().channels.get(found["channel"])
        public = channel is not None and channel.public
        data = await self.attachments.fetch(Attachment(**refs[0]), found["channel"], public)
        return data, str(refs[0]["media_type"])

    async def fetch_attachment(self, inp: FetchInput) -> dict[str, Any]:
        data, media_type = await self.fetch_file(inp)
        return {
            "media_type": media_type,
            "size": len(data),
            "content": base64.b64encode(data).decode(),
        }

    # --- directory, channels, keys -----------------------------------------------------------

    async def list_self(self) -> None:
        """Every site lists itself on start (no event when it already has)."""
        await self.books.handle(
            book_ref(self.site),
            ListAddress(self.site, f"site:{self.site}"),
            CommandMeta(uuid7(), f"comms@{self.site}", self.clock()),
        )

    async def list_address(self, inp: AddressInput) -> dict[str, Any]:
        made = self._meta(inp.command_id, f"operator@{self.site}")
        await self.books.handle(book_ref(self.site), ListAddress(self.site, inp.address), made)
        return {"address": inp.address, "listed": True}

    async def unlist_address(self, inp: AddressInput) -> dict[str, Any]:
        made = self._meta(inp.command_id, f"operator@{self.site}")
        await self.books.handle(book_ref(self.site), UnlistAddress(self.site, inp.address), made)
        return {"address": inp.address, "listed": False}

    async def open_channel(self, inp: ChannelInput) -> dict[str, Any]:
        if self.site != HUB:
            raise Refused("channels are opened at the hub", code="hub_only")
        made = self._meta(inp.command_id, f"operator@{self.site}")
        known = self.reads.directory().sites
        command = OpenChannel(inp.name, inp.public, tuple(inp.sites), known)
        await self.channels.handle(channel_ref(inp.name), command, made)
        return {"channel": inp.name, "public": inp.public, "sites": sorted(inp.sites) or ["all"]}

    async def set_channel_sites(self, inp: ChannelInput) -> dict[str, Any]:
        if self.site != HUB:
            raise Refused("channels are changed at the hub", code="hub_only")
        made = self._meta(inp.command_id, f"operator@{self.site}")
        known = self.reads.directory().sites
        await self.channels.handle(
            channel_ref(inp.name), SetChannelSites(tuple(inp.sites), known), made
        )
        return {"channel": inp.name, "sites": sorted(inp.sites) or ["all"]}

    async def set_key(self, inp: KeyInput) -> dict[str, Any]:
        key = decode_key(inp.key) if inp.key else new_key()
        held = await self.keys.get(inp.channel)
        if held is not None and not inp.replace:
            if held == key:
                return {"channel": inp.channel, "stored": True}
            raise Refused(
                f"this site already holds a key for {inp.channel!r}; replacing it makes the "
                "messages sealed with it unreadable here: ask with replace to do so",
                code="exists",
            )
        await self.keys.put(inp.channel, key)
        answer: dict[str, Any] = {"channel": inp.channel, "stored": True}
        if not inp.key:
            answer["key"] = encode_key(key)  # shown once, to carry to the channel's other sites
        return answer

    # --- alerts ------------------------------------------------------------------------------

    async def raise_alert(self, inp: AlertInput) -> dict[str, Any]:
        made = self._meta(inp.alert_id, inp.raised_by)
        directory = self.reads.directory()
        check_text(inp.text)  # here, in clear: a sealed text is never blank and is longer
        sealed, text = (False, inp.text)
        if inp.channel is not None:
            sealed, text = await self._seal(directory, inp.channel, inp.text, inp.alert_id)
        command = RaiseAlert(
            site=self.site,
            severity=inp.severity,
            area=tuple(inp.area),
            channel=inp.channel,
            sealed=sealed,
            text=text,
            source="person",
            raised_by=inp.raised_by,
            directory=directory,
        )
        await self.raised.handle(alert_ref(inp.alert_id, self.site), command, made)
        return {"alert_id": inp.alert_id, "area": sorted(inp.area) or ["all"], "raised": True}

    async def ack_alert(self, inp: AckInput) -> dict[str, Any]:
        made = self._meta(inp.command_id, inp.by)
        command = AcknowledgeAlert(self.site, inp.by, made.occurred_at)
        await self.acks.handle(ack_ref(inp.alert_id, self.site), command, made)
        return {"alert_id": inp.alert_id, "acknowledged_by": inp.by}

    # --- queries -------------------------------------------------------------------------------

    async def inbox(self, q: InboxQuery) -> dict[str, Any]:
        if addresses.site_of(q.address) != self.site:
            raise Refused(
                f"this site ({self.site}) holds the inboxes of its own people and roles only",
                code="not_here",
            )
        page = self.reads.inbox(
            q.address, limit=q.limit, before=q.before, unread_only=q.unread_only
        )
        return page.answer([await self._readable(i) for i in page.items])

    async def outbox(self, q: OutboxQuery) -> dict[str, Any]:
        page = self.reads.outbox(limit=q.limit, before=q.before, sender=q.sender)
        return page.answer([await self._readable(i) for i in page.items])

    async def status(self, q: StatusQuery) -> dict[str, Any]:
        found = self.reads.status(q.message_id)
        if found is None:
            raise NotFound("no such message is known at this site")
        return await self._readable(found)

    async def board(self, q: BoardQuery) -> dict[str, Any]:
        page = self.reads.board(limit=q.limit, before=q.before)
        out = []
        for alert in page.items:
            if alert["sealed"]:
                key = await self.keys.get(alert["channel"])
                try:
                    assert key is not None
                    alert["text"] = open_sealed(
                        key, alert["text"], alert["alert_id"], alert["channel"]
                    )
                except (AssertionError, SealError):
                    alert["text"] = None
                    alert["unreadable"] = "sealed for a channel whose key this site does not hold"
            out.append(alert)
        return page.answer(out)

    async def _readable(self, item: dict[str, Any]) -> dict[str, Any]:
        text = await self._opened_body(item)
        item["body"] = text
        if text is None:
            item["unreadable"] = "sealed for a channel whose key this site does not hold"
        return item


def _expiry(
    priority: Priority, at: datetime, expires_at: datetime | None, lifetime: int | None
) -> datetime:
    if expires_at is not None and lifetime is not None:
        raise Refused("give an expiry time or a lifetime, not both", code="invalid")
    if expires_at is not None:
        try:
            return expires_at.astimezone(UTC)
        except OverflowError:  # 9999-12-31 west of UTC, 0001-01-01 east: no UTC time to compare
            if expires_at > at:
                raise Refused(
                    f"a lifetime is at most {MAX_LIFETIME.days} days", code="lifetime_too_long"
                ) from None
            raise Refused(
                "the lifetime has already ended: give a later expiry", code="past_expiry"
            ) from None
    span = timedelta(seconds=lifetime) if lifetime is not None else DEFAULT_LIFETIME[priority]
    return at + span
