"""Paging the inbox, the outbox and the alert board, over read models folded from events as the
projection runners fold them: a page is full whenever more rows exist, and following ``next`` gives
every row once, in one order, even when times are equal and while the list changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.comms.decider import alert_ref, delivery_ref, message_ref, relay_ref
from services.comms.events import (
    AlertRaised,
    MessageDelivered,
    MessageRead,
    MessageRelayed,
    MessageSent,
)
from services.comms.projections import AlertsProjection, MessagesProjection
from services.comms.queries import Page, Reads
from shared.endpoints import NotFound
from shared.envelope import EventPayload, make_envelope
from shared.ids import uuid7
from shared.projection import open_db
from shared.subjects import AggregateRef

SITE = "yangon-north"
MEDIC = f"role:medic@{SITE}"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


class Site:
    """One site's read models, and the events that fill them."""

    def __init__(self, path: Path) -> None:
        self.db = open_db(str(path))
        self.messages, self.alerts = MessagesProjection("normal", SITE), AlertsProjection()
        self.messages.create(self.db)
        self.alerts.create(self.db)
        self.reads = Reads(path, SITE)
        self.seq = 0

    def _apply(
        self,
        projection: MessagesProjection | AlertsProjection,
        payload: EventPayload,
        ref: AggregateRef,
        at: datetime,
    ) -> None:
        self.seq += 1
        event = make_envelope(
            payload,
            event_id=uuid7(),
            aggregate=ref,
            occurred_at=at,
            actor="test",
            correlation_id=uuid7(),
        )
        projection.apply(self.db, event, self.seq)

    def deliver(
        self,
        at: datetime,
        *,
        to: str = MEDIC,
        resend_of: str | None = None,
        sent_at: datetime | None = None,
    ) -> str:
        """A message from dili, relayed by the hub and delivered here at ``at``."""
        mid = uuid7()
        relayed = MessageRelayed(
            message_id=mid,
            origin="dili",
            site=SITE,
            priority="normal",
            sender="person:amy@dili",
            to=(to,),
            channel="ops",
            sealed=False,
            body="hello",
            expires_at=at + timedelta(days=1),
            sent_at=sent_at or at - timedelta(minutes=1),
            resend_of=resend_of,
        )
        self._apply(self.messages, relayed, relay_ref("normal", mid, SITE), at)
        delivered = MessageDelivered(origin="dili", recipients=(to,), at=at)
        self._apply(self.messages, delivered, delivery_ref("normal", mid, SITE), at)
        return mid

    def read(self, mid: str, at: datetime) -> None:
        read = MessageRead(origin="dili", recipient=MEDIC, at=at)
        self._apply(self.messages, read, delivery_ref("normal", mid, SITE), at)

    def send(self, at: datetime) -> str:
        """A message sent from this site at ``at``."""
        mid = uuid7()
        sent = MessageSent(
            priority="normal",
            sender=MEDIC,
            to=("person:amy@dili",),
            channel="ops",
            sealed=False,
            body="on our way",
            expires_at=at + timedelta(days=1),
        )
        self._apply(self.messages, sent, message_ref("normal", mid, SITE), at)
        return mid

    def raise_alert(self, at: datetime) -> str:
        aid = uuid7()
        raised = AlertRaised(
            severity="warning",
            area=(),
            channel=None,
            sealed=False,
            text="River rising",
            source="person",
            raised_by=MEDIC,
        )
        self._apply(self.alerts, raised, alert_ref(aid, SITE), at)
        return aid


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path / "comms.db")
    yield made
    made.reads.close()
    made.db.close()


Pager = Callable[[str | None], Page]


def _ids(page: Page, key: str = "message_id") -> list[str]:
    return [row[key] for row in page.items]


def _all_pages(ask: Pager, key: str = "message_id") -> list[list[str]]:
    pages, before = [], None
    while True:
        page = ask(before)
        pages.append(_ids(page, key))
        if page.next is None:
            return pages
        assert page.next == pages[-1][-1]  # the cursor is the last row shown
        before = page.next


def test_an_inbox_page_is_full_while_more_messages_wait(site: Site) -> None:
    """Three resends of a message that arrived anyway are hidden in the query: fetched first and
    filtered after, they filled the fetch, and a page of two came back with one message."""
    oldest, older = site.deliver(T0), site.deliver(T0 + timedelta(minutes=1))
    original = site.deliver(T0 + timedelta(minutes=2))
    for n in (3, 4, 5):
        site.deliver(T0 + timedelta(minutes=n), resend_of=original)

    first = site.reads.inbox(MEDIC, limit=2)
    assert _ids(first) == [original, older]
    assert first.next == older
    assert _ids(site.reads.inbox(MEDIC, limit=1)) == [original]  # not a resend of it
    last = site.reads.inbox(MEDIC, limit=2, before=first.next)
    assert (_ids(last), last.next) == ([oldest], None)


