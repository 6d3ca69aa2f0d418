"""What clients send, the same over NATS request-reply and HTTP: validated here, at the edge, before
anything is decided. Every command carries a client-generated UUIDv7, so a retry is recognised."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from services.comms.events import (
    MAX_ATTACHMENTS,
    MAX_BODY_BYTES,
    MAX_RECIPIENTS,
    Address,
    Attachment,
    ChannelName,
    Priority,
    Severity,
    SiteId,
)
from shared.ids import UUID7_PATTERN

Uuid7 = Annotated[str, StringConstraints(pattern=f"^{UUID7_PATTERN}$")]
"""A client-made UUIDv7 (lowercase): time-ordered, so its time is when the command was made."""
MAX_LIFETIME_SECONDS = 30 * 24 * 3600
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
"""Text people write: lines and tabs, but no other control character. A terminal escape in a body
or an alert would act on the screen of whoever lists their inbox or the board, at every site."""


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SendInput(Input):
    message_id: Uuid7
    """Also the command id: resending the same input after a timeout never sends twice."""
    sender: Address
    to: list[Address] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    priority: Priority = "normal"
    channel: ChannelName
    body: Text = Field(default="", max_length=MAX_BODY_BYTES)
    expires_at: AwareDatetime | None = None
    lifetime_seconds: int | None = Field(default=None, gt=0, le=MAX_LIFETIME_SECONDS)
    attachments: list[Attachment] = Field(default=[], max_length=MAX_ATTACHMENTS)


MediaType = Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9.+-]{1,64}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class AttachInput(Input):
    """A file to attach (base64, up to the size of one command: larger files go over HTTP)."""

    channel: ChannelName
    media_type: MediaType = "application/octet-stream"
    content: str = Field(min_length=1, max_length=250_000)


class FetchInput(Input):
    message_id: Uuid7
    sha256: Sha256


class ReadInput(Input):
    command_id: Uuid7
    message_id: Uuid7
    reader: Address


class ResendInput(Input):
    message_id: Uuid7
    """The new message's id (and the command id)."""
    original: Uuid7
    priority: Priority | None = None
    expires_at: AwareDatetime | None = None
    lifetime_seconds: int | None = Field(default=None, gt=0, le=MAX_LIFETIME_SECONDS)


class AddressInput(Input):
    command_id: Uuid7
    address: Address


class ChannelInput(Input):
    command_id: Uuid7
    name: ChannelName
    public: bool = False
    sites: list[SiteId] = Field(default=[], max_length=256)
    """Member sites; empty: every site."""


class KeyInput(Input):
    channel: ChannelName
    key: str | None = Field(default=None, max_length=64)
    """Base64 of 32 bytes; omit to have the site generate one (shown once, to copy to the others)."""
    replace: bool = False
    """A site's key for a channel is replaced only when asked: the old one opens the old messages."""


class AlertInput(Input):
    alert_id: Uuid7
    raised_by: Address
    severity: Severity = "warning"
    text: Text = Field(min_length=1, max_length=1024)
    area: list[SiteId] = Field(default=[], max_length=64)
    """Sites asked to acknowledge; empty: every site."""
    channel: ChannelName | None = None
    """Seal the text with this channel's key; omit for a public alert."""


class AckInput(Input):
    command_id: Uuid7
    alert_id: Uuid7
    by: Address


class PageQuery(Input):
    """One page of a list, newest first, ties broken by id: a total order, so rows with equal times
    are neither repeated nor skipped from one page to the next.

    Paged by a cursor, not an offset. These lists grow at the top while someone pages down them
    (messages arrive, alerts are raised, over links that come back with a backlog), and an unread
    inbox shrinks as it is read. Counted from the top, an offset repeats a row for each one added
    above and skips one for each one that left. ``before`` names the last row seen, and the next
    page starts just after it, whatever came or went meanwhile. The answer is
    ``{"items": [...], "more": bool, "next": id | null}``: ``next`` is the ``before`` of the next
    page, null when nothing older is left."""

    limit: int = Field(default=50, gt=0, le=500)
    before: Uuid7 | None = None
    """The previous page's ``next``; omit for the first page."""


class InboxQuery(PageQuery):
    """A person's or role's inbox at their site, in the order the messages arrived there."""

    address: Address
    unread_only: bool = False


class OutboxQuery(PageQuery):
    """What this site sent, by the time it was sent."""

    sender: Address | None = None


class StatusQuery(Input):
    message_id: Uuid7


class BoardQuery(PageQuery):
    """The alert board, by the time each alert was raised."""


class NoInput(Input):
    pass
