"""Read models: messages with the outbox (per destination site and recipient, as the sender sees it)
and the inbox (per delivered recipient), the alert acknowledgement board, the directory, and the
bytes each priority class put on each link.

One projection runs per stream (a priority class each), all into one SQLite file, each table row
tagged with its class so a class can be rebuilt alone. The same code runs at the hub (which sees
every site's events) and at a site (its own events and the hub's for it); queries scope.

A rebuild from zero must give the same tables. At the hub, and for the emergency class everywhere,
``apply`` reads only rows that earlier events of the same stream wrote. At a site a valved class is
folded by two runners: its own messages from the held stream, and from the class stream what the hub
sent back and the site's own receipts. Their replays interleave either way (live, the held one is
almost always first), so where their rows meet, whichever event comes second completes the row.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from services.comms import addresses
from services.comms.events import (
    AddressListed,
    AddressPublished,
    AddressUnlisted,
    AddressWithdrawn,
    AlertAcknowledged,
    AlertBroadcast,
    AlertRaised,
    AlertReceived,
    AlertSiteAcknowledged,
    AlertSiteReceived,
    ArrivedExpired,
    ChannelOpened,
    ChannelSitesChanged,
    CustodyRefused,
    CustodyTaken,
    DeliveryReported,
    ExpiredAtRecipient,
    LifetimeEnded,
    LifetimeEndedInCustody,
    MessageDelivered,
    MessageRead,
    MessageRelayed,
    MessageResent,
    MessageSent,
    Priority,
    ReadReported,
)
from shared.envelope import Envelope, EventPayload
from shared.subjects import ALL, HUB

_TRACKING = (
    CustodyTaken,
    CustodyRefused,
    DeliveryReported,
    ExpiredAtRecipient,
    LifetimeEndedInCustody,
    ReadReported,
)
UNRESOLVED = "*"
"""The destination row of a broadcast or channel message until the hub resolves its sites."""


def iso(moment: datetime) -> str:
    """One text form for every time in the read models, so that they compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_MESSAGE_DDL = """
CREATE TABLE IF NOT EXISTS comms_message (
    message_id TEXT PRIMARY KEY, priority TEXT NOT NULL, origin TEXT NOT NULL,
    sender TEXT NOT NULL, recipients TEXT NOT NULL, channel TEXT NOT NULL, sealed INTEGER NOT NULL,
    body TEXT NOT NULL, attachments TEXT NOT NULL, expires_at TEXT NOT NULL, sent_at TEXT NOT NULL,
    resend_of TEXT, resent_as TEXT, lifetime_ended INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS comms_message_origin ON comms_message (origin, expires_at);
CREATE TABLE IF NOT EXISTS comms_outbox (
    message_id TEXT NOT NULL, site TEXT NOT NULL, priority TEXT NOT NULL, state TEXT NOT NULL,
    at TEXT NOT NULL, unconfirmed INTEGER NOT NULL DEFAULT 0, reason TEXT, recipients TEXT,
    PRIMARY KEY (message_id, site));
CREATE INDEX IF NOT EXISTS comms_outbox_state ON comms_outbox (state, unconfirmed);
CREATE TABLE IF NOT EXISTS comms_outbox_read (
    message_id TEXT NOT NULL, site TEXT NOT NULL, reader TEXT NOT NULL, priority TEXT NOT NULL,
    at TEXT NOT NULL, PRIMARY KEY (message_id, site, reader));
CREATE TABLE IF NOT EXISTS comms_inbox (
    message_id TEXT NOT NULL, site TEXT NOT NULL, address TEXT NOT NULL, priority TEXT NOT NULL,
    delivered_at TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (message_id, site, address));
CREATE INDEX IF NOT EXISTS comms_inbox_address ON comms_inbox (site, address);
CREATE TABLE IF NOT EXISTS comms_read (
    message_id TEXT NOT NULL, site TEXT NOT NULL, reader TEXT NOT NULL, priority TEXT NOT NULL,
    at TEXT NOT NULL, PRIMARY KEY (message_id, site, reader));
CREATE TABLE IF NOT EXISTS comms_arrived_expired (
    message_id TEXT NOT NULL, site TEXT NOT NULL, priority TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (message_id, site));
"""
_TRAFFIC_DDL = """
CREATE TABLE IF NOT EXISTS comms_traffic (
    class TEXT NOT NULL, site TEXT NOT NULL, direction TEXT NOT NULL,
    events INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (class, site, direction));
"""
_MESSAGE_TABLES = (
    "comms_message",
    "comms_outbox",
    "comms_outbox_read",
    "comms_inbox",
    "comms_read",
    "comms_arrived_expired",
)


