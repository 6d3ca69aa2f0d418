"""At the recipient's site: delivery, expiry on arrival, reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.comms.delivery import Deliver, MarkRead, delivery
from services.comms.events import ArrivedExpired, MessageDelivered, MessageRead
from tests.services.comms.unit.scenario import given

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
EXP = T0 + timedelta(hours=1)
DELIVER = Deliver("dili", ("role:medic@yangon-north", "site:yangon-north"), EXP, T0)
DELIVERED = MessageDelivered(origin="dili", recipients=DELIVER.recipients, at=T0)


def test_a_message_arriving_in_time_is_delivered() -> None:
    given(delivery).when(DELIVER).then(DELIVERED)


def test_a_message_arriving_after_its_lifetime_is_not_delivered() -> None:
    late = Deliver("dili", DELIVER.recipients, EXP, EXP)
    given(delivery).when(late).then(ArrivedExpired(origin="dili", at=EXP))


def test_a_copy_arriving_again_is_no_news() -> None:
    given(delivery, DELIVERED).when(DELIVER).then()
    given(delivery, ArrivedExpired(origin="dili", at=EXP)).when(DELIVER).then()


def test_a_recipient_reads_once() -> None:
    read = MarkRead("yangon-north", "role:medic@yangon-north", T0)
    done = MessageRead(origin="dili", recipient="role:medic@yangon-north", at=T0)
    given(delivery, DELIVERED).when(read).then(done)
    given(delivery, DELIVERED, done).when(read).then()


def test_anyone_at_the_site_reads_a_message_to_the_site() -> None:
    read = MarkRead("yangon-north", "person:zaw@yangon-north", T0)
    given(delivery, DELIVERED).when(read).then(
        MessageRead(origin="dili", recipient="person:zaw@yangon-north", at=T0)
    )


def test_someone_not_addressed_cannot_read() -> None:
    only_medic = MessageDelivered(origin="dili", recipients=("role:medic@yangon-north",), at=T0)
    read = MarkRead("yangon-north", "person:zaw@yangon-north", T0)
    given(delivery, only_medic).when(read).refused("not_recipient")


def test_someone_at_another_site_cannot_read() -> None:
    read = MarkRead("yangon-north", "person:amy@dili", T0)
    given(delivery, DELIVERED).when(read).refused("not_recipient")


def test_reading_an_undelivered_message_is_not_found() -> None:
    given(delivery).when(MarkRead("yangon-north", "role:medic@yangon-north", T0)).refused(
        "not_found"
    )


def test_reading_a_message_that_expired_on_arrival_is_refused() -> None:
    expired = ArrivedExpired(origin="dili", at=EXP)
    read = MarkRead("yangon-north", "role:medic@yangon-north", EXP)
    given(delivery, expired).when(read).refused("expired")
