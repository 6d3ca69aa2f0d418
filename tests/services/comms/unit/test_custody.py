"""Custody at the hub: the relay copy and the tracking the sender sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.comms.custody import (
    EndCustodyLifetime,
    OpenTracking,
    RecordArrivedExpired,
    RecordDelivery,
    RecordRead,
    Relay,
    relay,
    tracking,
)
from services.comms.events import (
    CustodyRefused,
    CustodyTaken,
    DeliveryReported,
    ExpiredAtRecipient,
    LifetimeEndedInCustody,
    MessageRelayed,
    ReadReported,
)
from tests.services.comms.unit.scenario import given

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
EXP = T0 + timedelta(hours=1)
OPEN = OpenTracking(("dili", "yangon-north"), (), EXP, T0)
TAKEN = CustodyTaken(sites=("dili", "yangon-north"))
DELIVERED = DeliveryReported(site="dili", recipients=("role:medic@dili",), at=T0)
COPY = MessageRelayed(
    message_id="01900000-0000-7000-8000-000000000001",
    origin="kassala",
    site="dili",
    priority="high",
    sender="person:a@kassala",
    to=("role:medic@dili",),
    channel="main",
    sealed=True,
    body="eA",
    expires_at=EXP,
    sent_at=T0,
)


def test_custody_is_taken_for_every_known_destination() -> None:
    given(tracking).when(OPEN).then(TAKEN)


def test_unknown_sites_are_refused_beside_the_custody_taken() -> None:
    command = OpenTracking(("dili",), ("atlantis",), EXP, T0)
    given(tracking).when(command).then(
        CustodyTaken(sites=("dili",)), CustodyRefused(sites=("atlantis",), reason="unknown_site")
    )


def test_a_message_reaching_the_hub_after_its_lifetime_is_refused_for_all() -> None:
    command = OpenTracking(("dili",), ("atlantis",), EXP, EXP)
    given(tracking).when(command).then(CustodyRefused(sites=("dili", "atlantis"), reason="expired"))


def test_custody_is_decided_once() -> None:
    given(tracking, TAKEN).when(OpenTracking(("dili",), (), EXP, EXP)).then()


def test_a_delivery_is_reported_once() -> None:
    command = RecordDelivery("dili", ("role:medic@dili",), T0)
    given(tracking, TAKEN).when(command).then(DELIVERED)
    given(tracking, TAKEN, DELIVERED).when(command).then()


def test_a_delivery_after_an_expiry_at_the_recipient_is_ignored() -> None:
    expired = ExpiredAtRecipient(site="dili", at=EXP)
    given(tracking, TAKEN, expired).when(RecordDelivery("dili", (), T0)).then()


def test_a_delivery_in_time_wins_over_a_provisional_lifetime_end() -> None:
    ended = LifetimeEndedInCustody(sites=("dili", "yangon-north"))
    command = RecordDelivery("dili", ("role:medic@dili",), T0)
    given(tracking, TAKEN, ended).when(command).then(DELIVERED)


def test_an_expiry_at_the_recipient_is_reported_once() -> None:
    expired = ExpiredAtRecipient(site="dili", at=EXP)
    given(tracking, TAKEN).when(RecordArrivedExpired("dili", EXP)).then(expired)
    given(tracking, TAKEN, expired).when(RecordArrivedExpired("dili", EXP)).then()
    given(tracking, TAKEN, DELIVERED).when(RecordArrivedExpired("dili", EXP)).then()


def test_a_read_is_reported_once_per_reader() -> None:
    read = ReadReported(site="dili", recipient="role:medic@dili", at=T0)
    command = RecordRead("dili", "role:medic@dili", T0)
    given(tracking, TAKEN, DELIVERED).when(command).then(read)
    given(tracking, TAKEN, DELIVERED, read).when(command).then()


def test_the_lifetime_ends_in_custody_for_silent_sites_only() -> None:
    command = EndCustodyLifetime(EXP, EXP)
    given(tracking, TAKEN, DELIVERED).when(command).then(
        LifetimeEndedInCustody(sites=("yangon-north",))
    )


def test_the_lifetime_in_custody_ends_once() -> None:
    ended = LifetimeEndedInCustody(sites=("dili", "yangon-north"))
    given(tracking, TAKEN, ended).when(EndCustodyLifetime(EXP, EXP)).then()


def test_nothing_ends_when_every_site_answered() -> None:
    expired = ExpiredAtRecipient(site="yangon-north", at=EXP)
    given(tracking, TAKEN, DELIVERED, expired).when(EndCustodyLifetime(EXP, EXP)).then()


def test_the_lifetime_in_custody_does_not_end_early() -> None:
    command = EndCustodyLifetime(EXP, EXP - timedelta(seconds=1))
    given(tracking, TAKEN).when(command).refused("not_expired")


def test_a_relay_copy_is_made_once() -> None:
    given(relay).when(Relay(COPY)).then(COPY)
    given(relay, COPY).when(Relay(COPY)).then()
