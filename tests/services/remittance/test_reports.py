"""The read models and what they answer, fed with events from the real deciders: rebuilt from zero
they are identical, an event applied twice fails instead of counting money twice, the public report
names no donor, and a donor's report follows the money to kitchen needs and meals."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from services.remittance import reports
from services.remittance.account import accounts
from services.remittance.directory import RegisterGroup, groups
from services.remittance.handlers import account_ref, group_ref, transfer_ref
from services.remittance.projections import FlowsProjection, KitchenProjection, LedgerProjection
from services.remittance.reports import Json
from services.remittance.subscribers import site_fact_note
from services.remittance.transfer import Expire, transfers
from services.requests.events import KitchenNeedMet, KitchenNeedPosted, MealsServed
from shared.commands import CommandHandler, CommandMeta
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.ids import uuid7
from shared.memorystore import InMemoryEventStore
from shared.reactor import reaction_meta
from shared.subjects import AggregateRef
from tests.services.remittance.builders import (
    DELIVERED,
    GROUP,
    SITE,
    T0,
    TRANSFER,
    cancel,
    confirm,
    correct,
    disburse,
    dispatch,
    fund,
    pledge,
    resolve,
)

PROJECTIONS = (LedgerProjection(), FlowsProjection(), KitchenProjection())


def history() -> list[Envelope[EventPayload]]:
    """One transfer through its life, a second one's receipt, kitchen facts: hub and site events
    in the order the hub's stream would hold them."""
    hub, site = InMemoryEventStore("hub"), InMemoryEventStore(SITE)
    th, ah, gh = (
        CommandHandler(hub, transfers),
        CommandHandler(site, accounts),
        CommandHandler(hub, groups),
    )
    clock = [T0]

    def meta(command_id: str | None = None) -> CommandMeta:
        clock[0] += timedelta(hours=1)
        return CommandMeta(command_id or uuid7(), "tester", clock[0])

    async def run() -> None:
        await gh.handle(group_ref(GROUP), RegisterGroup(GROUP, SITE, "ERR Bahri 7"), meta())
        ref = transfer_ref(TRANSFER, SITE)
        for command in (pledge(need_id="need-rice"), fund(), dispatch()):
            await th.handle(ref, command, meta())
        account = account_ref(GROUP, SITE)
        other = uuid7()
        for command in (
            confirm(received_at=T0 + timedelta(days=1)),
            confirm(10_000, transfer_id=other, received_at=T0 + timedelta(days=40)),
            disburse(DELIVERED - 100, need_id="need-rice", disbursed_at=T0 + timedelta(days=2)),
            disburse(
                5_000, purpose="cash_assistance", need_id=None, disbursed_at=T0 + timedelta(days=41)
            ),
        ):
            await ah.handle(account, command, meta())
        for stored in site.all_events():
            note = site_fact_note(stored.envelope)
            if note is not None and note[0].id == TRANSFER:
                await th.handle(note[0], note[1], reaction_meta(stored.envelope, "hub"))

    asyncio.run(run())
    kitchen = AggregateRef("requests", "kitchen", "kitchen-1", SITE)
    facts: list[EventPayload] = [
        KitchenNeedPosted(
            need_id="need-rice",
            kitchen_id="kitchen-1",
            item="rice",
            quantity=200,
            unit="kg",
            estimated_cost_minor=DELIVERED,
            currency="MMK",
            ward="w-7",
        ),
        KitchenNeedMet(need_id="need-rice", kitchen_id="kitchen-1", how="funded"),
        MealsServed(kitchen_id="kitchen-1", day=date(2025, 3, 1), meals=50),
        MealsServed(kitchen_id="kitchen-1", day=date(2025, 3, 3), meals=120),
        MealsServed(kitchen_id="kitchen-1", day=date(2025, 3, 3), meals=30),
    ]
    events = [s.envelope for s in hub.all_events()] + [s.envelope for s in site.all_events()]
    return events + kitchen_facts(kitchen, facts)


def kitchen_facts(kitchen: AggregateRef, facts: list[EventPayload]) -> list[Envelope[EventPayload]]:
    """The requests service's kitchen events, as the hub's stream holds them."""
    return [
        make_envelope(
            fact,
            event_id=uuid7(),
            aggregate=kitchen,
            occurred_at=T0,
            actor="k",
            correlation_id=uuid7(),
        )
        for fact in facts
    ]


