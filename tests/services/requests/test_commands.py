"""The service against real nats-servers: the claim race, retries, the limit, the lifecycle, merges,
kitchens, and the timer's expiries, alerts and reconciliation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from services.requests import inputs
from services.requests.events import registry
from services.requests.handlers import CONTACT, Handlers
from services.requests.request import EndedClaim
from services.requests.timers import SiteTimer
from services.requests.volunteer import TakeClaim
from shared.commands import meta
from shared.decider import Refused
from shared.endpoints import REUSED_ID
from shared.eventstore import EventStore
from shared.ids import child_id, uuid7
from shared.sites import Sites
from tests.services.requests.harness import (
    Running,
    as_volunteer,
    ask,
    command,
    ok,
    refused,
    register,
    service_at,
    set_up_site,
    until_listed,
)
from tests.sitekit import read_stream, running_sites, wait_until

SITE = "dili"


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sites]:
    async with running_sites(
        tmp_path_factory.mktemp("requests"), sites=(SITE,), contexts=("requests",)
    ) as sites:
        yield sites


@pytest.fixture(scope="module")
async def running(net: Sites, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    async with service_at(net, SITE, tmp_path_factory.mktemp("var")) as svc:
        await set_up_site(net.nc(SITE), SITE, max_claims=2)
        yield svc


async def create(net: Sites, area: str = "w1-a", **fields: object) -> str:
    body = {"category": "food", "urgency": "urgent", "area_id": area, "household_size": 3}
    result = await ok(net.nc(SITE), SITE, "create_request", command(**(body | fields)))
    return str(result["request_id"])


async def types_of(net: Sites, kind: str, aggregate_id: str) -> list[str]:
    subject = f"ev.requests.{SITE}.hub.{kind}.{aggregate_id}"
    messages = await read_stream(net.nc(SITE), "REQUESTS_DILI", subject)
    return [json.loads(data)["type"] for _, _, data in messages]


async def test_two_volunteers_claim_the_same_request_at_once_exactly_one_wins(
    net: Sites, running: Running
) -> None:
    """One claim through the service's NATS endpoint, the other at the same moment through a
    second, independent handler stack on its own connection (another process): the store decides,
    and the losing claim gives its place on the volunteer back."""
    nc = net.nc(SITE)
    for volunteer in ("race-a", "race-b"):
        await ok(
            nc,
            SITE,
            "register_volunteer",
            command(volunteer_id=volunteer, area_id="w1-a", skills=["food"], max_claims=20),
        )
    other_nc = await nats.connect(net.runtimes[SITE].server.url)
    other = Handlers(EventStore(other_nc, registry, SITE), SITE, vault=None)
    requests = [await create(net) for _ in range(8)]

    async def elsewhere(request_id: str) -> Exception | None:
        claim = inputs.ClaimRequest(**as_volunteer("race-b", request_id=request_id))
        try:
            await other.claim_request(claim)
        except Refused as refusal:
            return refusal
        return None

    try:
        outcomes = [
            await asyncio.gather(
                ask(nc, SITE, "claim_request", as_volunteer("race-a", request_id=r)),
                elsewhere(r),
            )
            for r in requests
        ]
    finally:
        await other_nc.close()
    wins = {"race-a": 0, "race-b": 0}
    for request_id, (here, there) in zip(requests, outcomes, strict=True):
        assert here.ok != (there is None), "exactly one claim wins"
        loser = here.error.message if here.error else str(there)
        assert "is already claimed by race-" in loser
        wins["race-a" if here.ok else "race-b"] += 1
        assert (await types_of(net, "request", request_id)).count("RequestClaimed") == 1
    fresh = Handlers(EventStore(net.nc(SITE), registry, SITE), SITE, vault=None)
    for volunteer, won in wins.items():
        state = await fresh.volunteer_state(volunteer)
        assert len(state.active) == won, "a lost claim gives its place back"


async def paged(nc: NATS, operation: str, where: dict[str, Any], count: int) -> None:
    """Every row once, in the order of the whole list, read two at a time; each page says whether
    there is more."""
    everything = await until_listed(nc, SITE, operation, where, count)
    pages: list[dict[str, Any]] = []
    for offset in range(0, len(everything) + 2, 2):
        page = await ok(nc, SITE, operation, where | {"limit": 2, "offset": offset})
        pages += page["items"]
        last = offset + 2 >= len(everything)
        assert page["next_offset"] == (None if last else offset + 2), "says whether there is more"
    assert pages == everything


async def test_requests_page_through_every_row_once(net: Sites, running: Running) -> None:
    """Pages (``limit`` and ``offset``) in a total order: every request once, however many were
    opened in the same millisecond."""
    for _ in range(5):
        await create(net, "w1-b", category="care")
    await paged(net.nc(SITE), "list_requests", {"area_id": "w1-b", "category": "care"}, 5)


async def test_volunteers_page_through_every_row_once(net: Sites, running: Running) -> None:
    """The volunteer list pages too (it stopped at its limit: a site's 201st volunteer could not
    be seen), in a total order when loads are equal."""
    nc = net.nc(SITE)
    for i in range(5):
        await register(nc, SITE, f"pager-{i}", area="w2-b")
    await paged(nc, "list_volunteers", {"area_id": "w2-b"}, 5)


async def test_a_retried_create_with_the_same_client_id_makes_one_request(
    net: Sites, running: Running
) -> None:
    nc = net.nc(SITE)
    body = command(category="medicine", urgency="normal", area_id="w2-b", name="Ana Belo")
    first, *again = await asyncio.gather(*(ask(nc, SITE, "create_request", body) for _ in range(3)))
    assert first.ok
    assert all(r.ok and r.result == first.result for r in again)
    request_id = first.result["request_id"]
    later = await ok(nc, SITE, "create_request", body)  # a retry long after
    assert later["request_id"] == request_id
    assert await types_of(net, "request", request_id) == ["RequestOpened"]
    rows = await until_listed(nc, SITE, "list_requests", {"area_id": "w2-b"}, 1)
    assert [r["request_id"] for r in rows].count(request_id) == 1


async def test_a_retry_the_process_does_not_remember_keeps_one_request_and_forgets_stay_forgotten(
    net: Sites, running: Running
) -> None:
    """The create decides without reading the (new) aggregate; a retry after a restart is found by
    the append, never overwrites the contact, and never brings back a forgotten one."""
    nc = net.nc(SITE)
    body = command(category="food", urgency="normal", area_id="w2-b", name="Ina Soares")
    request_id = (await ok(nc, SITE, "create_request", body))["request_id"]
    vault = running.handlers._vault
    assert vault is not None

    def restarted() -> Handlers:  # a new process: nothing cached
        return Handlers(EventStore(nc, registry, SITE), SITE, vault)

    again = await restarted().create_request(inputs.CreateRequest.model_validate(body))
    assert again["request_id"] == request_id
    for change in ({"name": "Someone Else"}, {"category": "shelter"}):
        other = inputs.CreateRequest.model_validate(body | change)  # the same id, other content
        with pytest.raises(Refused) as refusal:
            await restarted().create_request(other)
        assert (refusal.value.code, refusal.value.message) == ("conflict", REUSED_ID)
    contact = await ok(nc, SITE, "read_contact", {"request_id": request_id, **_coordinator()})
    assert "Ina Soares" in json.dumps(contact)
    await ok(nc, SITE, "forget_contact", command(request_id=request_id))
    retried = await restarted().create_request(inputs.CreateRequest.model_validate(body))
    assert retried["request_id"] == request_id
    error = await refused(nc, SITE, "read_contact", {"request_id": request_id, **_coordinator()})
    assert error.code in ("forgotten", "no_contact")
    assert await vault.get(child_id(body["command_id"], CONTACT)) is None  # not written back
    assert await types_of(net, "request", request_id) == ["RequestOpened", "ContactForgotten"]


async def test_a_volunteer_update_keeps_what_it_leaves_out(net: Sites, running: Running) -> None:
    """An update without ``max_claims`` put the volunteer back on the site's default (2 here)."""
    nc = net.nc(SITE)
    await ok(
        nc,
        SITE,
        "register_volunteer",
        command(volunteer_id="own-limit", area_id="w1-a", skills=["food"], max_claims=5),
    )
    moved = await ok(
        nc, SITE, "update_volunteer", command(volunteer_id="own-limit", area_id="w2-b")
    )
    assert (moved["area_id"], moved["skills"], moved["limit"]) == ("w2-b", ["food"], 5)
    skilled = await ok(
        nc, SITE, "update_volunteer", command(volunteer_id="own-limit", skills=["care"])
    )
    assert (skilled["area_id"], skilled["skills"], skilled["limit"]) == ("w2-b", ["care"], 5)
    reset = await ok(
        nc, SITE, "update_volunteer", command(volunteer_id="own-limit", max_claims="site_default")
    )
    assert reset["limit"] == 2
    error = await refused(nc, SITE, "update_volunteer", command(volunteer_id="own-limit"))
    assert error.code == "invalid"
    assert "area_id, skills or max_claims" in error.details[0]["problem"]


