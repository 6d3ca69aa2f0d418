"""Read models of the remittance service: the ledger (every posting), the flows (transfers, receipts,
disbursements, groups) and the kitchens (needs and meals from the requests service's contract).

Each is a pure fold of events into SQLite, rebuildable from zero. The ledger keys postings by
(event id, leg), so an event applied twice would fail loudly instead of counting money twice. At the
hub they hold everything; at a site, the site's own facts plus the hub's about its groups.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from services.remittance.events import (
    DisbursementMade,
    DisputeResolved,
    GroupRegistered,
    MoneyMoved,
    ReceiptConfirmed,
    ReceiptCorrected,
    ReceiptDisputed,
    TransferDispatched,
    TransferDisputed,
    TransferFunded,
    TransferPledged,
)
from services.requests.events import KitchenNeedMet, KitchenNeedPosted, MealsServed
from shared.envelope import Envelope, EventPayload, EventRegistry

KITCHEN_EVENTS = frozenset({"KitchenNeedPosted", "KitchenNeedMet", "MealsServed"})
KITCHEN_SUBJECTS = ("ev.requests.*.*.kitchen.>",)
kitchen_registry = EventRegistry(KitchenNeedPosted, KitchenNeedMet, MealsServed)


def iso(moment: datetime) -> str:
    """UTC ISO text, so that stored times compare correctly as strings."""
    return moment.astimezone(UTC).isoformat()


class LedgerProjection:
    """Every posting, and each account's balance per currency."""

    name = "remit_ledger"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS remit_postings (event_id TEXT NOT NULL, leg INTEGER NOT "
            "NULL, seq INTEGER NOT NULL, account TEXT NOT NULL, currency TEXT NOT NULL, amount "
            "INTEGER NOT NULL, event_type TEXT NOT NULL, occurred_at TEXT NOT NULL, site TEXT NOT "
            "NULL, PRIMARY KEY (event_id, leg))"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS remit_balances (account TEXT NOT NULL, currency TEXT NOT "
            "NULL, balance INTEGER NOT NULL, PRIMARY KEY (account, currency))"
        )

    def drop(self, db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE IF EXISTS remit_postings")
        db.execute("DROP TABLE IF EXISTS remit_balances")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        payload = event.payload
        if not isinstance(payload, MoneyMoved):
            return
        at = iso(event.occurred_at)
        for leg, posting in enumerate(payload.postings):
            db.execute(
                "INSERT INTO remit_postings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.event_id,
                    leg,
                    seq,
                    posting.account,
                    posting.currency,
                    posting.amount_minor,
                    event.type,
                    at,
                    event.site,
                ),
            )
            db.execute(
                "INSERT INTO remit_balances VALUES (?, ?, ?) ON CONFLICT (account, currency) "
                "DO UPDATE SET balance = balance + excluded.balance",
                (posting.account, posting.currency, posting.amount_minor),
            )


_FLOWS = (
    "CREATE TABLE IF NOT EXISTS remit_groups (group_id TEXT PRIMARY KEY, site TEXT NOT NULL, "
    "label TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS remit_transfers (transfer_id TEXT PRIMARY KEY, site TEXT NOT NULL, "
    "group_id TEXT NOT NULL, donor_ref TEXT NOT NULL, need_id TEXT, amount INTEGER NOT NULL, "
    "currency TEXT NOT NULL, expires_at TEXT NOT NULL, rail TEXT NOT NULL, status TEXT NOT NULL, "
    "pledged_at TEXT NOT NULL, funded_at TEXT, channel TEXT, agent_ref TEXT, fee INTEGER, "
    "rate TEXT, delivered INTEGER, delivered_currency TEXT, dispatched_at TEXT, "
    "dispute_reason TEXT, resolution TEXT, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS remit_transfers_donor ON remit_transfers (donor_ref)",
    "CREATE INDEX IF NOT EXISTS remit_transfers_due ON remit_transfers (status, expires_at)",
    "CREATE INDEX IF NOT EXISTS remit_transfers_need ON remit_transfers (site, need_id)",
    "CREATE INDEX IF NOT EXISTS remit_transfers_group ON remit_transfers (group_id, need_id)",
    "CREATE TABLE IF NOT EXISTS remit_timeline (transfer_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "event_type TEXT NOT NULL, status TEXT NOT NULL, occurred_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS remit_timeline_transfer ON remit_timeline (transfer_id, seq)",
    "CREATE TABLE IF NOT EXISTS remit_receipts (confirmation_id TEXT PRIMARY KEY, group_id TEXT NOT "
    "NULL, site TEXT NOT NULL, transfer_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT "
    "NOT NULL, received_at TEXT NOT NULL, month TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS remit_receipts_transfer ON remit_receipts (transfer_id)",
    "CREATE TABLE IF NOT EXISTS remit_disbursements (disbursement_id TEXT PRIMARY KEY, group_id TEXT "
    "NOT NULL, site TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, purpose TEXT "
    "NOT NULL, need_id TEXT, receipt_ref TEXT NOT NULL, disbursed_at TEXT NOT NULL, month TEXT NOT "
    "NULL)",
    "CREATE INDEX IF NOT EXISTS remit_disbursements_need ON remit_disbursements (site, need_id)",
    "CREATE TABLE IF NOT EXISTS remit_allocations (disbursement_id TEXT NOT NULL, transfer_id TEXT "
    "NOT NULL, amount INTEGER NOT NULL, PRIMARY KEY (disbursement_id, transfer_id))",
    "CREATE INDEX IF NOT EXISTS remit_allocations_transfer ON remit_allocations (transfer_id)",
    "CREATE TABLE IF NOT EXISTS remit_disputes (dispute_id TEXT PRIMARY KEY, transfer_id TEXT NOT "
    "NULL, group_id TEXT, reason TEXT NOT NULL, reported_at TEXT NOT NULL)",
)
_FLOW_TABLES = (
    "remit_groups",
    "remit_transfers",
    "remit_timeline",
    "remit_receipts",
    "remit_disbursements",
    "remit_allocations",
    "remit_disputes",
)


class FlowsProjection:
    """Groups, transfers with their public state and timeline, receipts, disbursements, disputes."""

    name = "remit_flows"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        for ddl in _FLOWS:
            db.execute(ddl)

    def drop(self, db: sqlite3.Connection) -> None:
        for table in _FLOW_TABLES:
            db.execute(f"DROP TABLE IF EXISTS {table}")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        payload, at = event.payload, iso(event.occurred_at)
        match payload:
            case GroupRegistered():
                db.execute(
                    "INSERT OR REPLACE INTO remit_groups VALUES (?, ?, ?)",
                    (payload.group_id, payload.site, payload.label),
                )
            case TransferPledged():
                db.execute(
                    "INSERT INTO remit_transfers (transfer_id, site, group_id, donor_ref, need_id, "
                    "amount, currency, expires_at, rail, status, pledged_at, updated_at) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        payload.transfer_id,
                        payload.site,
                        payload.group_id,
                        payload.donor_ref,
                        payload.need_id,
                        payload.amount_minor,
                        payload.currency,
                        iso(payload.expires_at),
                        payload.rail,
                        payload.status,
                        at,
                        at,
                    ),
                )
            case ReceiptConfirmed() | ReceiptCorrected() | DisbursementMade() | ReceiptDisputed():
                _site_fact(db, event.site, payload)
                return
        transfer_id = getattr(payload, "transfer_id", None)
        status = getattr(payload, "status", None)
        if transfer_id is None or status is None:
            return
        _transfer_fact(db, transfer_id, payload, at)
        db.execute(
            "UPDATE remit_transfers SET status = ?, updated_at = ? WHERE transfer_id = ?",
            (status, at, transfer_id),
        )
        db.execute(
            "INSERT INTO remit_timeline VALUES (?, ?, ?, ?, ?)",
            (transfer_id, seq, event.type, status, at),
        )


