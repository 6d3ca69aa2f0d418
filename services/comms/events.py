"""The facts the comms service publishes: its public contract.

A message's life is split over the sites it touches, each step written by the one site that owns it:
the sender's site records the message (``MessageSent``), the hub takes custody (``MessageRelayed``,
one per destination site, and a tracking aggregate whose events flow back to the sender), the
recipient's site records delivery, expiry on arrival, and reads. Priority classes are separate event
contexts, hence separate streams and separate sources across every link: an emergency message never
queues behind the bulk stream's backlog.

Bodies are ciphertext (AES-GCM per channel, keys held at the sites) unless the channel is public: no
event that reaches the hub carries a cleartext private body. Addresses are pseudonymous handles.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.envelope import EventPayload, EventRegistry, UUIDStr

Priority = Literal["emergency", "high", "normal", "bulk"]
PRIORITIES: tuple[Priority, ...] = ("emergency", "high", "normal", "bulk")
ALERTS = "comms_alerts"
DIRECTORY = "comms_directory"


def context_of(priority: Priority) -> str:
    """The event context (and so the stream, and the source across each link) of a class."""
    return f"comms_{priority}"


CONTEXTS: tuple[str, ...] = (*(context_of(p) for p in PRIORITIES), ALERTS, DIRECTORY)

SITE_PATTERN = r"[a-z0-9][a-z0-9-]{0,31}"
HANDLE_PATTERN = r"[a-z0-9][a-z0-9._-]{0,47}"
CHANNEL_PATTERN = r"[a-z0-9][a-z0-9_-]{0,31}"
ADDRESS_PATTERN = (
    rf"^(all|site:{SITE_PATTERN}|channel:{CHANNEL_PATTERN}"
    rf"|(person|role):{HANDLE_PATTERN}@{SITE_PATTERN})$"
)

SiteId = Annotated[str, StringConstraints(pattern=rf"^{SITE_PATTERN}$")]
ChannelName = Annotated[str, StringConstraints(pattern=rf"^{CHANNEL_PATTERN}$")]
Address = Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN)]
"""``person:<handle>@<site>``, ``role:<name>@<site>``, ``site:<site>``, ``channel:<name>`` or ``all``."""

MAX_BODY_BYTES = 4096
"""Plaintext limit (UTF-8): a message is text; anything larger travels as an attachment reference."""
MAX_WIRE_BODY = 5600
"""Room for the sealed form of the largest body: nonce + tag + base64 of 4096 bytes."""
MAX_RECIPIENTS = 32
MAX_ATTACHMENTS = 8
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
MAX_ALERT_TEXT_BYTES = 1024
Body = Annotated[str, StringConstraints(max_length=MAX_WIRE_BODY)]


class Attachment(BaseModel):
    """A reference to a file held at ``site``, fetched on demand; never the file itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(gt=0, le=MAX_ATTACHMENT_BYTES)
    media_type: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9.+-]{1,64}$")]
    site: SiteId


# --- a message at its sender's site (kind "msg", id = message id) ------------------------------


class MessageSent(EventPayload):
    event_type = "MessageSent"
    priority: Priority
    sender: Address
    to: tuple[Address, ...] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    channel: ChannelName
    sealed: bool
    body: Body
    expires_at: AwareDatetime
    attachments: tuple[Attachment, ...] = Field(default=(), max_length=MAX_ATTACHMENTS)
    resend_of: UUIDStr | None = None


class LifetimeEnded(EventPayload):
    """The sender's site saw the lifetime end before the hub confirmed custody: the message is most
    likely undelivered, and the hub's answer (refused as expired) will confirm it. Never a drop."""

    event_type = "LifetimeEnded"


class MessageResent(EventPayload):
    """The sender resent the message as a new one (``as_message``), to whom it had not reached."""

    event_type = "MessageResent"
    as_message: UUIDStr


# --- custody at the hub ------------------------------------------------------------------------


class MessageRelayed(EventPayload):
    """The hub holds the message for one destination site (kind "relay", audience = that site)."""

    event_type = "MessageRelayed"
    message_id: UUIDStr
    origin: SiteId
    site: SiteId
    priority: Priority
    sender: Address
    to: tuple[Address, ...] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    channel: ChannelName
    sealed: bool
    body: Body
    expires_at: AwareDatetime
    sent_at: AwareDatetime
    attachments: tuple[Attachment, ...] = Field(default=(), max_length=MAX_ATTACHMENTS)
    resend_of: UUIDStr | None = None


# Tracking (hub, kind "track", id = message id, audience = the sender's site): what the sender sees.


class CustodyTaken(EventPayload):
    event_type = "CustodyTaken"
    sites: tuple[SiteId, ...]
    """Destination sites the hub now holds the message for (empty: nobody beyond the sender's
    own site is addressed)."""


class CustodyRefused(EventPayload):
    """Definitive: the hub will never forward the message to these sites."""

    event_type = "CustodyRefused"
    sites: tuple[SiteId, ...]
    reason: Literal["expired", "unknown_site"]


