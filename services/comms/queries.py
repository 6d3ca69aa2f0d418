"""Queries over the read models: inbox, outbox with per-destination state, one message's status, the
alert board, the directory snapshot that commands carry, and the traffic per class and link.

Bodies come out as stored (sealed or public); the edge opens them with the site's keys.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.comms.addresses import Channel, Directory
from services.comms.projections import UNRESOLVED, iso
from shared.endpoints import NotFound
from shared.projection import open_db

_MINE = (
    "WITH mine AS (SELECT message_id, MIN(delivered_at) AS delivered_at FROM comms_inbox "
    "WHERE site = :site AND (address IN (:address, 'all', :site_address) "
    "OR address LIKE 'channel:%') GROUP BY message_id) "
)
"""The messages delivered here to an address, with when they arrived."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, newest first, and where the next one starts."""

    items: list[dict[str, Any]]
    next: str | None
    """The id to send as ``before`` for the next page; None when nothing older is left."""

    def answer(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The reply, with ``items`` as the edge shows them (bodies opened)."""
        return {"items": items, "more": self.next is not None, "next": self.next}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Reads:
    def __init__(self, db_path: Path, site: str) -> None:
        self._path = db_path
        self.site = site
        self._db: sqlite3.Connection | None = None
        self._directory: tuple[int, Directory] | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_db(str(self._path), readonly=True)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _rows(
        self, query: str, args: tuple[Any, ...] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        try:
            return self.db.execute(query, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # the projections have not created their tables yet
            raise

    def _page(
        self, query: str, args: Mapping[str, Any], limit: int, key: str
    ) -> tuple[list[sqlite3.Row], str | None]:
        """The page's rows and the next page's cursor: one row more is asked for, and whether it
        comes says whether there is more (a full page alone cannot say)."""
        rows = self._rows(f"{query} LIMIT :take", {**args, "take": limit + 1})
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], str(rows[limit - 1][key])

    def _position(self, query: str, args: Mapping[str, Any], what: str) -> str:
        """The time of the row a cursor names, or a refusal: a cursor that names nothing would
        otherwise read as the end of the list."""
        rows = self._rows(query, args)
        if not rows:
            raise NotFound(f"before names no {what}: leave it out for the first page")
        return str(rows[0][0])

    # --- directory ---------------------------------------------------------------------------

    def directory(self) -> Directory:
        """The directory as this site knows it now (cached until the directory projection moves)."""
        position = self._rows(
            "SELECT seq FROM aidmesh_position WHERE projection = 'comms_directory'"
        )
        seq = int(position[0][0]) if position else -1
        if self._directory is not None and self._directory[0] == seq:
            return self._directory[1]
        rows = self._rows("SELECT address, site FROM comms_address")
        channels = {
            r["name"]: Channel(r["name"], bool(r["public"]), frozenset(json.loads(r["sites"])))
            for r in self._rows("SELECT name, public, sites FROM comms_channel")
        }
        made = Directory(
            sites=frozenset(r["site"] for r in rows if r["address"].startswith("site:")),
            addresses=frozenset(r["address"] for r in rows),
            channels=channels,
        )
        self._directory = (seq, made)
        return made

    def directory_listing(self) -> dict[str, Any]:
        d = self.directory()
        return {
            "sites": sorted(d.sites),
            "addresses": sorted(d.addresses),
            "channels": [
                {"name": c.name, "public": c.public, "sites": sorted(c.sites) or ["all"]}
                for c in sorted(d.channels.values(), key=lambda c: c.name)
            ],
        }

    # --- messages ------------------------------------------------------------------------------

    def message(self, message_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM comms_message WHERE message_id = ?", (message_id,))
        return _message(rows[0]) if rows else None

    def inbox(
        self, address: str, *, limit: int, before: str | None = None, unread_only: bool = False
    ) -> Page:
        """Newest arrival first. By arrival here, not by sending time: a message held for hours
        behind a cut link is news when it comes, and is listed on top, not hours down; the list
        then grows only at the top, where a cursor is exact.

        Every filter is in the query, so a page is full whenever more rows exist. Filtered in
        Python after a fetch of ``limit * 2``, a page came back short when hidden resends filled
        the fetch, and could show a resend whose original a larger page showed instead."""
        args: dict[str, Any] = {
            "site": self.site,
            "address": address,
            "site_address": f"site:{self.site}",
        }
        # a resend of what arrived anyway is one message: the original is shown
        where = ["(m.resend_of IS NULL OR m.resend_of NOT IN (SELECT message_id FROM mine))"]
        if unread_only:
            where.append("r.at IS NULL")
        if before is not None:
            args["before"] = before
            args["at"] = self._position(
                _MINE + "SELECT delivered_at FROM mine WHERE message_id = :before",
                args,
                "message of this inbox",
            )
            where.append("(mine.delivered_at, mine.message_id) < (:at, :before)")
        rows, after = self._page(
            _MINE + "SELECT m.*, mine.delivered_at, r.at AS read_at FROM mine "
            "JOIN comms_message m ON m.message_id = mine.message_id "
            "LEFT JOIN comms_read r ON r.message_id = m.message_id AND r.site = :site "
            f"AND r.reader = :address WHERE {' AND '.join(where)} "
            "ORDER BY mine.delivered_at DESC, mine.message_id DESC",
            args,
            limit,
            "message_id",
        )
        items = [
            _message(r) | {"delivered_at": r["delivered_at"], "read_at": r["read_at"]} for r in rows
        ]
        return Page(items, after)

    def outbox(self, *, limit: int, before: str | None = None, sender: str | None = None) -> Page:
        """Newest first, by the time this site recorded each message."""
        args: dict[str, Any] = {"site": self.site, "sender": sender}
        where = "m.origin = :site"
        if sender is not None:
            where += " AND m.sender = :sender"
        if before is not None:
            args["before"] = before
            args["at"] = self._position(
                "SELECT sent_at FROM comms_message WHERE origin = :site AND message_id = :before",
                args,
                "message sent from this site",
            )
            where += " AND (m.sent_at, m.message_id) < (:at, :before)"
        rows, after = self._page(
            f"SELECT m.* FROM comms_message m WHERE {where} "
            "ORDER BY m.sent_at DESC, m.message_id DESC",
            args,
            limit,
            "message_id",
        )
        return Page([self._tracked(_message(r)) for r in rows], after)

    def status(self, message_id: str) -> dict[str, Any] | None:
        found = self.message(message_id)
        if found is None:
            return None
        result = (
            self._tracked(found) if found["origin"] == self.site or self.site == "hub" else found
        )
        here = self._rows(
            "SELECT address, delivered_at FROM comms_inbox WHERE message_id = ? AND site = ?",
            (message_id, self.site),
        )
        expired = self._rows(
            "SELECT at FROM comms_arrived_expired WHERE message_id = ? AND site = ?",
            (message_id, self.site),
        )
        if here:
            result["delivered_here"] = {
                "at": here[0]["delivered_at"],
                "recipients": [r["address"] for r in here],
                "read_by": self._readers(message_id, self.site),
            }
        elif expired:
            result["expired_here"] = expired[0]["at"]
        return result

    def _readers(self, message_id: str, site: str) -> list[dict[str, str]]:
        return [
            {"reader": r["reader"], "at": r["at"]}
            for r in self._rows(
                "SELECT reader, at FROM comms_read WHERE message_id = ? AND site = ?",
                (message_id, site),
            )
        ]

    def _tracked(self, message: dict[str, Any]) -> dict[str, Any]:
        mid = message["message_id"]
        reads: dict[str, list[dict[str, str]]] = {}
        for r in self._rows(
            "SELECT site, reader, at FROM comms_outbox_read WHERE message_id = ?", (mid,)
        ):
            reads.setdefault(r["site"], []).append({"reader": r["reader"], "at": r["at"]})
        dests = []
        for r in self._rows(
            "SELECT * FROM comms_outbox WHERE message_id = ? ORDER BY site", (mid,)
        ):
            dests.append(
                {
                    "site": "(to be resolved by the hub)" if r["site"] == UNRESOLVED else r["site"],
                    "state": _shown(r["state"], bool(r["unconfirmed"])),
                    "since": r["at"],
                    "reason": r["reason"],
                    "recipients": json.loads(r["recipients"]) if r["recipients"] else None,
                    "read_by": reads.get(r["site"], []),
                }
            )
        waiting = [d for d in dests if d["state"] == "queued"]
        message["destinations"] = dests
        message["state"] = _overall(dests)
        if waiting:
            age = datetime.now(UTC) - _parse(message["sent_at"])
            message["queued_for_seconds"] = max(0, round(age.total_seconds()))
        return message

    # --- what the expiry timer needs -----------------------------------------------------------

    def lifetimes_ended_here(self, now: datetime, limit: int) -> Iterator[sqlite3.Row]:
        """This site's messages past their lifetime that the hub has not confirmed taking."""
        yield from self._rows(
            "SELECT m.priority, m.message_id, m.expires_at FROM comms_message m "
            "WHERE m.origin = ? AND m.expires_at <= ? AND m.lifetime_ended = 0 AND EXISTS "
            "(SELECT 1 FROM comms_outbox o WHERE o.message_id = m.message_id "
            "AND o.state = 'queued' AND o.site != ?) LIMIT ?",
            (self.site, iso(now), self.site, limit),
        )

    def lifetimes_ended_in_custody(self, now: datetime, limit: int) -> Iterator[sqlite3.Row]:
        """(Hub) messages past their lifetime that some site has not confirmed."""
        yield from self._rows(
            "SELECT m.priority, m.message_id, m.origin, m.expires_at FROM comms_message m "
            "WHERE m.expires_at <= ? AND EXISTS (SELECT 1 FROM comms_outbox o WHERE "
            "o.message_id = m.message_id AND o.state = 'accepted' AND o.unconfirmed = 0) LIMIT ?",
            (iso(now), limit),
        )

    # --- alerts ------------------------------------------------------------------------------

    def board(self, *, limit: int, before: str | None = None) -> Page:
        """Newest first, by the time each alert was raised at its site."""
        args: dict[str, Any] = {}
        where = ""
        if before is not None:
            args["before"] = before
            args["at"] = self._position(
                "SELECT raised_at FROM comms_alert WHERE alert_id = :before",
                args,
                "alert of this board",
            )
            where = "WHERE (raised_at, alert_id) < (:at, :before) "
        rows, after = self._page(
            f"SELECT * FROM comms_alert {where}ORDER BY raised_at DESC, alert_id DESC",
            args,
            limit,
            "alert_id",
        )
        return Page([self._alert(a) for a in rows], after)

    def _alert(self, a: sqlite3.Row) -> dict[str, Any]:
        aid = a["alert_id"]
        acks: dict[str, list[str]] = {}
        for r in self._rows(
            "SELECT site, by_address FROM comms_alert_ack WHERE alert_id = ?", (aid,)
        ):
            acks.setdefault(r["site"], []).append(r["by_address"])
        sites = [
            {
                "site": r["site"],
                "received_at": r["received_at"],
                "acknowledged_at": r["acknowledged_at"],
                "acknowledged_by": sorted(acks.get(r["site"], [])),
            }
            for r in self._rows(
                "SELECT * FROM comms_alert_site WHERE alert_id = ? ORDER BY site", (aid,)
            )
        ]
        return {
            "alert_id": aid,
            "origin": a["origin"],
            "severity": a["severity"],
            "area": json.loads(a["area"]) or ["all"],
            "channel": a["channel"],
            "sealed": bool(a["sealed"]),
            "text": a["text"],
            "source": a["source"],
            "raised_by": a["raised_by"],
            "ward": a["ward"],
            "raised_at": a["raised_at"],
            "broadcast_at": a["broadcast_at"],
            "sites": sites,
            "waiting_for": [s["site"] for s in sites if not s["acknowledged_at"]],
        }

    # --- traffic -------------------------------------------------------------------------------

    def traffic(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self._rows(
                "SELECT site, class, direction, events, bytes FROM comms_traffic "
                "ORDER BY site, direction, class"
            )
        ]


def _message(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "message_id": row["message_id"],
        "priority": row["priority"],
        "origin": row["origin"],
        "sender": row["sender"],
        "to": json.loads(row["recipients"]),
        "channel": row["channel"],
        "sealed": bool(row["sealed"]),
        "body": row["body"],
        "attachments": json.loads(row["attachments"]),
        "sent_at": row["sent_at"],
        "expires_at": row["expires_at"],
        "resend_of": row["resend_of"],
        "resent_as": row["resent_as"],
    }


def _shown(state: str, unconfirmed: bool) -> str:
    """An unconfirmed end of lifetime reads as what it most likely is, marked as not final."""
    return "expired?" if unconfirmed and state in ("queued", "accepted") else state


def _overall(dests: list[dict[str, Any]]) -> str:
    states = {d["state"] for d in dests}
    for state in ("queued", "expired?", "accepted"):
        if state in states:
            return state
    if states == {"delivered"}:
        return "read" if all(d["read_by"] for d in dests) else "delivered"
    return "partly delivered" if "delivered" in states else (states.pop() if states else "queued")