def _transfer_fact(db: sqlite3.Connection, transfer_id: str, payload: object, at: str) -> None:
    match payload:
        case TransferFunded():
            db.execute(
                "UPDATE remit_transfers SET funded_at = ? WHERE transfer_id = ?",
                (iso(payload.funded_at), transfer_id),
            )
        case TransferDispatched():
            db.execute(
                "UPDATE remit_transfers SET channel = ?, agent_ref = ?, fee = ?, rate = ?, "
                "delivered = ?, delivered_currency = ?, dispatched_at = ? WHERE transfer_id = ?",
                (
                    payload.channel,
                    payload.agent_ref,
                    payload.fee_minor,
                    payload.rate,
                    payload.delivered_minor,
                    payload.delivered_currency,
                    iso(payload.dispatched_at),
                    transfer_id,
                ),
            )
        case TransferDisputed():
            db.execute(
                "UPDATE remit_transfers SET dispute_reason = ? WHERE transfer_id = ?",
                (payload.reason, transfer_id),
            )
        case DisputeResolved():
            db.execute(
                "UPDATE remit_transfers SET resolution = ? WHERE transfer_id = ?",
                (payload.resolution, transfer_id),
            )


def _site_fact(db: sqlite3.Connection, site: str, payload: object) -> None:
    match payload:
        case ReceiptConfirmed():
            db.execute(
                "INSERT INTO remit_receipts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payload.confirmation_id,
                    payload.group_id,
                    site,
                    payload.transfer_id,
                    payload.amount_minor,
                    payload.currency,
                    iso(payload.received_at),
                    iso(payload.received_at)[:7],
                ),
            )
        case ReceiptCorrected():
            db.execute(
                "UPDATE remit_receipts SET amount = ? WHERE confirmation_id = ?",
                (payload.amount_minor, payload.confirmation_id),
            )
        case DisbursementMade():
            db.execute(
                "INSERT INTO remit_disbursements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payload.disbursement_id,
                    payload.group_id,
                    site,
                    payload.amount_minor,
                    payload.currency,
                    payload.purpose,
                    payload.need_id,
                    payload.receipt_ref,
                    iso(payload.disbursed_at),
                    iso(payload.disbursed_at)[:7],
                ),
            )
            for part in payload.funded_by:
                db.execute(
                    "INSERT INTO remit_allocations VALUES (?, ?, ?)",
                    (payload.disbursement_id, part.transfer_id, part.amount_minor),
                )
        case ReceiptDisputed():
            db.execute(
                "INSERT OR IGNORE INTO remit_disputes VALUES (?, ?, ?, ?, ?)",
                (
                    payload.dispute_id,
                    payload.transfer_id,
                    payload.group_id,
                    payload.reason,
                    iso(payload.reported_at),
                ),
            )


