"""Alerts: raising, the hub's board, receipt and acknowledgement at each site."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from services.comms.addresses import Channel, Directory
from services.comms.alert import (
    AcknowledgeAlert,
    Broadcast,
    RaiseAlert,
    ReceiveAlert,
    RecordAck,
    RecordReceipt,
    acks,
    board,
    raised,
)
from services.comms.events import (
    AlertAcknowledged,
    AlertBroadcast,
    AlertRaised,
    AlertReceived,
    AlertSiteAcknowledged,
    AlertSiteReceived,
)
from tests.services.comms.unit.scenario import given

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DIRECTORY = Directory(
    sites=frozenset({"dili", "yangon-north"}),
    channels={"ops": Channel("ops", public=False), "news": Channel("news", public=True)},
)
RAISE = RaiseAlert(
    site="dili",
    severity="evacuate",
    area=("dili", "yangon-north"),
    channel=None,
    sealed=False,
    text="River rising: move to the school on the hill",
    source="person",
    raised_by="role:coordinator@dili",
    directory=DIRECTORY,
)
RAISED = AlertRaised(
    severity="evacuate",
    area=("dili", "yangon-north"),
    channel=None,
    sealed=False,
    text=RAISE.text,
    source="person",
    raised_by="role:coordinator@dili",
)
BROADCAST = AlertBroadcast(
    origin="dili",
    severity="evacuate",
    area=("dili", "yangon-north"),
    channel=None,
    sealed=False,
    text=RAISE.text,
    source="person",
    raised_by="role:coordinator@dili",
    raised_at=T0,
)


def test_an_alert_is_raised() -> None:
    given(raised).when(RAISE).then(RAISED)


def test_raising_it_again_changes_nothing() -> None:
    given(raised, RAISED).when(RAISE).then()


def test_another_alert_under_the_same_id_is_refused() -> None:
    given(raised, RAISED).when(replace(RAISE, text="other")).refused("duplicate_id")


def test_an_alert_from_another_site_is_refused() -> None:
    given(raised).when(replace(RAISE, raised_by="role:x@yangon-north")).refused("bad_sender")


def test_an_unknown_site_in_the_area_is_refused() -> None:
    given(raised).when(replace(RAISE, area=("atlantis",))).refused("unknown_site")


def test_a_private_channel_alert_must_be_sealed() -> None:
    given(raised).when(replace(RAISE, channel="ops")).refused("not_sealed")
    given(raised).when(replace(RAISE, channel="nowhere")).refused("unknown_channel")
    given(raised).when(replace(RAISE, sealed=True)).refused("invalid")


def test_an_empty_or_oversize_alert_is_refused() -> None:
    given(raised).when(replace(RAISE, text="  ")).refused("empty")
    given(raised).when(replace(RAISE, text="x" * 1025)).refused("too_large")


def test_the_hub_broadcasts_once() -> None:
    given(board).when(Broadcast(BROADCAST)).then(BROADCAST)
    given(board, BROADCAST).when(Broadcast(BROADCAST)).then()


def test_the_board_records_each_site_once() -> None:
    received = AlertSiteReceived(site="dili", at=T0)
    given(board, BROADCAST).when(RecordReceipt("dili", T0)).then(received)
    given(board, BROADCAST, received).when(RecordReceipt("dili", T0)).then()
    ack = AlertSiteAcknowledged(site="dili", by="person:amy@dili", at=T0)
    given(board, BROADCAST).when(RecordAck("dili", "person:amy@dili", T0)).then(ack)
    given(board, BROADCAST, ack).when(RecordAck("dili", "person:amy@dili", T0)).then()


def test_a_site_receives_once_and_acknowledges_per_person() -> None:
    received = AlertReceived(origin="dili", at=T0)
    given(acks).when(ReceiveAlert("dili", T0)).then(received)
    given(acks, received).when(ReceiveAlert("dili", T0)).then()
    ack = AlertAcknowledged(origin="dili", by="person:zaw@yangon-north", at=T0)
    command = AcknowledgeAlert("yangon-north", "person:zaw@yangon-north", T0)
    given(acks, received).when(command).then(ack)
    given(acks, received, ack).when(command).then()


def test_an_alert_not_yet_received_cannot_be_acknowledged() -> None:
    command = AcknowledgeAlert("yangon-north", "person:zaw@yangon-north", T0)
    given(acks).when(command).refused("not_found")


def test_only_someone_at_the_site_acknowledges() -> None:
    command = AcknowledgeAlert("yangon-north", "person:amy@dili", T0)
    given(acks, AlertReceived(origin="dili", at=T0)).when(command).refused("bad_sender")