async def test_a_command_id_reused_for_another_intake_is_refused_and_changes_nothing(
    net: Sites, running: Running
) -> None:
    """``requests create --category food --area w1 --command-id X`` and then ``--category medicine
    --urgency critical --area w1-a --command-id X`` both answered ok with the food request: the
    critical one was silently dropped. Refused now, whether this process remembers the first or
    not, and the first request's contact is neither overwritten nor shredded."""
    nc = net.nc(SITE)
    cid = uuid7()
    first = {"command_id": cid, **_coordinator(), "category": "food", "area_id": "w1"}
    first |= {"name": "Lia Pereira", "phone": "+670 7711 2233"}
    request_id = (await ok(nc, SITE, "create_request", first))["request_id"]
    assert await ok(nc, SITE, "create_request", first) == await ok(
        nc, SITE, "create_request", first
    )
    others = [
        first | {"category": "medicine", "urgency": "critical", "area_id": "w1-a"},
        first | {"household_size": 4},
        first | {"phone": "+670 7799 0000"},  # the same facts for another person
        {k: v for k, v in first.items() if k not in ("name", "phone")},  # nobody to call back
    ]
    for other in others:
        error = await refused(nc, SITE, "create_request", other)
        assert (error.code, error.message) == ("conflict", REUSED_ID), other
        assert "Lia" not in error.message
        restarted = Handlers(EventStore(nc, registry, SITE), SITE, running.handlers._vault)
        with pytest.raises(Refused) as refusal:  # a process that does not remember the first
            await restarted.create_request(inputs.CreateRequest.model_validate(other))
        assert (refusal.value.code, refusal.value.message) == ("conflict", REUSED_ID)
    assert await types_of(net, "request", request_id) == ["RequestOpened"]
    shown = await ok(nc, SITE, "read_contact", {"request_id": request_id, **_coordinator()})
    assert shown["contact"] == {"name": "Lia Pereira", "phone": "+670 7711 2233"}
    (listed,) = [
        r
        for r in await until_listed(nc, SITE, "list_requests", {"area_id": "w1"}, 1)
        if r["request_id"] == request_id
    ]
    assert (listed["category"], listed["urgency"]) == ("food", "normal")