class KitchenProjection:
    """Kitchen needs and meals served, read from the requests service's contract events."""

    name = "remit_kitchens"
    version = 2
    """2: needs keyed by site and need, meals by site, kitchen and day (ids are each site's own)."""

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS remit_needs (need_id TEXT NOT NULL, kitchen_id TEXT NOT "
            "NULL, site TEXT NOT NULL, item TEXT NOT NULL, quantity INTEGER NOT NULL, unit TEXT NOT "
            "NULL, estimated_cost INTEGER NOT NULL, currency TEXT NOT NULL, ward TEXT NOT NULL, "
            "posted_at TEXT NOT NULL, met_how TEXT, met_at TEXT, PRIMARY KEY (site, need_id))"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS remit_meals (kitchen_id TEXT NOT NULL, site TEXT NOT NULL, "
            "day TEXT NOT NULL, meals INTEGER NOT NULL, PRIMARY KEY (site, kitchen_id, day))"
        )

    def drop(self, db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE IF EXISTS remit_needs")
        db.execute("DROP TABLE IF EXISTS remit_meals")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        payload, at = event.payload, iso(event.occurred_at)
        match payload:
            case KitchenNeedPosted():
                db.execute(
                    "INSERT OR REPLACE INTO remit_needs VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                    (
                        payload.need_id,
                        payload.kitchen_id,
                        event.site,
                        payload.item,
                        payload.quantity,
                        payload.unit,
                        payload.estimated_cost_minor,
                        payload.currency,
                        payload.ward,
                        at,
                    ),
                )
            case KitchenNeedMet():
                db.execute(
                    "UPDATE remit_needs SET met_how = ?, met_at = ? WHERE site = ? AND need_id = ?",
                    (payload.how, at, event.site, payload.need_id),
                )
            case MealsServed():
                db.execute(
                    "INSERT INTO remit_meals VALUES (?, ?, ?, ?) ON CONFLICT (site, kitchen_id, day) "
                    "DO UPDATE SET meals = meals + excluded.meals",
                    (payload.kitchen_id, event.site, payload.day.isoformat(), payload.meals),
                )
