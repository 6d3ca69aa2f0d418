"""At a site, a valved class is folded by two runners: its own messages from the held stream, the
hub's tracking and the site's own receipts from the class stream. A rebuild replays the two in
either order; the tables must come out the same either way, and the same as live."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from services.comms.decider import delivery_ref, message_ref, tracking_ref
from services.comms.events import (
    CustodyTaken,
    DeliveryReported,
    LifetimeEnded,
    MessageDelivered,
    MessageSent,
)
from services.comms.projections import MessagesProjection
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.ids import uuid7
from shared.projection import open_db
from shared.subjects import AggregateRef

SITE = "dili"
AMY, COORDINATOR = "person:amy@dili", "role:coordinator@dili"
MEDIC = "role:medic@yangon-north"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
Stream = list[Envelope[EventPayload]]
Tables = dict[str, list[tuple[Any, ...]]]


def _event(payload: EventPayload, ref: AggregateRef, minutes: int) -> Envelope[EventPayload]:
    return make_envelope(
        payload,
        event_id=uuid7(),
        aggregate=ref,
        occurred_at=T0 + timedelta(minutes=minutes),
        actor="test",
        correlation_id=uuid7(),
    )


def _sent(mid: str, to: tuple[str, ...]) -> Envelope[EventPayload]:
    sent = MessageSent(
        priority="normal",
        sender=AMY,
        to=to,
        channel="ops",
        sealed=False,
        body="water truck at 6",
        expires_at=T0 + timedelta(days=1),
    )
    return _event(sent, message_ref("normal", mid, SITE), 0)


def _streams() -> tuple[Stream, Stream]:
    """One message to another site, one to everyone, one to this site only."""
    there, everyone, here = uuid7(), uuid7(), uuid7()
    held = [_sent(there, (MEDIC,)), _sent(everyone, ("all",)), _sent(here, (COORDINATOR,))]
    track = [
        _event(CustodyTaken(sites=("yangon-north",)), tracking_ref("normal", there, SITE), 1),
        _event(
            DeliveryReported(
                site="yangon-north", recipients=(MEDIC,), at=T0 + timedelta(minutes=2)
            ),
            tracking_ref("normal", there, SITE),
            3,
        ),
        _event(
            CustodyTaken(sites=("hub", "yangon-north")), tracking_ref("normal", everyone, SITE), 1
        ),
    ]
    delivered = [
        _event(
            MessageDelivered(origin=SITE, recipients=to, at=T0 + timedelta(seconds=1)),
            delivery_ref("normal", mid, SITE),
            0,
        )
        for mid, to in ((everyone, ("all",)), (here, (COORDINATOR,)))
    ]
    return held, [delivered[0], *track, delivered[1]]


def _fold(
    first: tuple[MessagesProjection, Stream], then: tuple[MessagesProjection, Stream]
) -> Tables:
    db = open_db(":memory:")
    for projection, stream in (first, then):
        projection.create(db)
        for seq, event in enumerate(stream, start=1):
            projection.apply(db, event, seq)
    return _dump(db)


def _dump(db: sqlite3.Connection) -> Tables:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        n: sorted((tuple(r) for r in db.execute(f"SELECT * FROM {n}")), key=repr) for n in names
    }


def test_a_sites_held_and_class_streams_fold_to_the_same_tables_in_either_order() -> None:
    held_stream, class_stream = _streams()
    held = (MessagesProjection("normal", SITE, name="comms_held_normal"), held_stream)
    klass = (MessagesProjection("normal", SITE), class_stream)
    live = _fold(held, klass)
    assert {r[1] for r in live["comms_outbox"]} == {"yangon-north", "hub", SITE}  # no "*" left
    assert _fold(klass, held) == live


def test_a_destination_left_unconfirmed_is_dated_by_the_end_of_its_lifetime() -> None:
    """``expired? since`` the lifetime's end (the timer's event), not since the message was sent."""
    mid = uuid7()
    ended = _event(LifetimeEnded(), message_ref("normal", mid, SITE), 24 * 60)
    db = open_db(":memory:")
    projection = MessagesProjection("normal", SITE, name="comms_held_normal")
    projection.create(db)
    for seq, event in enumerate((_sent(mid, (MEDIC,)), ended), start=1):
        projection.apply(db, event, seq)
    row = db.execute("SELECT at, unconfirmed FROM comms_outbox WHERE message_id = ?", (mid,))
    assert tuple(row.fetchone()) == ((T0 + timedelta(days=1)).isoformat(timespec="microseconds"), 1)