async def test_a_reused_id_that_would_add_a_contact_leaves_none_behind(
    net: Sites, running: Running
) -> None:
    """The first intake named nobody; a reuse of its id with a name could write the vault entry
    before the store refused it: nothing may stay there, in a process that remembers the first or
    in one that does not."""
    nc = net.nc(SITE)
    vault = running.handlers._vault
    assert vault is not None
    body = command(category="food", area_id="w2-a")
    await ok(nc, SITE, "create_request", body)
    named = body | {"name": "Rui Soares"}
    error = await refused(nc, SITE, "create_request", named)
    assert (error.code, error.message) == ("conflict", REUSED_ID)
    restarted = Handlers(EventStore(nc, registry, SITE), SITE, vault)
    with pytest.raises(Refused):
        await restarted.create_request(inputs.CreateRequest.model_validate(named))
    assert await vault.get(child_id(body["command_id"], CONTACT)) is None


async def test_a_command_id_reused_for_a_kitchen_or_a_claim_says_so_in_words(
    net: Sites, running: Running
) -> None:
    """Reusing an id across commands answered ``event id 01a2... already used for a different event
    elsewhere in the stream``: the store's words, not a coordinator's."""
    nc = net.nc(SITE)
    reused = command(category="care", area_id="w2-a")
    await ok(nc, SITE, "create_request", reused)
    kitchen = reused | {"kitchen_id": "k-reused", "name": "K", "area_id": "w2-a", "capacity": 9}
    del kitchen["category"]
    error = await refused(nc, SITE, "open_kitchen", kitchen)
    assert (error.code, error.message) == ("conflict", REUSED_ID)
    await register(nc, SITE, "twice-tia", "w2-a")
    one, two = await create(net, "w2-a"), await create(net, "w2-a")
    claim = as_volunteer("twice-tia", request_id=one)
    await ok(nc, SITE, "claim_request", claim)
    error = await refused(nc, SITE, "claim_request", claim | {"request_id": two})
    assert (error.code, error.message) == ("conflict", REUSED_ID)
    assert "RequestClaimed" not in await types_of(net, "request", two)
    held = await running.handlers.volunteer_state("twice-tia")
    assert list(held.active.values()) == [one], "the first claim keeps its place"


