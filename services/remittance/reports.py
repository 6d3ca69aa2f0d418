"""What people ask of the read models: a transfer's state, a donor's history and "what my money did",
a group's public ledger by purpose and month, a treasurer's balance, and the ledger's own check.

Amounts leave as decimal strings in major units with their currency, never floats. The public report
names no donor and no receipt; a donor's report shows only that donor's transfers.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from services.remittance import postings
from services.remittance.money import major
from shared.endpoints import NotFound

Json = dict[str, Any]


def money(amount: int | None, currency: str | None) -> Json | None:
    if amount is None or currency is None:
        return None
    return {"amount": major(amount, currency), "currency": currency}


def public_state(status: str, received: int, disbursed: int) -> str:
    """The transfer's public state: "disbursed" once the group has spent all it received of it."""
    if status in ("received", "resolved") and received > 0 and disbursed >= received:
        return "disbursed"
    return status


def _sum(db: sqlite3.Connection, sql: str, *args: object) -> int:
    row = db.execute(sql, args).fetchone()
    return int(row[0] or 0)


def transfer(db: sqlite3.Connection, transfer_id: str) -> Json:
    row = db.execute(
        "SELECT * FROM remit_transfers WHERE transfer_id = ?", (transfer_id,)
    ).fetchone()
    if row is None:
        raise NotFound("no transfer with this id is known here", code="unknown_transfer")
    return _transfer(db, row)


def _transfer(db: sqlite3.Connection, row: sqlite3.Row) -> Json:
    tid = row["transfer_id"]
    received = _sum(db, "SELECT SUM(amount) FROM remit_receipts WHERE transfer_id = ?", tid)
    disbursed = _sum(db, "SELECT SUM(amount) FROM remit_allocations WHERE transfer_id = ?", tid)
    got_in = row["delivered_currency"] or _receipt_currency(db, tid)
    label = db.execute("SELECT label FROM remit_groups WHERE group_id = ?", (row["group_id"],))
    found = label.fetchone()
    return {
        "transfer_id": tid,
        "state": public_state(row["status"], received, disbursed),
        "group": {"group_id": row["group_id"], "label": found["label"] if found else None},
        "site": row["site"],
        "need_id": row["need_id"],
        "pledged": money(row["amount"], row["currency"]),
        "expires_at": row["expires_at"],
        "fee": money(row["fee"], row["currency"]),
        "rate": row["rate"],
        "channel": row["channel"],
        "delivered": money(row["delivered"], row["delivered_currency"]),
        "received": money(received, got_in) if received else None,
        "disbursed": money(disbursed, got_in) if disbursed else None,
        "dispute_reason": row["dispute_reason"],
        "resolution": row["resolution"],
        "timeline": [
            {"state": t["status"], "event": t["event_type"], "at": t["occurred_at"]}
            for t in db.execute(
                "SELECT status, event_type, occurred_at FROM remit_timeline WHERE transfer_id = ? "
                "ORDER BY seq",
                (tid,),
            )
        ],
    }


def _receipt_currency(db: sqlite3.Connection, transfer_id: str) -> str | None:
    row = db.execute(
        "SELECT currency FROM remit_receipts WHERE transfer_id = ? LIMIT 1", (transfer_id,)
    ).fetchone()
    return str(row["currency"]) if row else None


def donor_history(db: sqlite3.Connection, donor_ref: str) -> list[Json]:
    rows = db.execute(
        "SELECT * FROM remit_transfers WHERE donor_ref = ? ORDER BY pledged_at", (donor_ref,)
    ).fetchall()
    return [_transfer(db, row) for row in rows]


def donor_report(db: sqlite3.Connection, donor_ref: str) -> Json:
    """What the donor's money did: each transfer, the disbursements it funded, the kitchen needs
    those met, and the meals served by the kitchens it reached since it reached them."""
    transfers = donor_history(db, donor_ref)
    # (site, kitchen id) -> first day this donor's money reached it; kitchen ids are each site's
    kitchens: dict[tuple[str, str], str] = {}
    for item in transfers:
        item["disbursements"] = _funded(db, item["transfer_id"])
        for d in item["disbursements"]:
            need = d.get("need")
            if need and need.get("kitchen_id"):
                day = d["disbursed_at"][:10]
                kitchen = (need["site"], need["kitchen_id"])
                kitchens[kitchen] = min(kitchens.get(kitchen, day), day)
    return {
        "donor_ref": donor_ref,
        "transfers": transfers,
        "given": [
            money(row["total"], row["currency"])
            for row in db.execute(
                "SELECT currency, SUM(amount) AS total FROM remit_transfers WHERE donor_ref = ? "
                "AND funded_at IS NOT NULL AND status != 'cancelled' GROUP BY currency "
                "ORDER BY currency",
                (donor_ref,),
            )
        ],
        "kitchens": [
            {
                "kitchen_id": kitchen,
                "site": site,
                "reached_on": since,
                "meals_served_since": _sum(
                    db,
                    "SELECT SUM(meals) FROM remit_meals WHERE site = ? AND kitchen_id = ? "
                    "AND day >= ?",
                    site,
                    kitchen,
                    since,
                ),
            }
            for (site, kitchen), since in sorted(kitchens.items())
        ],
    }