class DeliveryReported(EventPayload):
    event_type = "DeliveryReported"
    site: SiteId
    recipients: tuple[Address, ...]
    at: AwareDatetime


class ExpiredAtRecipient(EventPayload):
    """Definitive: the message reached ``site`` after its lifetime and was not delivered."""

    event_type = "ExpiredAtRecipient"
    site: SiteId
    at: AwareDatetime


class LifetimeEndedInCustody(EventPayload):
    """The lifetime ended while these sites had not confirmed delivery (perhaps cut off): most
    likely undelivered; a site that did deliver in time will still say so, and that wins."""

    event_type = "LifetimeEndedInCustody"
    sites: tuple[SiteId, ...]


class ReadReported(EventPayload):
    event_type = "ReadReported"
    site: SiteId
    recipient: Address
    at: AwareDatetime


# --- at the recipient's site (kind "dlv", id = message id) -------------------------------------


class MessageDelivered(EventPayload):
    event_type = "MessageDelivered"
    origin: SiteId
    recipients: tuple[Address, ...]
    at: AwareDatetime


class ArrivedExpired(EventPayload):
    event_type = "ArrivedExpired"
    origin: SiteId
    at: AwareDatetime


class MessageRead(EventPayload):
    event_type = "MessageRead"
    origin: SiteId
    recipient: Address
    at: AwareDatetime


# --- alerts (context comms_alerts) -------------------------------------------------------------

Severity = Literal["info", "warning", "urgent", "evacuate"]
AlertSource = Literal["person", "requests"]


class AlertRaised(EventPayload):
    """Raised at a site (kind "alert", id = alert id). ``area`` empty: every site."""

    event_type = "AlertRaised"
    severity: Severity
    area: tuple[SiteId, ...] = Field(max_length=64)
    channel: ChannelName | None
    sealed: bool
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_WIRE_BODY)]
    source: AlertSource
    raised_by: Address
    ward: str | None = Field(default=None, max_length=64)


class AlertBroadcast(EventPayload):
    """The hub's copy for every site (kind "alert", audience all): also the acknowledgement board."""

    event_type = "AlertBroadcast"
    origin: SiteId
    severity: Severity
    area: tuple[SiteId, ...]
    """The sites asked to acknowledge, resolved by the hub when it broadcast."""
    channel: ChannelName | None
    sealed: bool
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_WIRE_BODY)]
    source: AlertSource
    raised_by: Address
    raised_at: AwareDatetime
    ward: str | None = Field(default=None, max_length=64)


class AlertSiteReceived(EventPayload):
    event_type = "AlertSiteReceived"
    site: SiteId
    at: AwareDatetime


class AlertSiteAcknowledged(EventPayload):
    event_type = "AlertSiteAcknowledged"
    site: SiteId
    by: Address
    at: AwareDatetime


class AlertReceived(EventPayload):
    """The alert reached this site (kind "ack", id = alert id)."""

    event_type = "AlertReceived"
    origin: SiteId
    at: AwareDatetime


class AlertAcknowledged(EventPayload):
    event_type = "AlertAcknowledged"
    origin: SiteId
    by: Address
    at: AwareDatetime


# --- directory (context comms_directory) -------------------------------------------------------


class AddressListed(EventPayload):
    """A site lists one of its own addresses (kind "book", id "book")."""

    event_type = "AddressListed"
    address: Address


class AddressUnlisted(EventPayload):
    event_type = "AddressUnlisted"
    address: Address


class AddressPublished(EventPayload):
    """The hub republishes a site's address for every site (kind "book", id = site, audience all)."""

    event_type = "AddressPublished"
    site: SiteId
    address: Address


class AddressWithdrawn(EventPayload):
    event_type = "AddressWithdrawn"
    site: SiteId
    address: Address


class ChannelOpened(EventPayload):
    """A channel (kind "channel", id = name, audience all). ``sites`` empty: every site."""

    event_type = "ChannelOpened"
    name: ChannelName
    public: bool
    sites: tuple[SiteId, ...] = Field(max_length=256)


class ChannelSitesChanged(EventPayload):
    event_type = "ChannelSitesChanged"
    sites: tuple[SiteId, ...] = Field(max_length=256)


MESSAGE_EVENTS = (
    MessageSent,
    LifetimeEnded,
    MessageResent,
    MessageRelayed,
    CustodyTaken,
    CustodyRefused,
    DeliveryReported,
    ExpiredAtRecipient,
    LifetimeEndedInCustody,
    ReadReported,
    MessageDelivered,
    ArrivedExpired,
    MessageRead,
)
ALERT_EVENTS = (
    AlertRaised,
    AlertBroadcast,
    AlertSiteReceived,
    AlertSiteAcknowledged,
    AlertReceived,
    AlertAcknowledged,
)
DIRECTORY_EVENTS = (
    AddressListed,
    AddressUnlisted,
    AddressPublished,
    AddressWithdrawn,
    ChannelOpened,
    ChannelSitesChanged,
)
registry = EventRegistry(*MESSAGE_EVENTS, *ALERT_EVENTS, *DIRECTORY_EVENTS)
