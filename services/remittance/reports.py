"""What people ask of the read models: a transfer's state, a donor's history and "what my money did",
a group's public ledger by purpose and month, a treasurer's balance, and the ledger's own check.

Amounts leave as decimal strings in major units with their currency, never floats. The public report
names no donor and no receipt; a donor's report shows only that donor's transfers.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from services.remittance import postings
from shared.currencies import amount, major
from shared.decider import Refused
from shared.endpoints import NotFound
from shared.projection import page
from shared.subjects import HUB

Json = dict[str, Any]
LIMIT = 100
"""Rows in a page when the caller names no limit (as the requests service's lists)."""


def _next(*offsets: int | None) -> int | None:
    """Several lists paged by one offset: the next page exists while any of them has more."""
    return next((o for o in offsets if o is not None), None)


def money(minor: int | None, currency: str | None) -> Json | None:
    if minor is None or currency is None:
        return None
    return amount(minor, currency)


def amounts(totals: Mapping[str, int]) -> list[Json]:
    """Amounts in several currencies, one entry each, by currency: never added together, since
    no rate is ever applied to a balance. Nothing (or a receipt corrected to nothing) is left out."""
    return [money(v, c) or {} for c, v in sorted(totals.items()) if v]


def public_state(status: str, received: Mapping[str, int], disbursed: Mapping[str, int]) -> str:
    """The transfer's public state: "disbursed" once the group has spent all it received of it,
    in every currency it arrived in (a second currency can arrive with an additional receipt)."""
    spent_all = all(disbursed.get(c, 0) >= v for c, v in received.items())
    if status in ("received", "resolved") and any(received.values()) and spent_all:
        return "disbursed"
    return status


def _sum(db: sqlite3.Connection, sql: str, *args: object) -> int:
    row = db.execute(sql, args).fetchone()
    return int(row[0] or 0)


def _by_currency(db: sqlite3.Connection, sql: str, *args: object) -> dict[str, int]:
    """``sql`` selects (currency, total) rows."""
    return {row[0]: int(row[1] or 0) for row in db.execute(sql, args)}


def transfer(db: sqlite3.Connection, transfer_id: str) -> Json:
    row = db.execute(
        "SELECT * FROM remit_transfers WHERE transfer_id = ?", (transfer_id,)
    ).fetchone()
    if row is None:
        raise NotFound("no transfer with this id is known here", code="unknown_transfer")
    return _transfer(db, row)


def _transfer(db: sqlite3.Connection, row: sqlite3.Row) -> Json:
    tid = row["transfer_id"]
    received = _by_currency(
        db,
        "SELECT currency, SUM(amount) FROM remit_receipts WHERE transfer_id = ? GROUP BY currency",
        tid,
    )
    disbursed = _by_currency(
        db,
        "SELECT d.currency, SUM(a.amount) FROM remit_allocations a JOIN remit_disbursements d "
        "USING (disbursement_id) WHERE a.transfer_id = ? GROUP BY d.currency",
        tid,
    )
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
        "received": amounts(received),
        "disbursed": amounts(disbursed),
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


def donor_history(
    db: sqlite3.Connection, donor_ref: str, limit: int = LIMIT, offset: int = 0
) -> Json:
    """A donor's transfers, oldest pledge first; the transfer id orders pledges made at the same
    moment, so that no transfer is shown on two pages or on none."""
    rows, next_offset = page(
        db.execute(
            "SELECT * FROM remit_transfers WHERE donor_ref = ? ORDER BY pledged_at, transfer_id "
            "LIMIT ? OFFSET ?",
            (donor_ref, limit + 1, offset),
        ).fetchall(),
        limit,
        offset,
    )
    return {
        "donor_ref": donor_ref,
        "transfers": [_transfer(db, row) for row in rows],
        "next_offset": next_offset,
    }


def donor_report(
    db: sqlite3.Connection, donor_ref: str, limit: int = LIMIT, offset: int = 0
) -> Json:
    """What the donor's money did: a page of transfers, each with the disbursements it funded and
    the kitchen needs those met; what the donor gave, and the meals served by the kitchens the
    money reached since it reached them, over all the donor's transfers (on every page alike)."""
    history = donor_history(db, donor_ref, limit, offset)
    for item in history["transfers"]:
        item["disbursements"] = _funded(db, item["transfer_id"])
    return {
        **history,
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
                "kitchen_id": row["kitchen_id"],
                "site": row["site"],
                "reached_on": row["since"],
                "meals_served_since": _sum(
                    db,
                    "SELECT SUM(meals) FROM remit_meals WHERE site = ? AND kitchen_id = ? "
                    "AND day >= ?",
                    row["site"],
                    row["kitchen_id"],
                    row["since"],
                ),
            }
            for row in _kitchens_reached(db, donor_ref)
        ],
    }