async def test_a_volunteer_at_the_limit_is_refused(net: Sites, running: Running) -> None:
    nc = net.nc(SITE)
    await register(nc, SITE, "busy-bee")
    held = [await create(net) for _ in range(3)]
    for request_id in held[:2]:
        await ok(nc, SITE, "claim_request", as_volunteer("busy-bee", request_id=request_id))
    error = await refused(nc, SITE, "claim_request", as_volunteer("busy-bee", request_id=held[2]))
    assert error.code == "at_limit"
    assert (
        error.message == "busy-bee is at the limit of 2 active claims; finish or release one first"
    )
    assert "RequestClaimed" not in await types_of(net, "request", held[2])
    await ok(nc, SITE, "fulfil_request", as_volunteer("busy-bee", request_id=held[0]))
    await ok(nc, SITE, "claim_request", as_volunteer("busy-bee", request_id=held[2]))
    assert len((await running.handlers.volunteer_state("busy-bee")).active) == 2


async def test_a_request_goes_through_its_lifecycle_and_the_contact_is_guarded(
    net: Sites, running: Running
) -> None:
    nc = net.nc(SITE)
    await register(nc, SITE, "mya", "w2-a")
    await register(nc, SITE, "tun", "w1-b")
    rid = await create(net, "w2-a", name="Daw Khin", phone="+95 9 7312 4455", need="insulin")
    match = await ok(nc, SITE, "match_request", {"request_id": rid})
    assert match["suggestions"][0]["volunteer_id"] == "mya"
    assert match["suggestions"][0]["proximity"] == "street"
    error = await refused(
        nc, SITE, "read_contact", {"request_id": rid, "actor": "mya", "role": "volunteer"}
    )
    assert error.code == "not_allowed"
    await ok(nc, SITE, "claim_request", as_volunteer("mya", request_id=rid))
    contact = await ok(
        nc, SITE, "read_contact", {"request_id": rid, "actor": "mya", "role": "volunteer"}
    )
    assert contact["contact"] == {"name": "Daw Khin", "phone": "+95 9 7312 4455", "need": "insulin"}
    error = await refused(
        nc, SITE, "read_contact", {"request_id": rid, "actor": "tun", "role": "volunteer"}
    )
    assert error.code == "not_allowed"
    error = await refused(
        nc, SITE, "read_contact", {"request_id": rid, "actor": "tun", "role": "coordinator"}
    )
    assert error.code == "not_coordinator"
    await ok(nc, SITE, "start_request", as_volunteer("mya", request_id=rid))
    error = await refused(nc, SITE, "fulfil_request", as_volunteer("tun", request_id=rid))
    assert error.code == "not_allowed"
    signposted = await ok(
        nc, SITE, "signpost_request", as_volunteer("mya", request_id=rid, entry_id="clinic-1")
    )
    assert signposted["status"] == "signposted"
    assert await types_of(net, "request", rid) == [
        "RequestOpened",
        "RequestClaimed",
        "RequestStarted",
        "RequestSignposted",
    ]
    assert not (await running.handlers.volunteer_state("mya")).active
    error = await refused(
        nc, SITE, "read_contact", {"request_id": rid, "actor": "mya", "role": "volunteer"}
    )
    assert error.code == "not_allowed", "the claim ended with the referral"
    directory = await until_listed(nc, SITE, "list_directory", {}, 1)
    assert directory[0]["entry_id"] == "clinic-1"

    async def referred() -> bool:
        rows = await ok(nc, SITE, "list_directory", {})
        return bool(rows[0]["referrals"] >= 1)

    await wait_until(referred, timeout=30)