def _funded(db: sqlite3.Connection, transfer_id: str) -> list[Json]:
    rows = db.execute(
        "SELECT d.*, a.amount AS share FROM remit_allocations a JOIN remit_disbursements d "
        "USING (disbursement_id) WHERE a.transfer_id = ? ORDER BY d.disbursed_at",
        (transfer_id,),
    ).fetchall()
    out = []
    for row in rows:
        need = _need(db, row["need_id"], row["site"]) if row["need_id"] else None
        out.append(
            {
                "disbursement_id": row["disbursement_id"],
                "from_this_transfer": money(row["share"], row["currency"]),
                "total": money(row["amount"], row["currency"]),
                "purpose": row["purpose"],
                "receipt_ref": row["receipt_ref"],
                "disbursed_at": row["disbursed_at"],
                "need": need,
            }
        )
    return out


def _need(db: sqlite3.Connection, need_id: str, site: str) -> Json:
    row = db.execute(
        "SELECT * FROM remit_needs WHERE site = ? AND need_id = ?", (site, need_id)
    ).fetchone()
    if row is None:
        return {"need_id": need_id, "site": site}
    return {
        "need_id": need_id,
        "site": site,
        "kitchen_id": row["kitchen_id"],
        "item": row["item"],
        "quantity": row["quantity"],
        "unit": row["unit"],
        "ward": row["ward"],
        "met": row["met_how"] is not None,
        "how": row["met_how"],
    }


def group_report(db: sqlite3.Connection, group_id: str) -> Json:
    """The public view of a group's money: received and spent by month, spent by purpose; no donor,
    no receipt, no person."""
    group = db.execute("SELECT * FROM remit_groups WHERE group_id = ?", (group_id,)).fetchone()
    if group is None:
        raise NotFound("no group with this id is registered", code="unknown_group")
    months: dict[str, Json] = defaultdict(lambda: {"received": [], "disbursed": []})
    for row in db.execute(
        "SELECT month, currency, SUM(amount) AS total, COUNT(*) AS n FROM remit_receipts "
        "WHERE group_id = ? GROUP BY month, currency ORDER BY month, currency",
        (group_id,),
    ):
        if row["total"]:
            entry = money(row["total"], row["currency"]) or {}
            months[row["month"]]["received"].append({**entry, "receipts": row["n"]})
    for row in db.execute(
        "SELECT month, purpose, currency, SUM(amount) AS total, COUNT(*) AS n FROM "
        "remit_disbursements WHERE group_id = ? GROUP BY month, purpose, currency "
        "ORDER BY month, purpose, currency",
        (group_id,),
    ):
        entry = money(row["total"], row["currency"]) or {}
        months[row["month"]]["disbursed"].append(
            {"purpose": row["purpose"], **entry, "disbursements": row["n"]}
        )
    return {
        "group_id": group_id,
        "label": group["label"],
        "site": group["site"],
        "months": [{"month": m, **v} for m, v in sorted(months.items())],
        "balance": _balances(db, postings.account(postings.GROUP, group_id)),
    }


def _balances(db: sqlite3.Connection, account: str) -> list[Json]:
    return [
        money(row["balance"], row["currency"]) or {}
        for row in db.execute(
            "SELECT currency, balance FROM remit_balances WHERE account = ? AND balance != 0 "
            "ORDER BY currency",
            (account,),
        )
    ]