def test_an_unread_page_is_full_while_more_unread_messages_wait(site: Site) -> None:
    unread = [site.deliver(T0 + timedelta(minutes=n)) for n in range(3)]
    for n in range(3, 8):
        site.read(site.deliver(T0 + timedelta(minutes=n)), T0 + timedelta(hours=1))

    page = site.reads.inbox(MEDIC, limit=2, unread_only=True)
    assert _ids(page) == [unread[2], unread[1]]
    assert page.next is not None


def test_pages_neither_repeat_nor_skip_rows_of_the_same_time(site: Site) -> None:
    """A backlog delivered when a link comes back, messages and alerts recorded in one
    microsecond: the id orders them, so the pages fit together exactly."""
    delivered = [site.deliver(T0) for _ in range(7)]
    sent = [site.send(T0) for _ in range(7)]
    alerts = [site.raise_alert(T0) for _ in range(7)]
    lists: list[tuple[Pager, list[str], str]] = [
        (lambda b: site.reads.inbox(MEDIC, limit=3, before=b), delivered, "message_id"),
        (lambda b: site.reads.outbox(limit=3, before=b), sent, "message_id"),
        (lambda b: site.reads.board(limit=3, before=b), alerts, "alert_id"),
    ]
    for ask, rows, key in lists:
        pages = _all_pages(ask, key)
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [row for p in pages for row in p] == sorted(rows, reverse=True)


def test_lists_are_newest_first(site: Site) -> None:
    delivered = [site.deliver(T0 + timedelta(minutes=n)) for n in range(3)]
    sent = [site.send(T0 + timedelta(minutes=n)) for n in range(3)]
    alerts = [site.raise_alert(T0 + timedelta(minutes=n)) for n in range(3)]
    assert _ids(site.reads.inbox(MEDIC, limit=10)) == delivered[::-1]
    assert _ids(site.reads.outbox(limit=10)) == sent[::-1]
    assert _ids(site.reads.board(limit=10), "alert_id") == alerts[::-1]


def test_paging_down_goes_on_where_it_stopped_while_the_inbox_changes(site: Site) -> None:
    """The two unread messages shown are read and one more arrives before the next page is asked
    for. Counted from the top, the second page (offset 2) would now begin at ``waiting[1]`` and
    skip ``waiting[2]``; from the cursor it skips none and repeats none."""
    waiting = [site.deliver(T0 + timedelta(minutes=n)) for n in range(5)]
    first = site.reads.inbox(MEDIC, limit=2, unread_only=True)
    assert _ids(first) == [waiting[4], waiting[3]]
    for mid in _ids(first):
        site.read(mid, T0 + timedelta(hours=1))
    arrived = site.deliver(T0 + timedelta(hours=2))

    def unread(before: str | None) -> Page:
        return site.reads.inbox(MEDIC, limit=2, before=before or first.next, unread_only=True)

    assert _all_pages(unread) == [[waiting[2], waiting[1]], [waiting[0]]]
    assert _ids(site.reads.inbox(MEDIC, limit=2, unread_only=True))[0] == arrived


def test_a_late_message_is_listed_by_when_it_arrived(site: Site) -> None:
    """Held for hours behind a cut link, it is news when it comes: on top, not hours down."""
    recent = site.deliver(T0 + timedelta(hours=6))
    late = site.deliver(T0 + timedelta(hours=7), sent_at=T0)
    assert _ids(site.reads.inbox(MEDIC, limit=10)) == [late, recent]


def test_a_cursor_that_names_no_row_of_the_list_is_refused(site: Site) -> None:
    mine, theirs = site.deliver(T0), site.deliver(T0, to=f"role:driver@{SITE}")
    sent, alert = site.send(T0), site.raise_alert(T0)
    refusals: list[tuple[Callable[[], Any], str]] = [
        (lambda: site.reads.inbox(MEDIC, limit=5, before=uuid7()), "message of this inbox"),
        (lambda: site.reads.inbox(MEDIC, limit=5, before=theirs), "message of this inbox"),
        (lambda: site.reads.outbox(limit=5, before=mine), "message sent from this site"),
        (lambda: site.reads.board(limit=5, before=sent), "alert of this board"),
    ]
    for ask, says in refusals:
        with pytest.raises(NotFound, match=says):
            ask()
    assert site.reads.board(limit=5, before=alert).items == []
