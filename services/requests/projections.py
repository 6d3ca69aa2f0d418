"""Read models: SQLite tables folded from the requests stream, rebuildable from zero.

At a site: the request board (open requests by area and urgency, claims), volunteer load, the kitchen
dashboard and the site's own definitions (areas, directory, settings). At the hub, and at each site
for itself: the site summary, counts by ward and nothing that names or locates a person.

No table holds personal data: the events have none. After a requester is forgotten, their request
rows stay (so every count stays right) with ``contact_forgotten`` set.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from services.requests.events import (
    AreaDefined,
    AreaRetired,
    ClaimExpired,
    ClaimReleased,
    ContactForgotten,
    CoordinatorAppointed,
    CoordinatorStoodDown,
    DirectoryEntryListed,
    DirectoryEntryUpdated,
    DirectoryEntryWithdrawn,
    DuplicateAbsorbed,
    KitchenNeedMet,
    KitchenNeedPosted,
    KitchenOpened,
    KitchenUpdated,
    MealsPlanned,
    MealsServed,
    RequestCancelled,
    RequestClaimed,
    RequestFulfilled,
    RequestMerged,
    RequestOpened,
    RequestSignposted,
    RequestStarted,
    SiteSettingsChanged,
    StockReceived,
    StockUsed,
    UrgentRequestUnclaimed,
    VolunteerAvailabilityChanged,
    VolunteerClaimEnded,
    VolunteerClaimTaken,
    VolunteerRegistered,
    VolunteerRestEnded,
    VolunteerRestStarted,
    VolunteerStoodDown,
    VolunteerUpdated,
)
from services.requests.request import claim_outcome
from services.requests.zones import DEFAULT_TIMEZONE
from shared.envelope import Envelope, EventPayload


def stamp(moment: datetime) -> str:
    """A UTC time as text that sorts as time does (fixed precision, one offset)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def milli(quantity: Decimal) -> int:
    """Stock in thousandths of its unit: exact sums in SQLite."""
    return int(quantity * 1000)


def _create(db: sqlite3.Connection, ddl: str) -> None:
    """Statement by statement: ``executescript`` would commit the runner's open transaction."""
    for statement in ddl.split(";"):
        if statement.strip():
            db.execute(statement)


def _drop(db: sqlite3.Connection, *tables: str) -> None:
    for table in tables:
        db.execute(f"DROP TABLE IF EXISTS {table}")


