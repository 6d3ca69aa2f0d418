"""The sender's message aggregate: every transition and every refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.comms.addresses import Channel, Directory
from services.comms.events import Attachment, LifetimeEnded, MessageResent, MessageSent
from services.comms.message import EndLifetime, MarkResent, SendMessage, message
from tests.services.comms.unit.scenario import given

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=6)
NEW = "01900000-0000-7000-8000-000000000002"
DIRECTORY = Directory(
    sites=frozenset({"dili", "yangon-north", "hub"}),
    addresses=frozenset({"person:amy@dili", "role:medic@yangon-north"}),
    channels={
        "main": Channel("main", public=False),
        "news": Channel("news", public=True),
        "ops": Channel("ops", public=False, sites=frozenset({"dili", "yangon-north"})),
    },
)
SEND = SendMessage(
    site="dili",
    priority="emergency",
    sender="person:amy@dili",
    to=("role:medic@yangon-north",),
    channel="main",
    sealed=True,
    body="c2VhbGVk",
    expires_at=LATER,
    at=T0,
    directory=DIRECTORY,
)
SENT = MessageSent(
    priority="emergency",
    sender="person:amy@dili",
    to=("role:medic@yangon-north",),
    channel="main",
    sealed=True,
    body="c2VhbGVk",
    expires_at=LATER,
)


def test_send_records_the_message() -> None:
    given(message).when(SEND).then(SENT)


def test_the_same_send_again_changes_nothing() -> None:
    given(message, SENT).when(SEND).then()


def test_a_retry_is_accepted_even_if_the_directory_changed_since() -> None:
    given(message, SENT).when(replace(SEND, directory=Directory())).then()


def test_another_message_under_the_same_id_is_refused() -> None:
    given(message, SENT).when(replace(SEND, body="b3RoZXI")).refused("duplicate_id")


def test_a_sender_at_another_site_is_refused() -> None:
    given(message).when(replace(SEND, sender="person:amy@yangon-north")).refused("bad_sender")


def test_a_site_cannot_be_a_sender() -> None:
    given(message).when(replace(SEND, sender="site:dili")).refused("bad_sender")


def test_an_unlisted_person_is_an_unknown_recipient() -> None:
    command = replace(SEND, to=("person:ghost@yangon-north",))
    given(message).when(command).refused("unknown_recipient", match="person:ghost@yangon-north")


def test_an_unknown_site_is_an_unknown_recipient() -> None:
    given(message).when(replace(SEND, to=("site:atlantis",))).refused("unknown_recipient")


def test_an_unknown_channel_as_recipient_is_refused() -> None:
    given(message).when(replace(SEND, to=("channel:nowhere",))).refused("unknown_recipient")


def test_broadcasts_and_known_sites_are_routable() -> None:
    command = replace(SEND, to=("all", "site:hub", "site:dili", "channel:main"))
    (event,) = given(message).when(command).then(replace_sent(to=command.to))
    assert event.to == command.to


def test_a_recipient_named_twice_is_sent_once() -> None:
    command = replace(SEND, to=("role:medic@yangon-north", "role:medic@yangon-north"))
    given(message).when(command).then(SENT)


def test_too_many_recipients_are_refused() -> None:
    many = tuple(f"site:s{i}" for i in range(40))
    given(message).when(replace(SEND, to=many)).refused("too_many")


def test_no_recipient_is_refused() -> None:
    given(message).when(replace(SEND, to=())).refused("no_recipient")


def test_an_unknown_channel_is_refused_with_how_channels_are_opened() -> None:
    refusal = given(message).when(replace(SEND, channel="secret")).refused("unknown_channel")
    assert "aidmesh msg channel open secret" in refusal.message


def test_a_message_to_one_channel_sent_on_another_is_refused() -> None:
    command = replace(SEND, to=("channel:ops",), channel="main")
    given(message).when(command).refused("channel_mismatch")


def test_cleartext_on_a_private_channel_is_refused() -> None:
    given(message).when(replace(SEND, sealed=False, body="hello")).refused("not_sealed")


def test_cleartext_on_a_public_channel_is_sent_as_is() -> None:
    command = replace(SEND, channel="news", sealed=False, body="road to Baucau open")
    given(message).when(command).then(replace_sent(channel="news", sealed=False, body=command.body))


def test_an_oversize_public_body_is_refused() -> None:
    command = replace(SEND, channel="news", sealed=False, body="é" * 2049)  # 4,098 bytes
    given(message).when(command).refused("too_large")


def test_an_oversize_sealed_body_is_refused() -> None:
    given(message).when(replace(SEND, body="A" * 5601)).refused("too_large")


def test_an_empty_message_is_refused() -> None:
    given(message).when(replace(SEND, body="")).refused("empty")


def test_an_attachment_alone_is_a_message() -> None:
    attachment = Attachment(sha256="a" * 64, size=10, media_type="image/jpeg", site="dili")
    command = replace(SEND, body="", attachments=(attachment,))
    given(message).when(command).then(replace_sent(body="", attachments=(attachment,)))


def test_an_attachment_held_at_another_site_is_refused() -> None:
    attachment = Attachment(sha256="a" * 64, size=10, media_type="image/jpeg", site="hub")
    given(message).when(replace(SEND, attachments=(attachment,))).refused("bad_attachment")


def test_a_lifetime_that_has_already_ended_is_refused() -> None:
    given(message).when(replace(SEND, expires_at=T0 - timedelta(seconds=1))).refused("past_expiry")
    given(message).when(replace(SEND, expires_at=T0)).refused("past_expiry")


def test_a_lifetime_over_thirty_days_is_refused() -> None:
    command = replace(SEND, expires_at=T0 + timedelta(days=31))
    given(message).when(command).refused("lifetime_too_long")


def test_the_lifetime_ends_once_expired() -> None:
    given(message, SENT).when(EndLifetime(at=LATER)).then(LifetimeEnded())


def test_the_lifetime_does_not_end_early() -> None:
    given(message, SENT).when(EndLifetime(at=LATER - timedelta(seconds=1))).refused("not_expired")


def test_ending_the_lifetime_twice_changes_nothing() -> None:
    given(message, SENT, LifetimeEnded()).when(EndLifetime(at=LATER)).then()


def test_ending_the_lifetime_of_an_unknown_message_is_not_found() -> None:
    given(message).when(EndLifetime(at=LATER)).refused("not_found")


def test_a_resend_is_recorded_once() -> None:
    given(message, SENT).when(MarkResent(NEW)).then(MessageResent(as_message=NEW))
    given(message, SENT, MessageResent(as_message=NEW)).when(MarkResent(NEW)).then()


def test_resending_an_unknown_message_is_not_found() -> None:
    given(message).when(MarkResent(NEW)).refused("not_found")


def replace_sent(**changes: object) -> MessageSent:
    return SENT.model_copy(update=changes)
