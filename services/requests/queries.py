"""Questions the read models answer: plain SQL over the projections' tables, plain dicts out.

Nothing here can return personal data, because no table holds any; the summary answers counts only
and coarsens location to the ward.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.requests import inputs
from services.requests.matching import Candidate, Need, Suggestion, suggest
from services.requests.site import Settings
from services.requests.zones import DEFAULT_TIMEZONE, local_date
from shared.currencies import amount
from shared.projection import page

_REQUEST_COLUMNS = (
    "request_id, category, urgency, ward, area_id, household_size, status, volunteer_id,"
    " claim_expires_at, opened_at, updated_at, signposted_to, merged_into, contact_forgotten"
)
URGENCY_ORDER = (
    "CASE urgency WHEN 'critical' THEN 0 WHEN 'urgent' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END"
)


def _rows(db: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in db.execute(sql, params).fetchall()]


def _page(rows: list[dict[str, Any]], limit: int, offset: int) -> dict[str, Any]:
    """``{"items", "next_offset"}``: rows read with ``limit + 1``; the next offset null after the
    last page."""
    items, next_offset = page(rows, limit, offset)
    return {"items": items, "next_offset": next_offset}


def list_requests(db: sqlite3.Connection, query: inputs.ListRequests) -> dict[str, Any]:
    where, params = [], []
    if query.area_id is not None:
        where.append("(ward = ? OR area_id = ?)")
        params += [query.area_id, query.area_id]
    for column in ("category", "urgency", "status"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = f"SELECT {_REQUEST_COLUMNS} FROM rq_requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # request_id last: ids are made in time order, and without a total order pages could repeat
    # or skip requests opened in the same millisecond.
    sql += f" ORDER BY {URGENCY_ORDER}, opened_at, request_id LIMIT ? OFFSET ?"
    rows = _rows(db, sql, (*params, query.limit + 1, query.offset))
    return _page(rows, query.limit, query.offset)


def show_request(db: sqlite3.Connection, request_id: str) -> dict[str, Any] | None:
    rows = _rows(
        db, f"SELECT {_REQUEST_COLUMNS} FROM rq_requests WHERE request_id = ?", (request_id,)
    )
    return rows[0] if rows else None


def open_by_area(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Open requests by ward, area and urgency: where help is waiting, most urgent first."""
    return _rows(
        db,
        "SELECT ward, area_id, urgency, count(*) AS open FROM rq_requests WHERE status = 'open'"
        f" GROUP BY ward, area_id, urgency ORDER BY {URGENCY_ORDER}, open DESC, ward, area_id",
    )


def settings(db: sqlite3.Connection) -> Settings:
    row = db.execute(
        "SELECT default_max_claims, claim_expiry_minutes, urgent_alert_minutes,"
        " coalesce(timezone, ?) FROM sd_settings",
        (DEFAULT_TIMEZONE,),
    ).fetchone()
    return Settings(*row) if row else Settings()


def site_today(db: sqlite3.Connection, now: datetime) -> date:
    """The site's date at ``now``, in the zone its settings say (UTC until it sets one)."""
    return local_date(now, settings(db).timezone)


def volunteer_load(db: sqlite3.Connection, query: inputs.ListVolunteers) -> dict[str, Any]:
    """Who carries the most: active claims, then fulfilled, most first."""
    default = settings(db).default_max_claims
    where, params = "stood_down = 0", []
    if query.area_id is not None:
        where += " AND (ward = ? OR area_id = ?)"
        params = [query.area_id, query.area_id]
    rows = _rows(
        db,
        "SELECT volunteer_id, ward, area_id, skills, available, resting, active, fulfilled,"
        f" coalesce(max_claims, ?) AS max_claims FROM vl_volunteers WHERE {where}"
        " ORDER BY active DESC, fulfilled DESC, volunteer_id LIMIT ? OFFSET ?",
        (default, *params, query.limit + 1, query.offset),
    )
    for row in rows:
        row["available"], row["resting"] = bool(row["available"]), bool(row["resting"])
        row["at_limit"] = row["active"] >= row["max_claims"]
    return _page(rows, query.limit, query.offset)