def project(events: list[Envelope[EventPayload]]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.row_factory = sqlite3.Row
    for projection in PROJECTIONS:
        projection.create(db)
    for seq, event in enumerate(events, start=1):
        for projection in PROJECTIONS:
            projection.apply(db, event, seq)
    return db


def dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {t}")) for t in sorted(tables)}


def test_a_read_model_rebuilt_from_zero_is_identical() -> None:
    events = history()
    db = project(events)
    first = dump(db)
    for projection in PROJECTIONS:
        projection.drop(db)
        projection.create(db)
    for seq, event in enumerate(events, start=1):
        for projection in PROJECTIONS:
            projection.apply(db, event, seq)
    assert dump(db) == first


def test_an_event_applied_twice_fails_instead_of_counting_money_twice() -> None:
    events = history()
    db = project(events)
    funded = next(e for e in events if e.type == "TransferFunded")
    with pytest.raises(sqlite3.IntegrityError):
        LedgerProjection().apply(db, funded, 999)


def test_the_ledger_balances_and_shows_what_is_still_in_transit() -> None:
    check = reports.ledger_check(project(history()))
    assert check["balanced"]
    assert set(check["sum_per_currency"].values()) == {"0.00"}
    # the second transfer was confirmed by the group but never pledged here: it shows, negative
    assert [t["amount"] for t in check["in_transit"]] == ["-100.00"]


def test_the_public_report_adds_up_by_month_and_purpose_and_names_no_donor() -> None:
    report = reports.group_report(project(history()), GROUP)
    assert report["label"] == "ERR Bahri 7"
    march, april = report["months"]
    assert march["month"] == "2025-03"
    assert march["received"] == [{"amount": "475324.50", "currency": "MMK", "receipts": 1}]
    assert march["disbursed"] == [
        {"purpose": "kitchen_need", "amount": "475323.50", "currency": "MMK", "disbursements": 1}
    ]
    assert april["disbursed"][0]["purpose"] == "cash_assistance"
    assert report["balance"] == [{"amount": "51.00", "currency": "MMK"}]
    text = json.dumps(report)
    assert "donor-1" not in text and "book-4/17" not in text and "collector" not in text


def test_a_donors_report_follows_the_money_to_the_need_and_the_meals() -> None:
    report = reports.donor_report(project(history()), "donor-1")
    (mine,) = report["transfers"]
    assert mine["state"] == "disbursed"  # the oldest money is spent first: all of it is spent
    spent, rest = mine["disbursements"]
    assert spent["from_this_transfer"] == {"amount": "475323.50", "currency": "MMK"}
    assert (rest["purpose"], rest["from_this_transfer"]["amount"]) == ("cash_assistance", "1.00")
    assert spent["need"]["item"] == "rice" and spent["need"]["met"] is True
    (kitchen,) = report["kitchens"]
    assert kitchen == {
        "kitchen_id": "kitchen-1",
        "site": SITE,
        "reached_on": "2025-03-03",
        "meals_served_since": 150,
    }
    assert report["given"] == [{"amount": "100.00", "currency": "GBP"}]


def test_a_transfer_is_disbursed_once_all_it_brought_is_spent_in_every_currency() -> None:
    assert reports.public_state("received", {"MMK": 500}, {"MMK": 500}) == "disbursed"
    assert reports.public_state("received", {"MMK": 500}, {"MMK": 499}) == "received"
    both = {"MMK": 500, "USD": 5}
    assert reports.public_state("received", both, {"MMK": 500}) == "received"
    assert reports.public_state("received", both, {"MMK": 400, "USD": 105}) == "received"
    assert reports.public_state("resolved", both, both) == "disbursed"
    assert reports.public_state("received", {"MMK": 0}, {}) == "received"  # corrected to nothing
    assert reports.public_state("sent", {}, {}) == "sent"


def test_the_treasurer_sees_whose_money_is_left_and_what_is_on_its_way() -> None:
    balance = reports.group_balance(project(history()), GROUP)
    assert balance["balance"] == [{"amount": "51.00", "currency": "MMK"}]
    (left,) = balance["unspent_by_transfer"]
    assert (left["transfer_id"], left["amount"]) != (TRANSFER, "51.00")
    assert left["amount"] == "51.00"


def test_a_transfer_shows_disputed_while_the_groups_corrected_figures_disagree() -> None:
    """The read model keeps each transfer event's status, so a received transfer whose group
    corrects its confirmation down reads as disputed, and as received once corrected back."""
    hub, site = InMemoryEventStore("hub"), InMemoryEventStore(SITE)
    th, ah = CommandHandler(hub, transfers), CommandHandler(site, accounts)
    full = confirm()
    facts = [full, *(correct(full.confirmation_id, n) for n in (0, 1, DELIVERED))]
    shown: list[Json] = []

    def meta(n: int) -> CommandMeta:
        return CommandMeta(uuid7(), "tester", T0 + timedelta(hours=n))

    async def run() -> None:
        for n, command in enumerate((pledge(), fund(), dispatch())):
            await th.handle(transfer_ref(TRANSFER, SITE), command, meta(n))
        for n, fact in enumerate(facts, start=3):
            await ah.handle(account_ref(GROUP, SITE), fact, meta(n))
            stored = site.all_events()[-1]
            note = site_fact_note(stored.envelope)
            assert note is not None
            await th.handle(note[0], note[1], reaction_meta(stored.envelope, "hub"))
            events = [e.envelope for store in (hub, site) for e in store.all_events()]
            shown.append(reports.transfer(project(events), TRANSFER))

    asyncio.run(run())
    assert [s["state"] for s in shown] == ["received", "disputed", "disputed", "received"]
    assert shown[1]["dispute_reason"] == "less_than_sent"
    assert [t["state"] for t in shown[-1]["timeline"]][3:] == [
        "received",
        "disputed",  # the correction to nothing
        "disputed",  # the dispute it opened
        "disputed",  # the correction to 0.01
        "received",  # the correction back to the full amount
    ]


def test_another_sites_kitchen_with_the_same_ids_stays_its_own() -> None:
    """Need and kitchen ids are each site's own: a kitchen-1 elsewhere with a need-rice of its own
    changes nothing in this site's need, meals or the donor's report."""
    events = history()
    here = project(events)
    elsewhere = AggregateRef("requests", "kitchen", "kitchen-1", "yangon")
    twins: list[EventPayload] = [
        KitchenNeedPosted(
            need_id="need-rice",
            kitchen_id="kitchen-1",
            item="oil",
            quantity=5,
            unit="litres",
            estimated_cost_minor=1,
            currency="MMK",
            ward="w-1",
        ),
        MealsServed(kitchen_id="kitchen-1", day=date(2025, 3, 3), meals=999),
    ]
    both = project(events + kitchen_facts(elsewhere, twins))
    assert reports.donor_report(both, "donor-1") == reports.donor_report(here, "donor-1")
    assert reports.need(both, "need-rice", SITE) == {
        "need_id": "need-rice",
        "site": SITE,
        "met": True,
    }
    assert reports.need(both, "need-rice", "yangon") == {
        "need_id": "need-rice",
        "site": "yangon",
        "met": False,
    }
    assert reports.sites_with_need(both, "need-rice") == sorted([SITE, "yangon"])


# --- paging: every list that grows with the ledger comes in pages, in a total order ------------

SAME_MOMENT = T0 + timedelta(hours=1)
N = 7


def _ids(n: int, family: int = 0) -> list[str]:
    """UUIDv7-shaped ids in shuffled order, for records all made at the same moment as far as the
    read model can tell: only the id can order them."""
    ids = [f"0195a0c0-0000-7000-800{family}-{i:012d}" for i in range(n)]
    random.Random(n + family).shuffle(ids)
    return ids


def _all_pages(read: Callable[[int, int], Json], key: str, limit: int) -> list[Any]:
    """Every row of ``read`` by pages of ``limit``, following next_offset to the end; each page is
    what one read of everything from its offset starts with."""
    rows: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        page, rest = read(limit, offset), read(1000, offset)[key]
        assert page[key] == rest[:limit]
        if page["next_offset"] is None:
            assert len(rest) <= limit
        rows += page[key]
        offset = page["next_offset"]
    return rows


def _many() -> sqlite3.Connection:
    """``N`` transfers of donor-1 to the group, pledged, funded and sent at the same moments; ``N``
    receipts of the group's, at the same moment, for transfers this hub never saw; ``N`` needs
    posted at the same moment."""
    hub, site = InMemoryEventStore("hub"), InMemoryEventStore(SITE)
    th, ah, gh = (
        CommandHandler(hub, transfers),
        CommandHandler(site, accounts),
        CommandHandler(hub, groups),
    )

    def meta() -> CommandMeta:
        return CommandMeta(uuid7(), "tester", SAME_MOMENT)

    async def run() -> None:
        await gh.handle(group_ref(GROUP), RegisterGroup(GROUP, SITE, "ERR Bahri 7"), meta())
        for tid in _ids(N):
            for command in (pledge(transfer_id=tid), fund(), dispatch()):
                await th.handle(transfer_ref(tid, SITE), command, meta())
        for tid in _ids(N, family=1):
            receipt = confirm(1_000, transfer_id=tid, received_at=SAME_MOMENT)
            await ah.handle(account_ref(GROUP, SITE), receipt, meta())

    asyncio.run(run())
    kitchen = AggregateRef("requests", "kitchen", "kitchen-1", SITE)
    needs: list[EventPayload] = [
        KitchenNeedPosted(
            need_id=f"need-{i}",
            kitchen_id="kitchen-1",
            item="rice",
            quantity=1,
            unit="kg",
            estimated_cost_minor=100,
            currency="MMK",
            ward="w-7",
        )
        for i in random.Random(1).sample(range(N), N)
    ]
    events = [s.envelope for s in hub.all_events()] + [s.envelope for s in site.all_events()]
    return project(events + kitchen_facts(kitchen, needs))


@pytest.mark.parametrize("limit", [1, 2, N - 1, N, N + 1])
def test_a_donors_transfers_come_in_pages_ordered_by_pledge_then_id(limit: int) -> None:
    db = _many()
    for report in (reports.donor_history, reports.donor_report):
        read = functools.partial(report, db, "donor-1")
        got = _all_pages(read, "transfers", limit)
        assert [t["transfer_id"] for t in got] == sorted(_ids(N))  # same moment: by id, each once
        last = read(limit, (N - 1) // limit * limit)
        assert last["transfers"] and last["next_offset"] is None  # no empty page after the last
    assert reports.donor_history(db, "donor-1")["next_offset"] is None  # one default page


def test_every_page_of_a_donors_report_shows_what_all_the_donors_money_did() -> None:
    """What was given and the kitchens reached are the donor's, not the page's."""
    db = project(history())
    full = reports.donor_report(db, "donor-1")
    empty_page = reports.donor_report(db, "donor-1", limit=1, offset=5)
    assert empty_page["transfers"] == [] and empty_page["next_offset"] is None
    assert (empty_page["given"], empty_page["kitchens"]) == (full["given"], full["kitchens"])


@pytest.mark.parametrize("limit", [1, 3, 2 * N])
def test_the_ledgers_lists_come_in_pages_and_its_verdict_covers_the_whole_ledger(
    limit: int,
) -> None:
    db = _many()
    transit = _all_pages(lambda lim, off: reports.ledger_check(db, lim, off), "in_transit", limit)
    accounts_seen = [(t["account"], t["currency"]) for t in transit]
    assert accounts_seen == sorted(accounts_seen) and len(set(accounts_seen)) == 2 * N
    db.execute("INSERT INTO remit_balances VALUES ('group:written-past-the-rules', 'MMK', -5)")
    db.execute("INSERT INTO remit_balances VALUES ('donor:also-past-them', 'MMK', 5)")
    broken = _all_pages(lambda lim, off: reports.ledger_check(db, lim, off), "rule_breaks", limit)
    assert [b["account"] for b in broken] == [
        "donor:also-past-them",
        "group:written-past-the-rules",
    ]
    beyond = reports.ledger_check(db, limit, 10 * N)
    assert beyond["rule_breaks"] == [] and beyond["next_offset"] is None
    assert not beyond["balanced"]  # the breaks are on another page, the verdict still sees them


@pytest.mark.parametrize("limit", [1, 3, N])
def test_a_treasurers_lists_come_in_pages_ordered_by_time_then_transfer(limit: int) -> None:
    db = _many()

    def read(lim: int, off: int) -> Json:
        return reports.group_balance(db, GROUP, lim, off)

    unspent = _all_pages(read, "unspent_by_transfer", limit)
    assert [u["transfer_id"] for u in unspent] == sorted(_ids(N, family=1))
    on_the_way = _all_pages(read, "on_the_way", limit)
    assert [t["transfer_id"] for t in on_the_way] == sorted(_ids(N))


@pytest.mark.parametrize("limit", [1, 2, N])
def test_open_needs_come_in_pages_ordered_by_time_then_site_and_need(limit: int) -> None:
    db = _many()
    needs = _all_pages(lambda lim, off: reports.open_needs(db, lim, off), "needs", limit)
    assert [n["need_id"] for n in needs] == sorted(f"need-{i}" for i in range(N))


# --- several currencies for one transfer, and earmarked money --------------------------------


class Books:
    """A hub and the group's site over in-memory stores, for scenarios of a few commands: each
    site fact is noted at the hub as its reactor would, and every event is kept in the order it
    was written, as the hub's stream would hold them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.hub, self.site = InMemoryEventStore("hub"), InMemoryEventStore(SITE)
        self.transfers = CommandHandler(self.hub, transfers)
        self.accounts = CommandHandler(self.site, accounts)
        self.events: list[Envelope[EventPayload]] = []
        self.clock = T0
        self._run(
            CommandHandler(self.hub, groups), group_ref(GROUP), RegisterGroup(GROUP, SITE, "G")
        )

    def close(self) -> None:
        self.loop.close()

    def _run(self, handler: CommandHandler[Any, Any, Any], ref: AggregateRef, command: Any) -> None:
        self.clock += timedelta(hours=1)
        outcome = self.loop.run_until_complete(
            handler.handle(ref, command, CommandMeta(uuid7(), "tester", self.clock))
        )
        self.events += outcome.events

    def at_hub(self, transfer_id: str, *commands: Any) -> None:
        for command in commands:
            self._run(self.transfers, transfer_ref(transfer_id, SITE), command)

    def at_site(self, *commands: Any) -> None:
        for command in commands:
            before = len(self.events)
            self._run(self.accounts, account_ref(GROUP, SITE), command)
            for envelope in self.events[before:]:
                note = site_fact_note(envelope)
                if note is not None:
                    outcome = self.loop.run_until_complete(
                        self.transfers.handle(*note, reaction_meta(envelope, "hub"))
                    )
                    self.events += outcome.events

    def kitchen(self, *facts: EventPayload) -> None:
        self.events += kitchen_facts(
            AggregateRef("requests", "kitchen", "kitchen-1", SITE), [*facts]
        )

    def read(self) -> sqlite3.Connection:
        return project(self.events)


@pytest.fixture
def books() -> Iterator[Books]:
    made = Books()
    yield made
    made.close()


USD_10 = {"amount_minor": 1_000, "currency": "USD"}


def send_usd(books: Books, transfer_id: str = TRANSFER, **kw: Any) -> None:
    """10.00 USD pledged, funded and sent as USD (no conversion, no fee)."""
    books.at_hub(
        transfer_id,
        pledge(transfer_id=transfer_id, **USD_10, **kw),
        fund(**USD_10),
        dispatch(fee_minor=0, rate="1", delivered_currency="USD"),
    )


def test_a_transfer_received_in_two_currencies_shows_each_and_never_their_sum(
    books: Books,
) -> None:
    """5.00 USD and then 10,000.00 MMK arrived for a 10.00 USD transfer; 10,000.00 MMK was spent.
    Added together they read as 10005.00 USD received and 10000.00 USD disbursed."""
    send_usd(books)
    books.at_site(
        confirm(500, currency="USD"),
        confirm(1_000_000, currency="MMK", additional=True),
        disburse(1_000_000, purpose="cash_assistance", need_id=None),
    )
    status = reports.transfer(books.read(), TRANSFER)
    assert status["received"] == [
        {"amount": "10000.00", "currency": "MMK"},
        {"amount": "5.00", "currency": "USD"},
    ]
    assert status["disbursed"] == [{"amount": "10000.00", "currency": "MMK"}]
    assert status["state"] != "disbursed"  # the 5.00 USD is still unspent
    (mine,) = reports.donor_report(books.read(), "donor-1")["transfers"]
    assert (mine["received"], mine["disbursed"]) == (status["received"], status["disbursed"])


def test_a_transfer_received_in_two_currencies_is_disbursed_once_both_are_spent(
    books: Books,
) -> None:
    """Money in a second currency beside the full amount disagrees with what was sent: disputed
    (``other_currency``) until the hub resolves it; then spent in both, it is disbursed."""
    send_usd(books)
    books.at_site(
        confirm(1_000, currency="USD"),
        confirm(1_000_000, currency="MMK", additional=True),
        disburse(1_000_000, purpose="cash_assistance", need_id=None),
    )
    assert reports.transfer(books.read(), TRANSFER)["state"] == "disputed"
    books.at_hub(TRANSFER, resolve("agent_owes"))
    assert reports.transfer(books.read(), TRANSFER)["state"] == "resolved"
    books.at_site(disburse(1_000, currency="USD", purpose="food", need_id=None))
    status = reports.transfer(books.read(), TRANSFER)
    assert status["state"] == "disbursed"
    assert status["disbursed"] == status["received"]


def test_a_transfer_nothing_has_reached_shows_empty_lists(books: Books) -> None:
    send_usd(books)
    status = reports.transfer(books.read(), TRANSFER)
    assert (status["state"], status["received"], status["disbursed"]) == ("sent", [], [])


def need_posted(need_id: str, cost_minor: int) -> KitchenNeedPosted:
    return KitchenNeedPosted(
        need_id=need_id,
        kitchen_id="kitchen-1",
        item="rice",
        quantity=200,
        unit="kg",
        estimated_cost_minor=cost_minor,
        currency="MMK",
        ward="w-7",
    )


def test_an_open_need_shows_what_was_pledged_and_disbursed_to_it_in_each_currency(
    books: Books,
) -> None:
    """Paid in full (120,000.00 MMK against a 120,000.00 MMK estimate) the need stays open until
    the kitchen says it is met; meanwhile donors see what it already has, and judge. Pledges that
    expired or were cancelled bring nothing; a pledge to no need is no pledge to this one."""
    books.kitchen(need_posted("need-rice", 12_000_000))
    books.at_hub(TRANSFER, pledge(need_id="need-rice"), fund(), dispatch())  # 100.00 GBP
    books.at_site(confirm(), disburse(12_000_000, need_id="need-rice"))
    promised, cancelled, expired, general = uuid7(), uuid7(), uuid7(), uuid7()
    books.at_hub(
        promised, pledge(transfer_id=promised, need_id="need-rice", **USD_10)
    )  # not funded yet: still a pledge
    books.at_hub(cancelled, pledge(transfer_id=cancelled, need_id="need-rice"), cancel())
    books.at_hub(
        expired,
        pledge(transfer_id=expired, need_id="need-rice"),
        Expire(T0 + timedelta(days=4)),
    )
    books.at_hub(general, pledge(transfer_id=general))
    (need,) = reports.open_needs(books.read())["needs"]
    assert need["estimated_cost"] == {"amount": "120000.00", "currency": "MMK"}
    assert need["pledged"] == [
        {"amount": "100.00", "currency": "GBP"},
        {"amount": "10.00", "currency": "USD"},
    ]
    assert need["disbursed"] == [{"amount": "120000.00", "currency": "MMK"}]
    books.kitchen(KitchenNeedMet(need_id="need-rice", kitchen_id="kitchen-1", how="funded"))
    assert reports.open_needs(books.read())["needs"] == []


def test_a_need_of_the_same_id_at_another_site_shows_only_its_own_figures(books: Books) -> None:
    books.kitchen(need_posted("need-rice", 12_000_000))
    books.at_hub(TRANSFER, pledge(need_id="need-rice"), fund(), dispatch())
    books.at_site(confirm(), disburse(12_000_000, need_id="need-rice"))
    elsewhere = AggregateRef("requests", "kitchen", "kitchen-1", "yangon")
    books.events += kitchen_facts(elsewhere, [need_posted("need-rice", 100)])
    here, there = reports.open_needs(books.read())["needs"]
    assert (here["site"], there["site"]) == (SITE, "yangon")
    assert here["pledged"] and here["disbursed"]
    assert (there["pledged"], there["disbursed"]) == ([], [])