def _script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement: ``executescript`` would commit the runner's open transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def count_traffic(
    db: sqlite3.Connection, klass: str, event: Envelope[EventPayload], to: str
) -> None:
    """Bytes of one event on the link it crosses: up from its owning site, or down from the hub to
    ``to`` (a site, or ``all``). Hub-internal events cross nothing."""
    if event.site != HUB:
        site, direction = event.site, "up"
    elif to != HUB:
        site, direction = to, "down"
    else:
        return
    db.execute(
        "INSERT INTO comms_traffic VALUES (?, ?, ?, 1, ?) ON CONFLICT (class, site, direction) "
        "DO UPDATE SET events = events + 1, bytes = bytes + excluded.bytes",
        (klass, site, direction, len(event.encode())),
    )


class MessagesProjection:
    """Messages, outbox and inbox of one priority class."""

    version = 2  # 2: an unconfirmed destination's time is when its lifetime ended

    def __init__(self, priority: Priority, site: str, name: str | None = None) -> None:
        self.priority = priority
        self.site = site
        self.name = name or f"comms_messages_{priority}"

    def create(self, db: sqlite3.Connection) -> None:
        _script(db, _MESSAGE_DDL + _TRAFFIC_DDL)

    def drop(self, db: sqlite3.Connection) -> None:
        _script(db, _MESSAGE_DDL + _TRAFFIC_DDL)
        for table in _MESSAGE_TABLES:
            db.execute(f"DELETE FROM {table} WHERE priority = ?", (self.priority,))
        db.execute("DELETE FROM comms_traffic WHERE class = ?", (self.priority,))

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        mid = event.aggregate_id
        p = event.payload
        when = iso(event.occurred_at)
        to = HUB
        match p:
            case MessageSent():
                self._sent(db, event, p, seq)
            case MessageRelayed():
                to = p.site
                sent_at = iso(p.sent_at)
                self._content(db, mid=p.message_id, origin=p.origin, p=p, sent_at=sent_at, seq=seq)
            case LifetimeEnded():
                db.execute(
                    "UPDATE comms_message SET lifetime_ended = 1 WHERE message_id = ?", (mid,)
                )
                why = "lifetime ended before the hub confirmed custody"
                self._mark(db, mid, ("queued",), why, when=iso(event.occurred_at))
            case MessageResent(as_message=new_id):
                db.execute(
                    "UPDATE comms_message SET resent_as = ? WHERE message_id = ?", (new_id, mid)
                )
            case _:
                to = self._receipt(db, event, p, when)
        count_traffic(db, self.priority, event, to)

    def _sent(
        self, db: sqlite3.Connection, event: Envelope[EventPayload], p: MessageSent, seq: int
    ) -> None:
        when = iso(event.occurred_at)
        mid = event.aggregate_id
        self._content(db, mid=mid, origin=event.site, p=p, sent_at=when, seq=seq)
        per_site: dict[str, list[str]] = {}
        for address in p.to:
            per_site.setdefault(addresses.site_of(address) or UNRESOLVED, []).append(address)
        resolved = db.execute(
            "DELETE FROM comms_outbox WHERE message_id = ? AND site = ? AND state = 'resolved'",
            (mid, UNRESOLVED),
        ).rowcount
        if resolved:
            per_site.pop(UNRESOLVED, None)
        for site, recipients in per_site.items():  # a receipt folded first made it: keep its state
            db.execute(
                "INSERT INTO comms_outbox VALUES (?, ?, ?, 'queued', ?, 0, NULL, ?) "
                "ON CONFLICT (message_id, site) DO UPDATE SET recipients = excluded.recipients",
                (mid, site, self.priority, when, json.dumps(recipients)),
            )

    def _content(
        self,
        db: sqlite3.Connection,
        *,
        mid: str,
        origin: str,
        p: MessageSent | MessageRelayed,
        sent_at: str,
        seq: int,
    ) -> None:
        db.execute(
            "INSERT OR IGNORE INTO comms_message (message_id, priority, origin, sender, recipients, "
            "channel, sealed, body, attachments, expires_at, sent_at, resend_of, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mid,
                self.priority,
                origin,
                p.sender,
                json.dumps(list(p.to)),
                p.channel,
                int(p.sealed),
                p.body,
                json.dumps([a.model_dump() for a in p.attachments]),
                iso(p.expires_at),
                sent_at,
                p.resend_of,
                seq,
            ),
        )
        # a delivery here of this site's own message, replayed before the message itself
        db.execute("UPDATE comms_inbox SET seq = ? WHERE message_id = ? AND seq = 0", (seq, mid))

    def _receipt(
        self, db: sqlite3.Connection, event: Envelope[EventPayload], p: EventPayload, when: str
    ) -> str:
        """Apply a custody, delivery, expiry or read fact; returns where the event travels to."""
        mid, here = event.aggregate_id, event.site
        match p:
            case CustodyTaken(sites=sites):
                for site in sites:
                    self._state(db, mid, site, "accepted", when)
                self._resolved(db, mid)
            case CustodyRefused(sites=sites, reason=reason):
                why = (
                    "reached the hub after its lifetime" if reason == "expired" else "unknown site"
                )
                state = "expired" if reason == "expired" else "failed"
                for site in sites:
                    self._state(db, mid, site, state, when, reason=why)
                self._resolved(db, mid)
            case DeliveryReported(site=site, at=at):
                self._state(db, mid, site, "delivered", iso(at), force=True)
            case ExpiredAtRecipient(site=site, at=at):
                self._state(db, mid, site, "expired", iso(at), reason="reached the site too late")
            case LifetimeEndedInCustody(sites=sites):
                why = "lifetime ended before the site confirmed"
                self._mark(db, mid, ("accepted",), why, when=iso(event.occurred_at), sites=sites)
            case ReadReported(site=site, recipient=reader, at=at):
                self._outbox_read(db, mid, site, reader, iso(at))
            case MessageDelivered(origin=origin, recipients=recipients, at=at):
                self._delivered(db, event, recipients, iso(at))
                if origin == here:
                    self._state(db, mid, here, "delivered", iso(at), force=True)
            case ArrivedExpired(origin=origin, at=at):
                db.execute(
                    "INSERT OR IGNORE INTO comms_arrived_expired VALUES (?, ?, ?, ?)",
                    (mid, here, self.priority, iso(at)),
                )
                if origin == here:
                    self._state(db, mid, here, "expired", iso(at), reason="lifetime ended")
            case MessageRead(origin=origin, recipient=reader, at=at):
                db.execute(
                    "INSERT OR IGNORE INTO comms_read VALUES (?, ?, ?, ?, ?)",
                    (mid, here, reader, self.priority, iso(at)),
                )
                if origin == here:
                    self._outbox_read(db, mid, here, reader, iso(at))
        if isinstance(p, _TRACKING):  # the hub's tracking travels to the message's origin
            return self._origin(db, mid)
        return HUB

    def _origin(self, db: sqlite3.Connection, mid: str) -> str:
        """A site is sent the tracking of its own messages only: it needs no row to know, and the
        row may not be there yet (a valved class's own messages are folded by another runner)."""
        if self.site != HUB:
            return self.site
        row = db.execute("SELECT origin FROM comms_message WHERE message_id = ?", (mid,)).fetchone()
        return str(row[0]) if row else HUB

    def _delivered(
        self,
        db: sqlite3.Connection,
        event: Envelope[EventPayload],
        recipients: tuple[str, ...],
        at: str,
    ) -> None:
        row = db.execute(
            "SELECT seq FROM comms_message WHERE message_id = ?", (event.aggregate_id,)
        ).fetchone()
        seq = row[0] if row else 0
        for address in recipients:
            db.execute(
                "INSERT OR IGNORE INTO comms_inbox VALUES (?, ?, ?, ?, ?, ?)",
                (event.aggregate_id, event.site, address, self.priority, at, seq),
            )

    def _state(
        self,
        db: sqlite3.Connection,
        mid: str,
        site: str,
        state: str,
        at: str,
        *,
        reason: str | None = None,
        force: bool = False,
    ) -> None:
        """Move one destination forward. Delivered and expired are final, except that a delivery
        (``force``) corrects an "accepted" or a provisional lifetime end; never a definitive expiry."""
        final = "('delivered', 'expired', 'failed')" if not force else "('delivered', 'expired')"
        db.execute(
            "INSERT INTO comms_outbox VALUES (?, ?, ?, ?, ?, 0, ?, NULL) "
            "ON CONFLICT (message_id, site) DO UPDATE SET state = excluded.state, "
            f"at = excluded.at, unconfirmed = 0, reason = excluded.reason WHERE state NOT IN {final}",
            (mid, site, self.priority, state, at, reason),
        )

    def _mark(
        self,
        db: sqlite3.Connection,
        mid: str,
        states: tuple[str, ...],
        reason: str,
        *,
        when: str,
        sites: tuple[str, ...] | None = None,
    ) -> None:
        """Provisionally expired (``expired?``) since ``when``, the lifetime's end (the timer's
        command is dated by it): the row kept its queued or accepted time, so the outbox said
        "expired? since" the moment the message was sent."""
        marks = ",".join("?" * len(states))
        query = (
            f"UPDATE comms_outbox SET unconfirmed = 1, reason = ?, at = ? WHERE message_id = ? "
            f"AND state IN ({marks})"
        )
        args: list[str] = [reason, when, mid, *states]
        if sites is not None:
            query += f" AND site IN ({','.join('?' * len(sites))})"
            args += list(sites)
        db.execute(query, args)

    def _resolved(self, db: sqlite3.Connection, mid: str) -> None:
        """The hub has resolved a broadcast's sites: no row "*" any more. Folded before the message
        itself (at a site, another runner's, from the held stream), this is kept as a row in state
        "resolved", which the message then takes instead of adding its row "*"."""
        db.execute("DELETE FROM comms_outbox WHERE message_id = ? AND site = ?", (mid, UNRESOLVED))
        if not db.execute("SELECT 1 FROM comms_message WHERE message_id = ?", (mid,)).fetchone():
            db.execute(
                "INSERT INTO comms_outbox VALUES (?, ?, ?, 'resolved', '', 0, NULL, NULL)",
                (mid, UNRESOLVED, self.priority),
            )

    def _outbox_read(
        self, db: sqlite3.Connection, mid: str, site: str, reader: str, at: str
    ) -> None:
        db.execute(
            "INSERT OR IGNORE INTO comms_outbox_read VALUES (?, ?, ?, ?, ?)",
            (mid, site, reader, self.priority, at),
        )