def group_balance(db: sqlite3.Connection, group_id: str) -> Json:
    """For the treasurer: what the group holds, whose money it is, and what is on its way."""
    if db.execute("SELECT 1 FROM remit_groups WHERE group_id = ?", (group_id,)).fetchone() is None:
        # as the report says: an empty balance would read as "registered, holds nothing"
        raise NotFound("no group with this id is registered", code="unknown_group")
    unspent = db.execute(
        "SELECT r.transfer_id, r.currency, SUM(r.amount) - COALESCE((SELECT SUM(a.amount) FROM "
        "remit_allocations a JOIN remit_disbursements d USING (disbursement_id) WHERE "
        "a.transfer_id = r.transfer_id AND d.group_id = r.group_id AND d.currency = r.currency), 0) "
        "AS left FROM remit_receipts r WHERE r.group_id = ? GROUP BY r.transfer_id, r.currency "
        "ORDER BY MIN(r.received_at)",
        (group_id,),
    ).fetchall()
    expected = db.execute(
        "SELECT transfer_id, delivered, delivered_currency FROM remit_transfers WHERE group_id = ? "
        "AND status = 'sent' AND transfer_id NOT IN (SELECT transfer_id FROM remit_receipts) "
        "ORDER BY dispatched_at",
        (group_id,),
    ).fetchall()
    return {
        "group_id": group_id,
        "balance": _balances(db, postings.account(postings.GROUP, group_id)),
        "unspent_by_transfer": [
            {"transfer_id": r["transfer_id"], **(money(r["left"], r["currency"]) or {})}
            for r in unspent
            if r["left"]
        ],
        "on_the_way": [
            {
                "transfer_id": r["transfer_id"],
                **(money(r["delivered"], r["delivered_currency"]) or {}),
            }
            for r in expected
        ],
    }


def ledger_check(db: sqlite3.Connection) -> Json:
    """Every currency must sum to zero; accounts with a balance rule must keep it; what is still in
    transit is listed (a transfer on its way, or one a dispute must settle)."""
    sums = {
        row["currency"]: int(row["total"])
        for row in db.execute(
            "SELECT currency, SUM(balance) AS total FROM remit_balances GROUP BY currency"
        )
    }
    broken = []
    for row in db.execute("SELECT account, currency, balance FROM remit_balances"):
        kind = postings.kind_of(row["account"])
        if (kind in postings.NEVER_NEGATIVE and row["balance"] < 0) or (
            kind in postings.NEVER_POSITIVE and row["balance"] > 0
        ):
            broken.append(
                {"account": row["account"], **(money(row["balance"], row["currency"]) or {})}
            )
    transit = [
        {"account": row["account"], **(money(row["balance"], row["currency"]) or {})}
        for row in db.execute(
            "SELECT account, currency, balance FROM remit_balances WHERE account LIKE 'transit:%' "
            "AND balance != 0 ORDER BY account"
        )
    ]
    postings_count = _sum(db, "SELECT COUNT(*) FROM remit_postings")
    return {
        "balanced": all(v == 0 for v in sums.values()) and not broken,
        "sum_per_currency": {c: major(v, c) for c, v in sorted(sums.items())},
        "postings": postings_count,
        "rule_breaks": broken,
        "in_transit": transit,
    }


def open_needs(db: sqlite3.Connection) -> list[Json]:
    """Kitchen needs donors can fund."""
    return [
        {
            "need_id": row["need_id"],
            "kitchen_id": row["kitchen_id"],
            "site": row["site"],
            "item": row["item"],
            "quantity": row["quantity"],
            "unit": row["unit"],
            "ward": row["ward"],
            "estimated_cost": money(row["estimated_cost"], row["currency"]),
        }
        for row in db.execute("SELECT * FROM remit_needs WHERE met_how IS NULL ORDER BY posted_at")
    ]


def need(db: sqlite3.Connection, need_id: str, site: str) -> Json | None:
    """A need posted at ``site``: need ids are each site's kitchens' own, so another site may use
    the same one."""
    row = db.execute(
        "SELECT * FROM remit_needs WHERE site = ? AND need_id = ?", (site, need_id)
    ).fetchone()
    if row is None:
        return None
    return {"need_id": need_id, "site": row["site"], "met": row["met_how"] is not None}


def sites_with_need(db: sqlite3.Connection, need_id: str) -> list[str]:
    return [
        row["site"]
        for row in db.execute(
            "SELECT site FROM remit_needs WHERE need_id = ? ORDER BY site", (need_id,)
        )
    ]


def due_for_expiry(db: sqlite3.Connection, before: str, limit: int = 500) -> list[str]:
    return [
        row["transfer_id"]
        for row in db.execute(
            "SELECT transfer_id FROM remit_transfers WHERE status = 'pledged' AND expires_at <= ? "
            "ORDER BY expires_at LIMIT ?",
            (before, limit),
        )
    ]