class RequestBoard:
    """Every request of the site with its state and current claim, and every claim's history."""

    name = "requests_board"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        _create(
            db,
            """
            CREATE TABLE IF NOT EXISTS rq_requests (
                request_id TEXT PRIMARY KEY, category TEXT, urgency TEXT, ward TEXT,
                area_id TEXT, household_size INTEGER, status TEXT, claim_id TEXT,
                volunteer_id TEXT, claim_expires_at TEXT, opened_at TEXT, updated_at TEXT,
                open_round INTEGER, open_since TEXT, alerted_round INTEGER DEFAULT 0,
                signposted_to TEXT, merged_into TEXT, contact_ref TEXT,
                contact_forgotten INTEGER DEFAULT 0);
            CREATE INDEX IF NOT EXISTS rq_by_status ON rq_requests (status, ward, urgency);
            CREATE TABLE IF NOT EXISTS rq_claims (
                claim_id TEXT PRIMARY KEY, request_id TEXT, volunteer_id TEXT,
                started_at TEXT, ended_at TEXT, outcome TEXT);
            """,
        )

    def drop(self, db: sqlite3.Connection) -> None:
        _drop(db, "rq_requests", "rq_claims")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        rid, at = event.aggregate_id, stamp(event.occurred_at)
        payload = event.payload
        ended = claim_outcome(payload)
        if ended is not None:
            db.execute(
                "UPDATE rq_claims SET ended_at = ?, outcome = ? WHERE claim_id = ?",
                (at, ended[2], ended[0]),
            )
        match payload:
            case RequestOpened():
                db.execute(
                    "INSERT OR REPLACE INTO rq_requests (request_id, category, urgency, ward,"
                    " area_id, household_size, status, opened_at, updated_at, open_round,"
                    " open_since, contact_ref) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, 1, ?, ?)",
                    (
                        rid,
                        payload.category,
                        payload.urgency,
                        payload.ward,
                        payload.area_id,
                        payload.household_size,
                        at,
                        at,
                        at,
                        payload.contact_ref,
                    ),
                )
                return
            case RequestClaimed(claim_id=claim, volunteer_id=who, expires_at=until):
                self._set(db, rid, at, status="claimed", claim_id=claim, volunteer_id=who)
                db.execute(
                    "UPDATE rq_requests SET claim_expires_at = ? WHERE request_id = ?",
                    (stamp(until), rid),
                )
                db.execute(
                    "INSERT OR IGNORE INTO rq_claims VALUES (?, ?, ?, ?, NULL, NULL)",
                    (claim, rid, who, at),
                )
            case ClaimReleased() | ClaimExpired():
                self._set(db, rid, at, status="open", claim_id=None, volunteer_id=None)
                db.execute(
                    "UPDATE rq_requests SET open_round = open_round + 1, open_since = ?,"
                    " claim_expires_at = NULL WHERE request_id = ?",
                    (at, rid),
                )
            case RequestStarted():  # the work started: the claim no longer expires
                self._set(db, rid, at, status="in_progress", claim_expires_at=None)
            case RequestFulfilled():
                self._set(db, rid, at, status="fulfilled")
            case RequestSignposted(entry_id=entry):
                self._set(db, rid, at, status="signposted", signposted_to=entry)
            case RequestCancelled():
                self._set(db, rid, at, status="cancelled")
            case RequestMerged(into_request_id=into):
                self._set(db, rid, at, status="merged", merged_into=into)
            case UrgentRequestUnclaimed():
                db.execute(
                    "UPDATE rq_requests SET alerted_round = open_round WHERE request_id = ?",
                    (rid,),
                )
            case ContactForgotten(contact_refs=refs):
                db.execute(
                    "UPDATE rq_requests SET contact_forgotten = 1 WHERE request_id = ?", (rid,)
                )
                db.executemany(
                    "UPDATE rq_requests SET contact_forgotten = 1 WHERE contact_ref = ?",
                    [(ref,) for ref in refs],
                )
            case DuplicateAbsorbed():
                return

    @staticmethod
    def _set(db: sqlite3.Connection, rid: str, at: str, **columns: str | None) -> None:
        if columns.get("status") in ("fulfilled", "signposted", "cancelled", "merged"):
            columns |= {"claim_expires_at": None}
        names = ", ".join(f"{k} = ?" for k in columns)
        db.execute(
            f"UPDATE rq_requests SET {names}, updated_at = ? WHERE request_id = ?",
            (*columns.values(), at, rid),
        )