async def test_a_duplicate_intake_is_merged_and_forgetting_forgets_both(
    net: Sites, running: Running
) -> None:
    nc = net.nc(SITE)
    by_phone = await create(net, "w1-b", name="U Aung", phone="+95 9 111 222")
    by_neighbour = await create(net, "w1-b", need="U Aung on street b needs rice")
    merged = await ok(
        nc, SITE, "merge_requests", command(duplicate_id=by_neighbour, survivor_id=by_phone)
    )
    assert merged["duplicate"]["status"] == "merged"
    contact = await ok(nc, SITE, "read_contact", {"request_id": by_phone, **_coordinator()})
    assert contact["duplicates"] == [{"need": "U Aung on street b needs rice"}]
    error = await refused(
        nc, SITE, "claim_request", command(request_id=by_neighbour, volunteer_id="mya")
    )
    assert by_phone in error.message
    forgotten = await ok(nc, SITE, "forget_contact", command(request_id=by_neighbour))
    assert forgotten["forgotten_entries"] == 2
    for request_id in (by_phone, by_neighbour):  # the survivor too, not "no contact recorded"
        error = await refused(
            nc, SITE, "read_contact", {"request_id": request_id, **_coordinator()}
        )
        assert error.code == "forgotten", request_id


async def test_forgetting_follows_a_chain_of_merges_to_every_intake(
    net: Sites, running: Running
) -> None:
    """C was merged into B, then B into A: one person, three intakes. Forgetting from any of them
    shreds all three (A used to know only B's contact, and C's name stayed in the vault)."""
    nc = net.nc(SITE)
    vault = running.handlers.vault
    for start in range(3):
        a, b, c = [await create(net, "w1-b", name=f"Daw Khin {n}") for n in "abc"]
        await ok(nc, SITE, "merge_requests", command(duplicate_id=c, survivor_id=b))
        await ok(nc, SITE, "merge_requests", command(duplicate_id=b, survivor_id=a))
        forgotten = await ok(nc, SITE, "forget_contact", command(request_id=(a, b, c)[start]))
        assert forgotten["forgotten_entries"] == 3
        for request_id in (a, b, c):
            assert await vault.get(child_id(request_id, CONTACT)) is None, (start, request_id)


def _coordinator() -> dict[str, str]:
    return {"actor": "coord-aye", "role": "coordinator"}