def _kitchens_reached(db: sqlite3.Connection, donor_ref: str) -> list[sqlite3.Row]:
    """Each kitchen (by site: kitchen ids are each site's own) whose need the donor's money paid
    for, and the first day it did."""
    return db.execute(
        "SELECT n.site, n.kitchen_id, MIN(substr(d.disbursed_at, 1, 10)) AS since "
        "FROM remit_transfers t JOIN remit_allocations a ON a.transfer_id = t.transfer_id "
        "JOIN remit_disbursements d ON d.disbursement_id = a.disbursement_id "
        "JOIN remit_needs n ON n.site = d.site AND n.need_id = d.need_id "
        "WHERE t.donor_ref = ? GROUP BY n.site, n.kitchen_id ORDER BY n.site, n.kitchen_id",
        (donor_ref,),
    ).fetchall()


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


def _group(db: sqlite3.Connection, group_id: str, here: str | None) -> sqlite3.Row:
    """The group, if its accounts can be read ``here``: every site knows every group, but holds only
    its own groups' accounts (the hub holds all). Another site's group would read as registered
    and empty, as an unknown one would (a treasurer asking at the wrong site saw no money)."""
    group: sqlite3.Row | None = db.execute(
        "SELECT * FROM remit_groups WHERE group_id = ?", (group_id,)
    ).fetchone()
    if group is None:
        # as the report says: an empty balance would read as "registered, holds nothing"
        raise NotFound("no group with this id is registered", code="unknown_group")
    if here is not None and here not in (HUB, group["site"]):
        raise Refused(
            f"group {group_id} keeps its accounts at {group['site']}, not {here}: ask there, "
            "or at the hub (`aidmesh remit ... --site hub`)",
            code="wrong_site",
        )
    return group


def group_report(db: sqlite3.Connection, group_id: str, here: str | None = None) -> Json:
    """The public view of a group's money: received and spent by month, spent by purpose; no donor,
    no receipt, no person. ``here``: the site asked (None: no check)."""
    group = _group(db, group_id, here)
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


def group_balance(
    db: sqlite3.Connection,
    group_id: str,
    limit: int = LIMIT,
    offset: int = 0,
    here: str | None = None,
) -> Json:
    """For the treasurer: what the group holds, whose money it is, and what is on its way. Both
    lists grow with the transfers, so both are paged, by the same limit and offset."""
    _group(db, group_id, here)
    unspent, more_unspent = page(
        db.execute(
            "SELECT r.transfer_id, r.currency, SUM(r.amount) - COALESCE((SELECT SUM(a.amount) "
            "FROM remit_allocations a JOIN remit_disbursements d USING (disbursement_id) WHERE "
            "a.transfer_id = r.transfer_id AND d.group_id = r.group_id AND d.currency = "
            "r.currency), 0) AS left FROM remit_receipts r WHERE r.group_id = ? "
            "GROUP BY r.transfer_id, r.currency HAVING left != 0 "
            "ORDER BY MIN(r.received_at), r.transfer_id, r.currency LIMIT ? OFFSET ?",
            (group_id, limit + 1, offset),
        ).fetchall(),
        limit,
        offset,
    )
    expected, more_expected = page(
        db.execute(
            "SELECT transfer_id, delivered, delivered_currency FROM remit_transfers WHERE "
            "group_id = ? AND status = 'sent' AND transfer_id NOT IN (SELECT transfer_id FROM "
            "remit_receipts) ORDER BY dispatched_at, transfer_id LIMIT ? OFFSET ?",
            (group_id, limit + 1, offset),
        ).fetchall(),
        limit,
        offset,
    )
    return {
        "group_id": group_id,
        "balance": _balances(db, postings.account(postings.GROUP, group_id)),
        "unspent_by_transfer": [
            {"transfer_id": r["transfer_id"], **(money(r["left"], r["currency"]) or {})}
            for r in unspent
        ],
        "on_the_way": [
            {
                "transfer_id": r["transfer_id"],
                **(money(r["delivered"], r["delivered_currency"]) or {}),
            }
            for r in expected
        ],
        "next_offset": _next(more_unspent, more_expected),
    }