class VolunteerLoad:
    """Each volunteer's place, skills, state and how much they carry; their active claims."""

    name = "volunteer_load"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        _create(
            db,
            """
            CREATE TABLE IF NOT EXISTS vl_volunteers (
                volunteer_id TEXT PRIMARY KEY, ward TEXT, area_id TEXT, skills TEXT,
                max_claims INTEGER, available INTEGER DEFAULT 1, resting INTEGER DEFAULT 0,
                stood_down INTEGER DEFAULT 0, active INTEGER DEFAULT 0,
                fulfilled INTEGER DEFAULT 0, updated_at TEXT);
            CREATE TABLE IF NOT EXISTS vl_claims (
                claim_id TEXT PRIMARY KEY, volunteer_id TEXT, request_id TEXT, taken_at TEXT);
            """,
        )

    def drop(self, db: sqlite3.Connection) -> None:
        _drop(db, "vl_volunteers", "vl_claims")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        vid, at = event.aggregate_id, stamp(event.occurred_at)
        match event.payload:
            case VolunteerRegistered() | VolunteerUpdated() as placed:
                db.execute(
                    "INSERT INTO vl_volunteers (volunteer_id, ward, area_id, skills, max_claims,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (volunteer_id) DO UPDATE"
                    " SET ward = excluded.ward, area_id = excluded.area_id, skills ="
                    " excluded.skills, max_claims = excluded.max_claims, stood_down = 0,"
                    " updated_at = excluded.updated_at",
                    (
                        vid,
                        placed.ward,
                        placed.area_id,
                        ",".join(placed.skills),
                        placed.max_claims,
                        at,
                    ),
                )
            case VolunteerAvailabilityChanged(available=available):
                self._set(db, vid, at, "available", int(available))
            case VolunteerRestStarted():
                self._set(db, vid, at, "resting", 1)
            case VolunteerRestEnded():
                self._set(db, vid, at, "resting", 0)
            case VolunteerStoodDown():
                self._set(db, vid, at, "stood_down", 1)
            case VolunteerClaimTaken(claim_id=claim, request_id=request):
                db.execute(
                    "INSERT OR IGNORE INTO vl_claims VALUES (?, ?, ?, ?)", (claim, vid, request, at)
                )
                self._count(db, vid, at)
            case VolunteerClaimEnded(claim_id=claim, outcome=outcome):
                db.execute("DELETE FROM vl_claims WHERE claim_id = ?", (claim,))
                self._count(db, vid, at)
                if outcome == "fulfilled":
                    db.execute(
                        "UPDATE vl_volunteers SET fulfilled = fulfilled + 1 WHERE volunteer_id = ?",
                        (vid,),
                    )

    @staticmethod
    def _set(db: sqlite3.Connection, vid: str, at: str, column: str, value: int) -> None:
        db.execute(
            f"UPDATE vl_volunteers SET {column} = ?, updated_at = ? WHERE volunteer_id = ?",
            (value, at, vid),
        )

    @staticmethod
    def _count(db: sqlite3.Connection, vid: str, at: str) -> None:
        db.execute(
            "UPDATE vl_volunteers SET active = (SELECT count(*) FROM vl_claims WHERE"
            " volunteer_id = ?), updated_at = ? WHERE volunteer_id = ?",
            (vid, at, vid),
        )


class KitchenDashboard:
    """Stock by item, meals planned and served per day, needs open and met. A need's id is the
    kitchen's to choose (``--need-id``), so two kitchens can use the same one: needs are keyed by
    kitchen and need, as the kitchen aggregate keeps them."""

    name = "kitchen_dashboard"
    version = 2

    def create(self, db: sqlite3.Connection) -> None:
        _create(
            db,
            """
            CREATE TABLE IF NOT EXISTS kt_kitchens (
                kitchen_id TEXT PRIMARY KEY, name TEXT, ward TEXT, area_id TEXT,
                capacity INTEGER, leads TEXT);
            CREATE TABLE IF NOT EXISTS kt_stock (
                kitchen_id TEXT, item TEXT, unit TEXT, milli INTEGER,
                PRIMARY KEY (kitchen_id, item));
            CREATE TABLE IF NOT EXISTS kt_meals (
                kitchen_id TEXT, day TEXT, planned INTEGER, served INTEGER DEFAULT 0,
                PRIMARY KEY (kitchen_id, day));
            CREATE TABLE IF NOT EXISTS kt_needs (
                need_id TEXT, kitchen_id TEXT, item TEXT, quantity INTEGER,
                unit TEXT, estimated_cost_minor INTEGER, currency TEXT, status TEXT,
                posted_at TEXT, met_at TEXT, how TEXT, PRIMARY KEY (kitchen_id, need_id));
            """,
        )

    def drop(self, db: sqlite3.Connection) -> None:
        _drop(db, "kt_kitchens", "kt_stock", "kt_meals", "kt_needs")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        kid, at = event.aggregate_id, stamp(event.occurred_at)
        match event.payload:
            case KitchenOpened() as opened:
                db.execute(
                    "INSERT OR REPLACE INTO kt_kitchens VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        kid,
                        opened.name,
                        opened.ward,
                        opened.area_id,
                        opened.capacity_meals_per_day,
                        ",".join(opened.leads),
                    ),
                )
            case KitchenUpdated(capacity_meals_per_day=capacity, leads=leads):
                db.execute(
                    "UPDATE kt_kitchens SET capacity = ?, leads = ? WHERE kitchen_id = ?",
                    (capacity, ",".join(leads), kid),
                )
            case StockReceived(item=item, quantity=qty, unit=unit):
                self._stock(db, kid, item, unit, milli(qty))
            case StockUsed(item=item, quantity=qty, unit=unit):
                self._stock(db, kid, item, unit, -milli(qty))
            case MealsPlanned(day=day, meals=meals):
                db.execute(
                    "INSERT INTO kt_meals (kitchen_id, day, planned) VALUES (?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET planned = excluded.planned",
                    (kid, day.isoformat(), meals),
                )
            case MealsServed(day=day, meals=meals):
                db.execute(
                    "INSERT INTO kt_meals (kitchen_id, day, planned, served) VALUES (?, ?, NULL, ?)"
                    " ON CONFLICT DO UPDATE SET served = served + excluded.served",
                    (kid, day.isoformat(), meals),
                )
            case KitchenNeedPosted() as need:
                db.execute(
                    "INSERT OR REPLACE INTO kt_needs VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?,"
                    " NULL, NULL)",
                    (
                        need.need_id,
                        kid,
                        need.item,
                        need.quantity,
                        need.unit,
                        need.estimated_cost_minor,
                        need.currency,
                        at,
                    ),
                )
            case KitchenNeedMet(need_id=need_id, how=how):
                db.execute(
                    "UPDATE kt_needs SET status = 'met', met_at = ?, how = ? WHERE kitchen_id = ?"
                    " AND need_id = ?",
                    (at, how, kid, need_id),
                )

    @staticmethod
    def _stock(db: sqlite3.Connection, kid: str, item: str, unit: str, change: int) -> None:
        db.execute(
            "INSERT INTO kt_stock VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE"
            " SET milli = milli + excluded.milli",
            (kid, item, unit, change),
        )