_ALERT_DDL = """
CREATE TABLE IF NOT EXISTS comms_alert (
    alert_id TEXT PRIMARY KEY, origin TEXT NOT NULL, severity TEXT NOT NULL, area TEXT NOT NULL,
    channel TEXT, sealed INTEGER NOT NULL, text TEXT NOT NULL, source TEXT NOT NULL,
    raised_by TEXT NOT NULL, ward TEXT, raised_at TEXT NOT NULL, broadcast_at TEXT,
    seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS comms_alert_site (
    alert_id TEXT NOT NULL, site TEXT NOT NULL, received_at TEXT, acknowledged_at TEXT,
    PRIMARY KEY (alert_id, site));
CREATE TABLE IF NOT EXISTS comms_alert_ack (
    alert_id TEXT NOT NULL, site TEXT NOT NULL, by_address TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (alert_id, site, by_address));
"""


class AlertsProjection:
    """The acknowledgement board: every alert, the sites asked, who received and who acknowledged."""

    name = "comms_alerts"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        _script(db, _ALERT_DDL + _TRAFFIC_DDL)

    def drop(self, db: sqlite3.Connection) -> None:
        _script(db, _ALERT_DDL + _TRAFFIC_DDL)
        for table in ("comms_alert", "comms_alert_site", "comms_alert_ack"):
            db.execute(f"DELETE FROM {table}")
        db.execute("DELETE FROM comms_traffic WHERE class = 'alerts'")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        aid, when = event.aggregate_id, iso(event.occurred_at)
        match event.payload:
            case AlertRaised() as p:
                self._alert(
                    db, aid, origin=event.site, p=p, raised_at=when, broadcast_at=None, seq=seq
                )
            case AlertBroadcast() as p:
                raised_at = iso(p.raised_at)
                self._alert(
                    db, aid, origin=p.origin, p=p, raised_at=raised_at, broadcast_at=when, seq=seq
                )
                db.execute(
                    "UPDATE comms_alert SET broadcast_at = ?, area = ? WHERE alert_id = ?",
                    (when, json.dumps(list(p.area)), aid),
                )
                for site in p.area:
                    db.execute(
                        "INSERT OR IGNORE INTO comms_alert_site (alert_id, site) VALUES (?, ?)",
                        (aid, site),
                    )
            case AlertReceived(at=at) | AlertSiteReceived(at=at):
                site = (
                    event.payload.site
                    if isinstance(event.payload, AlertSiteReceived)
                    else event.site
                )
                db.execute(
                    "INSERT INTO comms_alert_site (alert_id, site, received_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET received_at = COALESCE(received_at, excluded.received_at)",
                    (aid, site, iso(at)),
                )
            case AlertAcknowledged(by=by, at=at) | AlertSiteAcknowledged(by=by, at=at):
                ack = event.payload
                site = ack.site if isinstance(ack, AlertSiteAcknowledged) else event.site
                self._ack(db, aid, site, by, iso(at))
        count_traffic(db, "alerts", event, ALL if event.aggregate_kind == "board" else HUB)

    @staticmethod
    def _alert(
        db: sqlite3.Connection,
        aid: str,
        *,
        origin: str,
        p: AlertRaised | AlertBroadcast,
        raised_at: str,
        broadcast_at: str | None,
        seq: int,
    ) -> None:
        db.execute(
            "INSERT OR IGNORE INTO comms_alert VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                aid,
                origin,
                p.severity,
                json.dumps(list(p.area)),
                p.channel,
                int(p.sealed),
                p.text,
                p.source,
                p.raised_by,
                p.ward,
                raised_at,
                broadcast_at,
                seq,
            ),
        )

    @staticmethod
    def _ack(db: sqlite3.Connection, aid: str, site: str, by: str, at: str) -> None:
        db.execute("INSERT OR IGNORE INTO comms_alert_ack VALUES (?, ?, ?, ?)", (aid, site, by, at))
        db.execute(
            "INSERT INTO comms_alert_site (alert_id, site, received_at, acknowledged_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "received_at = COALESCE(received_at, excluded.received_at), "
            "acknowledged_at = COALESCE(acknowledged_at, excluded.acknowledged_at)",
            (aid, site, at, at),
        )


