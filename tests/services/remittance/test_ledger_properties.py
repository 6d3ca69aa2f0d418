"""The ledger's invariants under random histories: commands at the hub and at two sites, the sites'
facts reaching the hub late and in any order across transfers, delivered twice, commands replayed
with their ids and reused with other content. After every step:

- every currency sums to zero over all postings everywhere;
- no account breaks its balance rule (a group never below zero, a collector never below zero, a
  donor never refunded more than given, kitchens and purposes only ever receive);
- each transfer reaches at most one irrevocable outcome (expired, cancelled, resolved) and never
  leaves it; "received" is not one: the group's later facts may dispute it again;
- a transfer the hub says is received has nothing left in transit, once the hub has heard all its
  sites' facts about it (no money stuck under a state that says it arrived);
- a dispute reported by another group than the transfer's changes nothing at the hub;
- the ledger read model, fed the same events, agrees; and a refused command changed nothing.

Commands go through the real command handlers over the in-memory store (which has JetStream's
semantics), so ids, replays and conflicts are exercised as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.remittance import postings, reports
from services.remittance.account import (
    ConfirmReceipt,
    CorrectReceipt,
    Disburse,
    ReportDispute,
    accounts,
)
from services.remittance.donations import EXPIRY_INDEX
from services.remittance.events import OUTCOMES, MoneyMoved
from services.remittance.handlers import account_ref, transfer_ref
from services.remittance.projections import LedgerProjection
from services.remittance.subscribers import site_fact_note
from services.remittance.transfer import (
    Cancel,
    Dispatch,
    Expire,
    Fund,
    NoteDispute,
    Pledge,
    Resolve,
    Transfer,
    transfers,
)
from shared.commands import CommandHandler, CommandMeta
from shared.decider import Refused
from shared.envelope import Envelope, EventPayload
from shared.eventstore import EventConflict, StoredEvent
from shared.ids import child_id, uuid7
from shared.memorystore import InMemoryEventStore
from shared.reactor import reaction_meta
from shared.subjects import AggregateRef

T0 = datetime(2025, 3, 1, tzinfo=UTC)
TRANSFERS = [uuid7() for _ in range(3)]
GROUPS = {"g-dili-a": "dili", "g-dili-b": "dili", "g-yangon": "yangon-north"}
SITES = ("dili", "yangon-north")
transfer_ix = st.integers(0, len(TRANSFERS) - 1)
pick = st.integers(0, 10_000)
earmarks = st.dictionaries(
    st.sampled_from(TRANSFERS), st.sampled_from(["need-1", "need-2"]), max_size=len(TRANSFERS)
)
"""What a site knows of the transfers' kitchen needs: anything, since it may not know yet."""


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stores = {s: InMemoryEventStore(s) for s in ("hub", *SITES)}
        self.hub = CommandHandler(self.stores["hub"], transfers)
        self.sites = {s: CommandHandler(self.stores[s], accounts) for s in SITES}
        self.pledges: dict[str, tuple[str, str, int, str, datetime]] = {}
        self.lanes: dict[str, list[Envelope[EventPayload]]] = defaultdict(list)
        self.delivered: list[Envelope[EventPayload]] = []
        self.accepted: list[
            tuple[CommandHandler[Any, Any, Any], AggregateRef, Any, CommandMeta]
        ] = []
        self.confirmations: list[tuple[str, str, str]] = []
        self.site_seen = dict.fromkeys(SITES, 0)
        self.clock = T0
        self.ledger = sqlite3.connect(":memory:", isolation_level=None)
        self.ledger.row_factory = sqlite3.Row
        LedgerProjection().create(self.ledger)
        self.projected: set[str] = set()

    def teardown(self) -> None:
        self.loop.close()
        self.ledger.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _events(self) -> list[StoredEvent]:
        return [e for store in self.stores.values() for e in store.all_events()]

    def _meta(self, command_id: str | None = None, actor: str = "tester") -> CommandMeta:
        self.clock += timedelta(minutes=7)
        return CommandMeta(command_id or uuid7(), actor, self.clock)

    def _do(
        self,
        handler: CommandHandler[Any, Any, Any],
        ref: AggregateRef,
        command: Any,
        meta: CommandMeta,
    ) -> bool:
        before = len(self._events())
        try:
            self.loop.run_until_complete(handler.handle(ref, command, meta))
        except (Refused, EventConflict):
            assert len(self._events()) == before, "a refused command changed something"
            return False
        self.accepted.append((handler, ref, command, meta))
        self._collect_site_facts()
        return True

    def _collect_site_facts(self) -> None:
        for site in SITES:
            events = self.stores[site].all_events()
            for stored in events[self.site_seen[site] :]:
                note = site_fact_note(stored.envelope)
                if note is not None:
                    self.lanes[note[0].id].append(stored.envelope)
            self.site_seen[site] = len(events)

    def _transfer(self, i: int) -> tuple[str, AggregateRef] | None:
        tid = TRANSFERS[i]
        if tid not in self.pledges:
            return None
        return tid, transfer_ref(tid, self.pledges[tid][1])

    def _state(self, ref: AggregateRef) -> Transfer:
        state, _ = self.loop.run_until_complete(self.hub.state_of(ref))
        assert isinstance(state, Transfer)
        return state

    # --- the hub ------------------------------------------------------------------------------

    @rule(
        i=transfer_ix,
        group=st.sampled_from(sorted(GROUPS)),
        amount=st.integers(1, 10**6),
        currency=st.sampled_from(["GBP", "USD"]),
        hours=st.integers(1, 96),
    )
    def pledge(self, i: int, group: str, amount: int, currency: str, hours: int) -> None:
        tid = TRANSFERS[i]
        site = GROUPS[group]
        meta = self._meta(tid, "donor")
        command = Pledge(
            tid,
            "donor-1",
            group,
            site,
            None,
            amount,
            currency,
            meta.occurred_at + timedelta(hours=hours),
            meta.occurred_at,
        )
        if self._do(self.hub, transfer_ref(tid, site), command, meta):
            self.pledges.setdefault(tid, (group, site, amount, currency, command.expires_at))

    @rule(
        i=transfer_ix,
        group=st.sampled_from(sorted(GROUPS)),
        amount=st.integers(100, 10**6),
        rate=st.sampled_from(["4850.25", "1234.5678", "0.5"]),
    )
    def send_a_transfer(self, i: int, group: str, amount: int, rate: str) -> None:
        """Pledge, fund and dispatch in a row (each still decided on its own)."""
        self.pledge(i, group, amount, "GBP", 48)
        self.fund(i, exact=True, late=False)
        self.dispatch(i, fee_pct=1, to="MMK", rate=rate)

    @precondition(lambda self: bool(self.pledges))
    @rule(i=transfer_ix, exact=st.booleans(), late=st.booleans())
    def fund(self, i: int, exact: bool, late: bool) -> None:
        found = self._transfer(i)
        if found is None:
            return
        tid, ref = found
        _, _, amount, currency, deadline = self.pledges[tid]
        at = deadline + timedelta(hours=1) if late else deadline - timedelta(minutes=1)
        command = Fund(
            uuid7(), "manual", f"collector-{i % 2}", amount if exact else amount + 1, currency, at
        )
        self._do(self.hub, ref, command, self._meta(command.funding_id))

    @precondition(lambda self: bool(self.pledges))
    @rule(
        i=transfer_ix,
        fee_pct=st.one_of(st.integers(0, 5), st.integers(0, 100)),
        to=st.sampled_from(["MMK", "MMK", "USD"]),
        rate=st.sampled_from(["4850.25", "1234.5678", "0.5", "1", "2e3", "0"]),
    )
    def dispatch(self, i: int, fee_pct: int, to: str, rate: str) -> None:
        found = self._transfer(i)
        if found is None:
            return
        tid, ref = found
        fee = self.pledges[tid][2] * fee_pct // 100
        command = Dispatch(uuid7(), "agent", f"agent-{i % 3}", fee, rate, to, self.clock)
        self._do(self.hub, ref, command, self._meta(command.dispatch_id))

    @precondition(lambda self: bool(self.pledges))
    @rule(i=transfer_ix)
    def cancel(self, i: int) -> None:
        found = self._transfer(i)
        if found is not None:
            command = Cancel(uuid7(), "donor_request")
            self._do(self.hub, found[1], command, self._meta(command.cancellation_id))

    @precondition(lambda self: bool(self.pledges))
    @rule(i=transfer_ix, hours=st.integers(-5, 200))
    def expire(self, i: int, hours: int) -> None:
        found = self._transfer(i)
        if found is not None:
            deadline = self.pledges[found[0]][4]
            meta = CommandMeta(child_id(found[0], EXPIRY_INDEX), "timer", deadline)
            self._do(self.hub, found[1], Expire(deadline + timedelta(hours=hours)), meta)

    @precondition(lambda self: bool(self.pledges))
    @rule(i=transfer_ix, kind=st.sampled_from(["write_off", "agent_owes"]))
    def resolve(self, i: int, kind: str) -> None:
        found = self._transfer(i)
        if found is not None:
            command = Resolve(uuid7(), kind)  # type: ignore[arg-type]
            self._do(self.hub, found[1], command, self._meta(command.resolution_id))

    # --- the sites ----------------------------------------------------------------------------

    @precondition(lambda self: bool(self.pledges))
    @rule(
        i=transfer_ix,
        how=st.sampled_from(
            ["exact", "exact", "exact", "short", "excess", "other_currency", "other_group", "any"]
        ),
        additional=st.booleans(),
        amount=st.integers(1, 10**7),
    )
    def confirm(self, i: int, how: str, additional: bool, amount: int) -> None:
        found = self._transfer(i)
        if found is None:
            return
        tid, ref = found
        group, site = self.pledges[tid][0], self.pledges[tid][1]
        if how == "other_group" and site == "dili":  # a treasurer picks the wrong group
            group = "g-dili-b" if group == "g-dili-a" else "g-dili-a"
        sent = self._state(ref).sent
        currency = sent.currency if sent else "MMK"
        if sent is not None and how != "any":
            amount = {
                "exact": sent.delivered_minor,
                "short": max(1, sent.delivered_minor // 2),
                "excess": sent.delivered_minor + 1,
                "other_group": sent.delivered_minor,
                "other_currency": 5,
            }[how]
            currency = "GBP" if how == "other_currency" else currency
        meta = self._meta()
        command = ConfirmReceipt(
            group, meta.command_id, tid, amount, currency, meta.occurred_at, additional
        )
        if self._do(self.sites[site], account_ref(group, site), command, meta):
            self.confirmations.append((site, group, meta.command_id))

    @precondition(lambda self: bool(self.confirmations))
    @rule(n=pick, amount=st.integers(0, 10**7))
    def correct(self, n: int, amount: int) -> None:
        if not self.confirmations:
            return
        site, group, confirmation = self.confirmations[n % len(self.confirmations)]
        meta = self._meta()
        command = CorrectReceipt(group, meta.command_id, confirmation, amount, meta.occurred_at)
        self._do(self.sites[site], account_ref(group, site), command, meta)

    @rule(
        group=st.sampled_from(sorted(GROUPS)),
        share=st.integers(1, 120),
        currency=st.sampled_from(["MMK", "MMK", "USD"]),
        kitchen=st.booleans(),
        pin=st.one_of(st.none(), st.none(), transfer_ix),
        earmarks=earmarks,
    )
    def disburse(
        self,
        group: str,
        share: int,
        currency: str,
        kitchen: bool,
        pin: int | None,
        earmarks: dict[str, str],
    ) -> None:
        """Spend a share of what the group holds (up to 120%: sometimes more than it has), with
        whatever the site knows of the transfers' kitchen needs."""
        site = GROUPS[group]
        ref = account_ref(group, site)
        held = self.loop.run_until_complete(self.sites[site].state_of(ref))[0].balance(currency)
        meta = self._meta()
        command = Disburse(
            group,
            meta.command_id,
            max(1, held * share // 100),
            currency,
            "kitchen_need" if kitchen else "cash_assistance",
            "need-1" if kitchen else None,
            "book-1/1",
            meta.occurred_at,
            None if pin is None else TRANSFERS[pin],
            earmarks,
        )
        self._do(self.sites[site], ref, command, meta)

    @precondition(lambda self: bool(self.pledges))
    @rule(i=transfer_ix)
    def dispute(self, i: int) -> None:
        found = self._transfer(i)
        if found is None:
            return
        group, site = self.pledges[found[0]][0], self.pledges[found[0]][1]
        meta = self._meta()
        command = ReportDispute(
            group, meta.command_id, found[0], "less_than_sent", meta.occurred_at
        )
        self._do(self.sites[site], account_ref(group, site), command, meta)

    @precondition(lambda self: bool(self.pledges))
    @rule(i=transfer_ix)
    def dispute_by_another_group(self, i: int) -> None:
        """Another group of the transfer's site reports a dispute about it (a mistyped transfer
        id): the hub must not mark the transfer disputed (checked in ``_react``)."""
        found = self._transfer(i)
        if found is None:
            return
        group, site = self.pledges[found[0]][0], self.pledges[found[0]][1]
        others = [g for g, s in sorted(GROUPS.items()) if s == site and g != group]
        if not others:
            return
        meta = self._meta()
        command = ReportDispute(
            others[0], meta.command_id, found[0], "nothing_arrived", meta.occurred_at
        )
        self._do(self.sites[site], account_ref(others[0], site), command, meta)

    # --- the link, retries and mistakes -------------------------------------------------------

    @precondition(lambda self: any(self.lanes.values()))
    @rule(n=pick)
    def deliver(self, n: int) -> None:
        """The hub's reactor gets the next fact of some transfer: order across transfers is
        arbitrary, order within one transfer is the site's (one lane per transfer)."""
        lanes = sorted(tid for tid, lane in self.lanes.items() if lane)
        if not lanes:
            return
        envelope = self.lanes[lanes[n % len(lanes)]].pop(0)
        self._react(envelope)
        self.delivered.append(envelope)

    @precondition(lambda self: any(self.lanes.values()))
    @rule(order=st.lists(pick, min_size=1, max_size=30))
    def link_returns(self, order: list[int]) -> None:
        """A backlog crosses: many facts in an order interleaved across transfers."""
        for n in order:
            self.deliver(n)

    @precondition(lambda self: bool(self.delivered))
    @rule(n=pick)
    def redeliver(self, n: int) -> None:
        if self.delivered:
            before = len(self._events())
            self._react(self.delivered[n % len(self.delivered)])
            assert len(self._events()) == before, "a redelivered fact took effect twice"

    def _react(self, envelope: Envelope[EventPayload]) -> None:
        note = site_fact_note(envelope)
        assert note is not None
        ref, command = note
        before = len(self._events())
        with contextlib.suppress(Refused):
            self.loop.run_until_complete(
                self.hub.handle(ref, command, reaction_meta(envelope, "hub"))
            )
        if isinstance(command, NoteDispute) and command.group_id != self.pledges[ref.id][0]:
            assert len(self._events()) == before, "another group's dispute took effect"

    @precondition(lambda self: bool(self.accepted))
    @rule(n=pick, known=earmarks)
    def replay(self, n: int, known: dict[str, str]) -> None:
        """A client retries an accepted command with the same id and content: nothing new, though
        the site may know other earmarks by then (a hint, not the disbursement's content)."""
        if self.accepted:
            handler, ref, command, meta = self.accepted[n % len(self.accepted)]
            if isinstance(command, Disburse):
                command = dataclasses.replace(command, earmarks=known)
            before = len(self._events())
            self.loop.run_until_complete(handler.handle(ref, command, meta))  # never refused
            assert len(self._events()) == before, "a replayed command took effect twice"

    @precondition(lambda self: bool(self.accepted))
    @rule(n=pick)
    def reuse_id(self, n: int) -> None:
        """A client reuses an id for other content: refused, nothing changes."""
        if not self.accepted:
            return
        handler, ref, command, meta = self.accepted[n % len(self.accepted)]
        if not hasattr(command, "amount_minor"):
            return
        changed = dataclasses.replace(command, amount_minor=command.amount_minor + 1)
        before = len(self._events())
        with contextlib.suppress(Refused, EventConflict):
            self.loop.run_until_complete(handler.handle(ref, changed, meta))
        assert len(self._events()) == before, "an id reused for other content took effect"

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def every_currency_sums_to_zero(self) -> None:
        total: dict[str, int] = defaultdict(int)
        for stored in self._events():
            if isinstance(stored.envelope.payload, MoneyMoved):
                for leg in stored.envelope.payload.postings:
                    total[leg.currency] += leg.amount_minor
        assert all(v == 0 for v in total.values()), dict(total)

    @invariant()
    def no_account_breaks_its_rule(self) -> None:
        for (account, currency), balance in self._balances().items():
            kind = postings.kind_of(account)
            if kind in postings.NEVER_NEGATIVE:
                assert balance >= 0, (account, currency, balance)
            if kind in postings.NEVER_POSITIVE:
                assert balance <= 0, (account, currency, balance)

    @invariant()
    def each_transfer_has_at_most_one_outcome(self) -> None:
        statuses: dict[str, list[str]] = defaultdict(list)
        for stored in self.stores["hub"].all_events():
            status = getattr(stored.envelope.payload, "status", None)
            if status is not None:
                statuses[stored.envelope.aggregate_id].append(status)
        for tid, seen in statuses.items():
            reached = [i for i, s in enumerate(seen) if s in OUTCOMES]
            if reached:
                first = seen[reached[0]]
                assert all(s == first for s in seen[reached[0] :]), (tid, seen)

    @invariant()
    def nothing_is_in_transit_for_a_received_transfer(self) -> None:
        """Facts still on their way to the hub are not stuck, only not heard of yet: checked for the
        transfers whose site facts have all been delivered."""
        balances = self._balances()
        for tid, (_, site, *_) in self.pledges.items():
            if self.lanes.get(tid) or self._state(transfer_ref(tid, site)).status != "received":
                continue
            transit = postings.account(postings.TRANSIT, tid)
            stuck = {c: a for (account, c), a in balances.items() if account == transit and a}
            assert not stuck, (tid, stuck)

    @invariant()
    def the_ledger_read_model_agrees(self) -> None:
        projection = LedgerProjection()
        self.ledger.execute("BEGIN")
        for stored in sorted(self._events(), key=lambda s: (s.envelope.site, s.seq)):
            if stored.envelope.event_id not in self.projected:
                projection.apply(self.ledger, stored.envelope, stored.seq)
                self.projected.add(stored.envelope.event_id)
        self.ledger.execute("COMMIT")
        check = reports.ledger_check(self.ledger)
        assert check["balanced"], check
        model = {
            (r["account"], r["currency"]): r["balance"]
            for r in self.ledger.execute("SELECT * FROM remit_balances")
            if r["balance"]
        }
        assert model == {k: v for k, v in self._balances().items() if v}

    @invariant()
    def a_groups_account_holds_what_its_ledger_says(self) -> None:
        balances = self._balances()
        for group, site in GROUPS.items():
            state, _ = self.loop.run_until_complete(
                self.sites[site].state_of(account_ref(group, site))
            )
            for currency, amount in state.balances.items():
                assert (
                    balances.get((postings.account(postings.GROUP, group), currency), 0) == amount
                )

    def _balances(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = defaultdict(int)
        for stored in self._events():
            if isinstance(stored.envelope.payload, MoneyMoved):
                for leg in stored.envelope.payload.postings:
                    out[(leg.account, leg.currency)] += leg.amount_minor
        return dict(out)


LedgerMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerInvariants = LedgerMachine.TestCase