class SiteDefinitions:
    """The site's areas, signposting directory, settings and coordinators, for listing. The
    settings hold the site's time zone, which the kitchen dashboard's "today" is counted in
    (version 2)."""

    name = "site_definitions"
    version = 2

    def create(self, db: sqlite3.Connection) -> None:
        _create(
            db,
            """
            CREATE TABLE IF NOT EXISTS sd_areas (
                area_id TEXT PRIMARY KEY, name TEXT, level TEXT, parent_id TEXT,
                retired INTEGER DEFAULT 0);
            CREATE TABLE IF NOT EXISTS sd_directory (
                entry_id TEXT PRIMARY KEY, name TEXT, kind TEXT, how_to_reach TEXT,
                withdrawn INTEGER DEFAULT 0);
            CREATE TABLE IF NOT EXISTS sd_settings (
                site TEXT PRIMARY KEY, default_max_claims INTEGER, claim_expiry_minutes INTEGER,
                urgent_alert_minutes INTEGER, timezone TEXT);
            CREATE TABLE IF NOT EXISTS sd_coordinators (coordinator_id TEXT PRIMARY KEY);
            """,
        )

    def drop(self, db: sqlite3.Connection) -> None:
        _drop(db, "sd_areas", "sd_directory", "sd_settings", "sd_coordinators")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        match event.payload:
            case AreaDefined() as area:
                db.execute(
                    "INSERT OR REPLACE INTO sd_areas VALUES (?, ?, ?, ?, 0)",
                    (area.area_id, area.name, area.level, area.parent_id),
                )
            case AreaRetired(area_id=area_id):
                db.execute(
                    "UPDATE sd_areas SET retired = 1 WHERE area_id = ? OR parent_id = ?",
                    (area_id, area_id),
                )
            case DirectoryEntryListed() | DirectoryEntryUpdated() as entry:
                db.execute(
                    "INSERT OR REPLACE INTO sd_directory VALUES (?, ?, ?, ?, 0)",
                    (entry.entry_id, entry.name, entry.kind, entry.how_to_reach),
                )
            case DirectoryEntryWithdrawn(entry_id=entry_id):
                db.execute("UPDATE sd_directory SET withdrawn = 1 WHERE entry_id = ?", (entry_id,))
            case SiteSettingsChanged() as s:
                db.execute(
                    "INSERT OR REPLACE INTO sd_settings VALUES (?, ?, ?, ?, ?)",
                    (
                        event.aggregate_id,
                        s.default_max_claims,
                        s.claim_expiry_minutes,
                        s.urgent_alert_minutes,
                        s.timezone or DEFAULT_TIMEZONE,
                    ),
                )
            case CoordinatorAppointed(coordinator_id=who):
                db.execute("INSERT OR IGNORE INTO sd_coordinators VALUES (?)", (who,))
            case CoordinatorStoodDown(coordinator_id=who):
                db.execute("DELETE FROM sd_coordinators WHERE coordinator_id = ?", (who,))