def candidates(db: sqlite3.Connection) -> list[Candidate]:
    default = settings(db).default_max_claims
    return [
        Candidate(
            volunteer_id=row["volunteer_id"],
            ward=row["ward"],
            area_id=row["area_id"],
            skills=frozenset(row["skills"].split(",")) if row["skills"] else frozenset(),
            available=bool(row["available"]),
            resting=bool(row["resting"]),
            active=row["active"],
            limit=row["max_claims"] if row["max_claims"] is not None else default,
        )
        for row in db.execute("SELECT * FROM vl_volunteers WHERE stood_down = 0").fetchall()
    ]


def match(db: sqlite3.Connection, need: Need, limit: int) -> list[Suggestion]:
    return suggest(need, candidates(db), limit)


def kitchen_dashboard(
    db: sqlite3.Connection, query: inputs.KitchenDashboard, today: date
) -> list[dict[str, Any]]:
    since = (today - timedelta(days=query.days - 1)).isoformat()
    kitchens = _rows(db, "SELECT * FROM kt_kitchens ORDER BY kitchen_id")
    out = []
    for kitchen in kitchens:
        kid = kitchen["kitchen_id"]
        if query.kitchen_id is not None and kid != query.kitchen_id:
            continue
        stock = {
            row["item"]: f"{(Decimal(row['milli']) / 1000).normalize():f} {row['unit']}"
            for row in db.execute(
                "SELECT item, unit, milli FROM kt_stock WHERE kitchen_id = ? ORDER BY item", (kid,)
            )
        }
        meals = _rows(
            db,
            "SELECT day, planned, served FROM kt_meals WHERE kitchen_id = ? AND day >= ?"
            " ORDER BY day",
            (kid, since),
        )
        needs = [
            # The cost as people read it (as the lead typed it, and as remittance shows it to
            # donors) before the minor units the events carry: ``estimated_cost_minor=30000000``
            # first, right after ``--cost 300000``, was read as 30 million.
            {
                **{k: need[k] for k in ("need_id", "item", "quantity", "unit")},
                "estimated_cost": amount(need["estimated_cost_minor"], need["currency"]),
                **{k: need[k] for k in ("estimated_cost_minor", "currency", "posted_at")},
            }
            for need in _rows(
                db,
                "SELECT need_id, item, quantity, unit, estimated_cost_minor, currency, posted_at"
                " FROM kt_needs WHERE kitchen_id = ? AND status = 'open' ORDER BY posted_at",
                (kid,),
            )
        ]
        out.append(
            {
                "kitchen_id": kid,
                "name": kitchen["name"],
                "ward": kitchen["ward"],
                "capacity_meals_per_day": kitchen["capacity"],
                # who may record stock, meals and needs: an update that dropped them was unseen
                "leads": kitchen["leads"].split(",") if kitchen["leads"] else [],
                "stock": stock,
                "meals": meals,
                "open_needs": needs,
            }
        )
    return out