async def test_a_kitchen_posts_needs_and_serves_meals_on_the_contract_subject(
    net: Sites, running: Running
) -> None:
    nc = net.nc(SITE)
    await register(nc, SITE, "cook", "w2-b")
    await ok(
        nc,
        SITE,
        "open_kitchen",
        command(
            kitchen_id="k-w2", name="Ward 2 kitchen", area_id="w2-b", capacity=300, leads=["cook"]
        ),
    )
    # an update that names only the capacity keeps the leads (it removed them all)
    updated = await ok(nc, SITE, "update_kitchen", command(kitchen_id="k-w2", capacity=320))
    assert (updated["capacity_meals_per_day"], updated["leads"]) == (320, ["cook"])
    lead = {"actor": "cook", "role": "volunteer", "kitchen_id": "k-w2"}
    await ok(
        nc,
        SITE,
        "receive_stock",
        {"command_id": uuid7(), **lead, "item": "rice", "quantity": "120.5", "unit": "kg"},
    )
    await ok(
        nc,
        SITE,
        "use_stock",
        {"command_id": uuid7(), **lead, "item": "rice", "quantity": 20, "unit": "kg"},
    )
    error = await refused(
        nc,
        SITE,
        "use_stock",
        {"command_id": uuid7(), **lead, "item": "rice", "quantity": 500, "unit": "kg"},
    )
    assert error.message == "only 100.5 kg of rice in stock; record what came in first"
    today = datetime.now(UTC).date().isoformat()
    await ok(nc, SITE, "plan_meals", {"command_id": uuid7(), **lead, "day": today, "meals": 280})
    await ok(nc, SITE, "serve_meals", {"command_id": uuid7(), **lead, "day": today, "meals": 150})
    await ok(nc, SITE, "serve_meals", {"command_id": uuid7(), **lead, "day": today, "meals": 120})
    posted = await ok(
        nc,
        SITE,
        "post_need",
        {
            "command_id": uuid7(),
            **lead,
            "need_id": "n-rice",
            "item": "rice",
            "quantity": 200,
            "unit": "kg",
            "estimated_cost_minor": 300000,
            "currency": "MMK",
        },
    )
    # the reply says what was posted, the price as entered first (it showed only the need's id)
    assert posted["need"] == {
        "need_id": "n-rice",
        "item": "rice",
        "quantity": 200,
        "unit": "kg",
        "estimated_cost": {"amount": "3000.00", "currency": "MMK"},
        "estimated_cost_minor": 300000,
        "currency": "MMK",
    }
    assert list(posted["need"]).index("estimated_cost") == 4
    assert await types_of(net, "kitchen", "k-w2") == [
        "KitchenOpened",
        "KitchenUpdated",
        "StockReceived",
        "StockUsed",
        "MealsPlanned",
        "MealsServed",
        "MealsServed",
        "KitchenNeedPosted",
    ]

    async def dashboard_ready() -> bool:
        rows = await ok(nc, SITE, "kitchen_dashboard", {"kitchen_id": "k-w2"})
        return bool(rows and rows[0]["open_needs"])

    await wait_until(dashboard_ready, timeout=30)
    (board,) = await ok(nc, SITE, "kitchen_dashboard", {"kitchen_id": "k-w2"})
    assert (board["leads"], board["capacity_meals_per_day"]) == (["cook"], 320)
    assert board["stock"] == {"rice": "100.5 kg"}
    assert board["meals"] == [{"day": today, "planned": 280, "served": 270}]
    assert board["open_needs"][0]["estimated_cost_minor"] == 300000
    assert board["open_needs"][0]["estimated_cost"] == {"amount": "3000.00", "currency": "MMK"}
    await ok(nc, SITE, "meet_need", command(kitchen_id="k-w2", need_id="n-rice", how="funded"))
    error = await refused(
        nc, SITE, "meet_need", command(kitchen_id="k-w2", need_id="n-rice", how="funded")
    )
    assert error.code == "already_met"