class SiteSummary:
    """Per site and ward: counts only. The hub builds it from every site's events; a site builds
    its own, which is what the hub's converges to once the link is back.

    A request's ``alerted`` says the site's timer raised ``UrgentRequestUnclaimed`` for the round
    it is open in now; any change of status ends that (a released claim opens a new round, whose
    alert comes later). ``unclaimed_alerts`` counts the open requests so marked: urgent requests
    waiting now. It was a running total of every alert ever raised, which coordinators read as
    that and which never went down.

    Each site's time zone is kept from its ``SiteSettingsChanged`` (UTC until it sets one), so
    that a site's "today" is its local date at the hub as at the site (version 5): the hub's
    own clock's date left Dili's morning meals out of "today" for 9 hours a day."""

    name = "site_summary"
    version = 5

    def create(self, db: sqlite3.Connection) -> None:
        _create(
            db,
            """
            CREATE TABLE IF NOT EXISTS sm_requests (
                site TEXT, request_id TEXT, ward TEXT, category TEXT, urgency TEXT, status TEXT,
                alerted INTEGER DEFAULT 0, PRIMARY KEY (site, request_id));
            CREATE TABLE IF NOT EXISTS sm_volunteers (
                site TEXT, volunteer_id TEXT, ward TEXT, active INTEGER DEFAULT 0,
                resting INTEGER DEFAULT 0, stood_down INTEGER DEFAULT 0,
                PRIMARY KEY (site, volunteer_id));
            CREATE TABLE IF NOT EXISTS sm_meals (
                site TEXT, ward TEXT, day TEXT, served INTEGER, PRIMARY KEY (site, ward, day));
            CREATE TABLE IF NOT EXISTS sm_kitchens (
                site TEXT, kitchen_id TEXT, ward TEXT, PRIMARY KEY (site, kitchen_id));
            CREATE TABLE IF NOT EXISTS sm_needs (
                site TEXT, kitchen_id TEXT, need_id TEXT, ward TEXT, open INTEGER,
                PRIMARY KEY (site, kitchen_id, need_id));
            CREATE TABLE IF NOT EXISTS sm_sites (
                site TEXT PRIMARY KEY, latest_event_at TEXT, timezone TEXT DEFAULT 'UTC');
            """,
        )

    def drop(self, db: sqlite3.Connection) -> None:
        _drop(
            db,
            "sm_requests",
            "sm_volunteers",
            "sm_meals",
            "sm_kitchens",
            "sm_needs",
            "sm_alerts",  # the running total of alerts, up to version 3: gone
            "sm_sites",
        )

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        site, agg = event.site, event.aggregate_id
        payload = event.payload
        # The newest fact from the site: while it is cut off, the hub's counts are as of then. The
        # time the thing happened, not when it arrived, so both ends agree once the link is back.
        db.execute(
            "INSERT INTO sm_sites (site, latest_event_at) VALUES (?, ?) ON CONFLICT DO UPDATE"
            " SET latest_event_at = max(latest_event_at, excluded.latest_event_at)",
            (site, stamp(event.occurred_at)),
        )
        status = _summary_status(payload)
        if status is not None:  # claimed, reopened or closed: no longer waiting on its alert
            db.execute(
                "UPDATE sm_requests SET status = ?, alerted = 0 WHERE site = ? AND request_id = ?",
                (status, site, agg),
            )
            return
        match payload:
            case RequestOpened():
                db.execute(
                    "INSERT OR REPLACE INTO sm_requests VALUES (?, ?, ?, ?, ?, 'open', 0)",
                    (site, agg, payload.ward, payload.category, payload.urgency),
                )
            case UrgentRequestUnclaimed():
                db.execute(
                    "UPDATE sm_requests SET alerted = 1 WHERE site = ? AND request_id = ?"
                    " AND status = 'open'",
                    (site, agg),
                )
            case VolunteerRegistered() | VolunteerUpdated() as placed:
                db.execute(
                    "INSERT INTO sm_volunteers (site, volunteer_id, ward) VALUES (?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET ward = excluded.ward, stood_down = 0",
                    (site, agg, placed.ward),
                )
            case VolunteerRestStarted() | VolunteerRestEnded():
                db.execute(
                    "UPDATE sm_volunteers SET resting = ? WHERE site = ? AND volunteer_id = ?",
                    (int(isinstance(payload, VolunteerRestStarted)), site, agg),
                )
            case VolunteerStoodDown():
                db.execute(
                    "UPDATE sm_volunteers SET stood_down = 1 WHERE site = ? AND volunteer_id = ?",
                    (site, agg),
                )
            case VolunteerClaimTaken() | VolunteerClaimEnded():
                change = 1 if isinstance(payload, VolunteerClaimTaken) else -1
                db.execute(
                    "UPDATE sm_volunteers SET active = active + ? WHERE site = ? AND"
                    " volunteer_id = ?",
                    (change, site, agg),
                )
            case KitchenOpened(ward=ward):
                db.execute("INSERT OR REPLACE INTO sm_kitchens VALUES (?, ?, ?)", (site, agg, ward))
            case MealsServed(day=day, meals=meals):
                db.execute(
                    "INSERT INTO sm_meals SELECT site, ward, ?, ? FROM sm_kitchens WHERE site = ?"
                    " AND kitchen_id = ? ON CONFLICT DO UPDATE SET served = served + excluded.served",
                    (day.isoformat(), meals, site, agg),
                )
            case KitchenNeedPosted(need_id=need_id, ward=ward):
                db.execute(
                    "INSERT OR REPLACE INTO sm_needs VALUES (?, ?, ?, ?, 1)",
                    (site, agg, need_id, ward),
                )
            case KitchenNeedMet(need_id=need_id):
                db.execute(
                    "UPDATE sm_needs SET open = 0 WHERE site = ? AND kitchen_id = ? AND need_id = ?",
                    (site, agg, need_id),
                )
            case SiteSettingsChanged(timezone=timezone):
                db.execute(
                    "UPDATE sm_sites SET timezone = ? WHERE site = ?",
                    (timezone or DEFAULT_TIMEZONE, site),
                )