def areas(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(
        db,
        "SELECT area_id, name, level, parent_id, retired FROM sd_areas"
        " ORDER BY coalesce(parent_id, area_id), parent_id IS NOT NULL, area_id",
    )


def directory(db: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = _rows(
        db,
        "SELECT d.entry_id, d.name, d.kind, d.how_to_reach, (SELECT count(*) FROM rq_requests r"
        " WHERE r.signposted_to = d.entry_id) AS referrals FROM sd_directory d"
        " WHERE d.withdrawn = 0 ORDER BY d.kind, d.name",
    )
    return rows


def site_summary(db: sqlite3.Connection, site: str | None, now: datetime) -> list[dict[str, Any]]:
    """Per site: counts by status, open counts by category, urgency and ward, volunteers, meals,
    needs and alerts, and when the newest of the facts they count happened (at the hub, while a
    site is cut off, that says how old its counts are). Nothing finer than a ward; no ids.

    "Today" is each site's own date at ``now``, in its time zone: at the hub, sites far apart
    are on different days, and each row says which (``today``, ``timezone``)."""
    sites = [
        r[0]
        for r in db.execute(
            "SELECT site FROM sm_requests UNION SELECT site FROM sm_volunteers"
            " UNION SELECT site FROM sm_kitchens ORDER BY 1"
        )
    ]
    return [_summary_of(db, s, now) for s in sites if site is None or s == site]


def _counts(db: sqlite3.Connection, sql: str, site: str) -> dict[str, int]:
    return {row[0]: row[1] for row in db.execute(sql, (site,))}


def _summary_of(db: sqlite3.Connection, site: str, now: datetime) -> dict[str, Any]:
    latest = db.execute(
        "SELECT latest_event_at, timezone FROM sm_sites WHERE site = ?", (site,)
    ).fetchone()
    zone = latest[1] if latest and latest[1] else DEFAULT_TIMEZONE
    today = local_date(now, zone)
    open_only = "FROM sm_requests WHERE site = ? AND status = 'open' GROUP BY 1 ORDER BY 1"
    volunteers = db.execute(
        "SELECT count(*), coalesce(sum(active), 0), coalesce(sum(resting), 0) FROM sm_volunteers"
        " WHERE site = ? AND stood_down = 0",
        (site,),
    ).fetchone()
    meals = db.execute(
        "SELECT coalesce(sum(served), 0), coalesce(sum(CASE WHEN day = ? THEN served END), 0)"
        " FROM sm_meals WHERE site = ?",
        (today.isoformat(), site),
    ).fetchone()
    return {
        "site": site,
        "latest_event_at": latest[0] if latest else None,
        "timezone": zone,
        "today": today.isoformat(),
        "requests": _counts(
            db,
            "SELECT status, count(*) FROM sm_requests WHERE site = ? GROUP BY 1 ORDER BY 1",
            site,
        ),
        "open_by_category": _counts(db, f"SELECT category, count(*) {open_only}", site),
        "open_by_urgency": _counts(db, f"SELECT urgency, count(*) {open_only}", site),
        "open_by_ward": _counts(db, f"SELECT ward, count(*) {open_only}", site),
        "volunteers": {
            "registered": volunteers[0],
            "active_claims": volunteers[1],
            "resting": volunteers[2],
        },
        "kitchens": db.execute(
            "SELECT count(*) FROM sm_kitchens WHERE site = ?", (site,)
        ).fetchone()[0],
        "meals_served": {"total": meals[0], "today": meals[1]},
        "open_needs": db.execute(
            "SELECT count(*) FROM sm_needs WHERE site = ? AND open = 1", (site,)
        ).fetchone()[0],
        # urgent requests waiting now: open, and alerted in the round they are open in
        "unclaimed_alerts": db.execute(
            "SELECT count(*) FROM sm_requests WHERE site = ? AND status = 'open' AND alerted = 1",
            (site,),
        ).fetchone()[0],
    }


# --- what the timer looks for -----------------------------------------------------------------


def due_expiries(db: sqlite3.Connection, now: str) -> list[tuple[str, str, str, str]]:
    """(request id, claim id, volunteer id, expires at) of claims past their expiry, not started."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.execute(
            "SELECT request_id, claim_id, volunteer_id, claim_expires_at FROM rq_requests"
            " WHERE status = 'claimed' AND claim_expires_at <= ?",
            (now,),
        )
    ]


def unclaimed_urgent(db: sqlite3.Connection) -> list[tuple[str, int, str]]:
    """(request id, open round, open since) of urgent requests open and not yet alerted this round."""
    return [
        (r[0], r[1], r[2])
        for r in db.execute(
            "SELECT request_id, open_round, open_since FROM rq_requests WHERE status = 'open'"
            " AND urgency IN ('urgent', 'critical') AND alerted_round < open_round"
        )
    ]


def stale_volunteer_claims(
    db: sqlite3.Connection, lost_before: str
) -> list[tuple[str, str, str, str | None]]:
    """(volunteer id, claim id, request id, how it ended) of places a volunteer still holds for a
    claim that ended on the request, or that never took hold (no claim by ``lost_before``)."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.execute(
            "SELECT v.volunteer_id, v.claim_id, v.request_id, c.outcome FROM vl_claims v"
            " LEFT JOIN rq_claims c ON c.claim_id = v.claim_id"
            " WHERE c.ended_at IS NOT NULL OR (c.claim_id IS NULL AND v.taken_at < ?)",
            (lost_before,),
        )
    ]


def kitchen_with_need(db: sqlite3.Connection, need_id: str, other_than: str) -> str | None:
    """Another kitchen of the site that posted a need under this id, if any."""
    row = db.execute(
        "SELECT kitchen_id FROM kt_needs WHERE need_id = ? AND kitchen_id != ? LIMIT 1",
        (need_id, other_than),
    ).fetchone()
    return None if row is None else str(row[0])