_DIRECTORY_DDL = """
CREATE TABLE IF NOT EXISTS comms_address (address TEXT PRIMARY KEY, site TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS comms_channel (
    name TEXT PRIMARY KEY, public INTEGER NOT NULL, sites TEXT NOT NULL);
"""


class DirectoryProjection:
    """Known sites, listed addresses and channels, as this site has heard of them."""

    name = "comms_directory"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        _script(db, _DIRECTORY_DDL + _TRAFFIC_DDL)

    def drop(self, db: sqlite3.Connection) -> None:
        _script(db, _DIRECTORY_DDL + _TRAFFIC_DDL)
        db.execute("DELETE FROM comms_address")
        db.execute("DELETE FROM comms_channel")
        db.execute("DELETE FROM comms_traffic WHERE class = 'directory'")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        match event.payload:
            case AddressListed(address=address) | AddressPublished(address=address):
                site = addresses.site_of(address) or event.site
                db.execute("INSERT OR IGNORE INTO comms_address VALUES (?, ?)", (address, site))
            case AddressUnlisted(address=address) | AddressWithdrawn(address=address):
                db.execute("DELETE FROM comms_address WHERE address = ?", (address,))
            case ChannelOpened(name=name, public=public, sites=sites):
                db.execute(
                    "INSERT OR REPLACE INTO comms_channel VALUES (?, ?, ?)",
                    (name, int(public), json.dumps(list(sites))),
                )
            case ChannelSitesChanged(sites=sites):
                db.execute(
                    "UPDATE comms_channel SET sites = ? WHERE name = ?",
                    (json.dumps(list(sites)), event.aggregate_id),
                )
        broadcast = (AddressPublished, AddressWithdrawn, ChannelOpened, ChannelSitesChanged)
        count_traffic(db, "directory", event, ALL if isinstance(event.payload, broadcast) else HUB)