def _summary_status(payload: EventPayload) -> str | None:
    match payload:
        case RequestClaimed():
            return "claimed"
        case ClaimReleased() | ClaimExpired():
            return "open"
        case RequestStarted():
            return "in_progress"
        case RequestFulfilled():
            return "fulfilled"
        case RequestSignposted():
            return "signposted"
        case RequestCancelled():
            return "cancelled"
        case RequestMerged():
            return "merged"
    return None


class SiteReadModels:
    """Every read model of a field site in one projection: one durable consumer on the site's
    server and one SQLite transaction per batch instead of five, and one position to rebuild from.
    Each event goes to the model of its aggregate kind, and to the summary."""

    name = "requests_site"
    version = 6
    """Bump when any part's ``apply`` changes meaning."""

    def __init__(self) -> None:
        self.summary = SiteSummary()
        self.by_kind: dict[str, RequestBoard | VolunteerLoad | KitchenDashboard | SiteDefinitions]
        self.by_kind = {
            "request": RequestBoard(),
            "volunteer": VolunteerLoad(),
            "kitchen": KitchenDashboard(),
            "site": SiteDefinitions(),
        }

    def create(self, db: sqlite3.Connection) -> None:
        for part in (*self.by_kind.values(), self.summary):
            part.create(db)

    def drop(self, db: sqlite3.Connection) -> None:
        for part in (*self.by_kind.values(), self.summary):
            part.drop(db)

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        part = self.by_kind.get(event.aggregate_kind)
        if part is not None:
            part.apply(db, event, seq)
        self.summary.apply(db, event, seq)