def ledger_check(db: sqlite3.Connection, limit: int = LIMIT, offset: int = 0) -> Json:
    """Every currency must sum to zero; accounts with a balance rule must keep it; what is still in
    transit is listed (a transfer on its way, or one a dispute must settle). The sums and the
    verdict cover the whole ledger; the two lists, which grow with it, are paged by the same limit
    and offset."""
    sums = {
        row["currency"]: int(row["total"])
        for row in db.execute(
            "SELECT currency, SUM(balance) AS total FROM remit_balances GROUP BY currency"
        )
    }
    broken, more_broken = page(
        db.execute(
            f"SELECT account, currency, balance FROM remit_balances WHERE {_RULE_BROKEN} "
            "ORDER BY account, currency LIMIT ? OFFSET ?",
            (limit + 1, offset),
        ).fetchall(),
        limit,
        offset,
    )
    transit, more_transit = page(
        db.execute(
            "SELECT account, currency, balance FROM remit_balances WHERE account LIKE 'transit:%' "
            "AND balance != 0 ORDER BY account, currency LIMIT ? OFFSET ?",
            (limit + 1, offset),
        ).fetchall(),
        limit,
        offset,
    )
    any_broken = db.execute(f"SELECT 1 FROM remit_balances WHERE {_RULE_BROKEN} LIMIT 1")
    return {
        "balanced": all(v == 0 for v in sums.values()) and any_broken.fetchone() is None,
        "sum_per_currency": {c: major(v, c) for c, v in sorted(sums.items())},
        "postings": _sum(db, "SELECT COUNT(*) FROM remit_postings"),
        "rule_breaks": [_account_balance(row) for row in broken],
        "in_transit": [_account_balance(row) for row in transit],
        "next_offset": _next(more_broken, more_transit),
    }


def _kinds(kinds: frozenset[str]) -> str:
    return ", ".join(f"'{k}'" for k in sorted(kinds))  # the chart's own names, never input


_KIND = "substr(account, 1, instr(account, ':') - 1)"
_RULE_BROKEN = (
    f"(({_KIND} IN ({_kinds(postings.NEVER_NEGATIVE)}) AND balance < 0) "
    f"OR ({_KIND} IN ({_kinds(postings.NEVER_POSITIVE)}) AND balance > 0))"
)
"""An account whose balance breaks its kind's rule (``postings.kind_of`` in SQL)."""


def _account_balance(row: sqlite3.Row) -> Json:
    return {"account": row["account"], **(money(row["balance"], row["currency"]) or {})}


def open_needs(db: sqlite3.Connection, limit: int = LIMIT, offset: int = 0) -> Json:
    """Kitchen needs donors can fund, oldest first (site and need id order needs posted at the
    same moment), each with what it has so far: ``pledged`` to it and ``disbursed`` to it, per
    currency. A need stays here until its kitchen says it is met (``KitchenNeedMet``): the
    estimate is only an estimate, so this service keeps no second notion of "met"; the figures let
    a donor see that a need is already paid, or promised, before pledging to it."""
    rows, next_offset = page(
        db.execute(
            "SELECT * FROM remit_needs WHERE met_how IS NULL ORDER BY posted_at, site, need_id "
            "LIMIT ? OFFSET ?",
            (limit + 1, offset),
        ).fetchall(),
        limit,
        offset,
    )
    return {
        "needs": [
            {
                "need_id": row["need_id"],
                "kitchen_id": row["kitchen_id"],
                "site": row["site"],
                "item": row["item"],
                "quantity": row["quantity"],
                "unit": row["unit"],
                "ward": row["ward"],
                "estimated_cost": money(row["estimated_cost"], row["currency"]),
                "pledged": amounts(_pledged_to(db, row["site"], row["need_id"])),
                "disbursed": amounts(_disbursed_to(db, row["site"], row["need_id"])),
            }
            for row in rows
        ],
        "next_offset": next_offset,
    }


def _pledged_to(db: sqlite3.Connection, site: str, need_id: str) -> dict[str, int]:
    """What donors promised the need, in their currencies: every pledge that may still bring money
    (an expired or cancelled one never will). A need is its site's: so are the transfers to it."""
    return _by_currency(
        db,
        "SELECT currency, SUM(amount) FROM remit_transfers WHERE site = ? AND need_id = ? "
        "AND status NOT IN ('expired', 'cancelled') GROUP BY currency",
        site,
        need_id,
    )


def _disbursed_to(db: sqlite3.Connection, site: str, need_id: str) -> dict[str, int]:
    """What the site's groups spent on the need, whoever's money it was."""
    return _by_currency(
        db,
        "SELECT currency, SUM(amount) FROM remit_disbursements WHERE site = ? AND need_id = ? "
        "GROUP BY currency",
        site,
        need_id,
    )


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
