"""A message at its sender's site: sent once, its lifetime watched, perhaps resent as a new one.

The rules that keep bad input out of every stream live here: the sender is at this site, every
recipient is routable, a private channel's body is sealed, the body fits, the lifetime has not
already ended. What the directory knows arrives on the command, like the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.comms import addresses
from services.comms.addresses import Directory
from services.comms.events import (
    MAX_BODY_BYTES,
    MAX_RECIPIENTS,
    MAX_WIRE_BODY,
    Attachment,
    LifetimeEnded,
    MessageResent,
    MessageSent,
    Priority,
)
from shared.decider import Decider, Refused
from shared.envelope import EventPayload

MAX_LIFETIME = timedelta(days=30)
MessageEvent = MessageSent | LifetimeEnded | MessageResent


def not_found(message: str) -> Refused:
    return Refused(message, code="not_found")


@dataclass(frozen=True, slots=True)
class SendMessage:
    site: str
    priority: Priority
    sender: str
    to: tuple[str, ...]
    channel: str
    sealed: bool
    body: str
    expires_at: datetime
    at: datetime
    directory: Directory
    attachments: tuple[Attachment, ...] = ()
    resend_of: str | None = None


@dataclass(frozen=True, slots=True)
class EndLifetime:
    at: datetime


@dataclass(frozen=True, slots=True)
class MarkResent:
    as_message: str


MessageCommand = SendMessage | EndLifetime | MarkResent


@dataclass(frozen=True, slots=True)
class MessageState:
    sent: MessageSent | None = None
    lifetime_ended: bool = False
    resent_as: tuple[str, ...] = ()


def decide(command: MessageCommand, state: MessageState) -> Sequence[MessageEvent]:
    match command:
        case SendMessage():
            if state.sent is not None:  # before any check: the directory may have changed since
                if state.sent == _event(command, tuple(dict.fromkeys(command.to))):
                    return []  # a retry of the same message
                raise Refused(
                    "this message id is already used for another message", code="duplicate_id"
                )
            return [_checked(command)]
        case EndLifetime(at=at):
            sent = _require(state)
            if at < sent.expires_at:
                raise Refused("the message's lifetime has not ended yet", code="not_expired")
            return [] if state.lifetime_ended else [LifetimeEnded()]
        case MarkResent(as_message=new_id):
            _require(state)
            return [] if new_id in state.resent_as else [MessageResent(as_message=new_id)]


def _require(state: MessageState) -> MessageSent:
    if state.sent is None:
        raise not_found("no such message was sent from this site")
    return state.sent


def _checked(cmd: SendMessage) -> MessageSent:
    sender = addresses.parse(cmd.sender)
    if sender.kind not in ("person", "role") or sender.site != cmd.site:
        raise Refused(
            f"the sender must be a person or role at this site ({cmd.site})", code="bad_sender"
        )
    to = tuple(dict.fromkeys(cmd.to))
    if not to:
        raise Refused("a message needs at least one recipient", code="no_recipient")
    if len(to) > MAX_RECIPIENTS:
        raise Refused(f"at most {MAX_RECIPIENTS} recipients per message", code="too_many")
    unknown = addresses.unknown_recipients(to, cmd.directory, cmd.site)
    if unknown:
        raise Refused(
            f"unknown recipient: {', '.join(unknown)} (not in this site's directory)",
            code="unknown_recipient",
        )
    _check_channel(cmd, to)
    _check_body(cmd)
    if cmd.expires_at <= cmd.at:
        raise Refused("the lifetime has already ended: give a later expiry", code="past_expiry")
    if cmd.expires_at - cmd.at > MAX_LIFETIME:
        raise Refused(f"a lifetime is at most {MAX_LIFETIME.days} days", code="lifetime_too_long")
    if any(a.site != cmd.site for a in cmd.attachments):
        raise Refused("attachments must be held at the sender's site", code="bad_attachment")
    return _event(cmd, to)


def _event(cmd: SendMessage, to: tuple[str, ...]) -> MessageSent:
    return MessageSent(
        priority=cmd.priority,
        sender=cmd.sender,
        to=to,
        channel=cmd.channel,
        sealed=cmd.sealed,
        body=cmd.body,
        expires_at=cmd.expires_at,
        attachments=cmd.attachments,
        resend_of=cmd.resend_of,
    )


def _check_channel(cmd: SendMessage, to: tuple[str, ...]) -> None:
    channel = cmd.directory.channels.get(cmd.channel)
    if channel is None:
        raise addresses.unknown_channel(cmd.channel)
    named = {addresses.parse(a).name for a in to if a.startswith("channel:")}
    if named - {cmd.channel}:
        raise Refused(
            "a message to a channel is sent on that channel (one channel per message)",
            code="channel_mismatch",
        )
    if not channel.public and not cmd.sealed:
        raise Refused(
            f"channel {cmd.channel!r} is private: its bodies travel sealed", code="not_sealed"
        )


def _check_body(cmd: SendMessage) -> None:
    if not cmd.body and not cmd.attachments:
        raise Refused("the message is empty", code="empty")
    too_large = (
        len(cmd.body) > MAX_WIRE_BODY if cmd.sealed else len(cmd.body.encode()) > MAX_BODY_BYTES
    )
    if too_large:
        raise Refused(
            f"the body is larger than {MAX_BODY_BYTES} bytes: send it as an attachment",
            code="too_large",
        )


def evolve(state: MessageState, event: EventPayload) -> MessageState:
    match event:
        case MessageSent():
            return replace(state, sent=event)
        case LifetimeEnded():
            return replace(state, lifetime_ended=True)
        case MessageResent(as_message=new_id):
            return replace(state, resent_as=(*state.resent_as, new_id))
    return state


message = Decider(decide=decide, evolve=evolve, initial_state=MessageState())