async def test_a_chosen_need_id_is_the_sites_and_needs_stay_their_kitchens(
    net: Sites, running: Running
) -> None:
    """Donors name a need by its site and id, so a second kitchen choosing an id in use is refused;
    and the read models keep needs by kitchen and id (they kept them by id alone: a second
    kitchen's need replaced the first's, and meeting one met the other)."""
    nc = net.nc(SITE)
    need = {"item": "rice", "quantity": 50, "unit": "kg", "currency": "MMK"}
    for kitchen in ("k-same-1", "k-same-2"):
        await ok(
            nc,
            SITE,
            "open_kitchen",
            command(kitchen_id=kitchen, name=kitchen, area_id="w1-a", capacity=100),
        )
        await ok(
            nc,
            SITE,
            "post_need",
            command(
                kitchen_id=kitchen, need_id=f"rice-{kitchen}", estimated_cost_minor=7500, **need
            ),
        )
    await ok(
        nc, SITE, "meet_need", command(kitchen_id="k-same-2", need_id="rice-k-same-2", how="funded")
    )

    # a third kitchen, opened last: once the dashboard lists it, it has folded everything before
    await ok(
        nc,
        SITE,
        "open_kitchen",
        command(kitchen_id="k-same-3", name="k3", area_id="w1-a", capacity=1),
    )

    async def folded() -> bool:
        return bool(await ok(nc, SITE, "kitchen_dashboard", {"kitchen_id": "k-same-3"}))

    await wait_until(folded, timeout=30)
    taken = await refused(
        nc,
        SITE,
        "post_need",
        command(kitchen_id="k-same-2", need_id="rice-k-same-1", estimated_cost_minor=1, **need),
    )
    assert taken.code == "need_id_taken" and "k-same-1" in taken.message
    boards = await ok(nc, SITE, "kitchen_dashboard", {})
    open_needs = {b["kitchen_id"]: len(b["open_needs"]) for b in boards}
    assert (open_needs["k-same-1"], open_needs["k-same-2"]) == (1, 0)
    (summary,) = await ok(nc, SITE, "site_summary", {"site": SITE})
    assert summary["open_needs"] == sum(open_needs.values())


async def test_the_timer_expires_claims_alerts_once_and_gives_places_back(
    net: Sites, running: Running
) -> None:
    nc = net.nc(SITE)
    await register(nc, SITE, "late-lin", "w2-a")
    claimed = await create(net, "w2-a")
    waiting = await create(net, "w2-a")
    await ok(nc, SITE, "claim_request", as_volunteer("late-lin", request_id=claimed))
    # A place taken by a claim that never reached the request (a crash between the two steps).
    base = meta(uuid7(), "late-lin")
    lost = EndedClaim(base.command_id, "late-lin", "lost")
    await running.handlers.volunteers.handle(
        running.handlers.ref("volunteer", "late-lin"),
        TakeClaim(lost.claim_id, waiting, 2),
        base,
    )
    reads = running.wiring.reads

    async def seen() -> bool:
        rows = (await ok(nc, SITE, "list_volunteers", {"area_id": "w2-a"}))["items"]
        lin = next((r for r in rows if r["volunteer_id"] == "late-lin"), None)
        return lin is not None and lin["active"] == 2

    await wait_until(seen, timeout=30)
    later = datetime.now(UTC) + timedelta(minutes=90)
    timers = [SiteTimer(running.handlers, reads.connect) for _ in range(2)]
    first, second = await asyncio.gather(*(t.tick(later) for t in timers))
    assert first.reconciled + second.reconciled == 1
    assert "ClaimExpired" in await types_of(net, "request", claimed)
    alerts = (await types_of(net, "request", waiting)).count("UrgentRequestUnclaimed")
    assert alerts == 1
    await asyncio.sleep(1)  # let the read model catch up, then tick again: nothing doubles
    await timers[0].tick(later)
    assert (await types_of(net, "request", waiting)).count("UrgentRequestUnclaimed") == 1
    assert (await types_of(net, "request", claimed)).count("ClaimExpired") == 1
    state = await running.handlers.volunteer_state("late-lin")
    assert not state.active, "the expired claim and the lost one both gave their places back"


async def test_the_read_models_rebuild_from_zero_to_the_same_tables(
    net: Sites, running: Running
) -> None:
    runners = running.service.projections
    assert len(runners) == 1

    async def snapshot() -> dict[str, list[tuple[object, ...]]]:
        for runner in runners:
            await runner.run_until_caught_up(timeout=60)
        db = running.wiring.reads.connect()
        try:
            tables = [
                r[0]
                for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith("aidmesh_")
            ]
            return {
                t: sorted((tuple(r) for r in db.execute(f"SELECT * FROM {t}")), key=repr)
                for t in tables
            }
        finally:
            db.close()

    before = await snapshot()
    assert sum(len(rows) for rows in before.values()) > 50
    for runner in runners:
        await runner.rebuild()
    assert await snapshot() == before
