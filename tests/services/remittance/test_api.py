"""The HTTP APIs against a real nats-server: OpenAPI, the donor page, donors kept in the vault, the
hub's flow over HTTP, replays and conflicts, and every bad amount refused with its own clear error
and nothing posted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS

from services.remittance import postings
from services.remittance.__main__ import prepare
from services.remittance.api import hub_app, site_app
from services.remittance.donations import Donations
from services.remittance.donors import DonorBook
from services.remittance.events import ReceiptConfirmed, TransferDisputed, registry
from services.remittance.expiry import ExpiryTimer
from services.remittance.handlers import Handlers, account_ref, transfer_ref
from services.remittance.projections import (
    FlowsProjection,
    KitchenProjection,
    LedgerProjection,
    kitchen_registry,
)
from services.remittance.rails import ManualRail, SandboxRail
from services.remittance.schemas import PledgeRequest
from services.remittance.subscribers import plan_site_fact, serve_hub
from services.remittance.treasury import Treasury
from shared.endpoints import Endpoints, Reply, answer
from shared.envelope import make_envelope
from shared.ids import derived_id, uuid7
from shared.natsserver import NatsServer
from shared.projector import ProjectionRunner
from shared.reactor import reaction_meta
from shared.streams import SourceSpec, dead_letter_stream, ensure_stream, event_stream
from shared.subjects import events_for_site, owned_subjects
from shared.vault import Vault, master_key
from tests.conftest import start_server
from tests.httpkit import errors_documented_as_replies
from tests.services.remittance.kit import Kitchen
from tests.sitekit import read_stream, wait_until

GROUP = "kitchen-collective-dili"


@dataclass
class World:
    nc: NATS
    hub: httpx.AsyncClient
    site: httpx.AsyncClient
    runners: list[ProjectionRunner]
    sandbox: SandboxRail
    vault: Vault
    donations: Donations
    donors: DonorBook
    at_site: Handlers

    async def settled(self) -> None:
        for runner in self.runners:
            await runner.run_until_caught_up(timeout=60)

    async def stored(self, stream: str = "REMIT_HUB") -> list[bytes]:
        return [data for _, _, data in await read_stream(self.nc, stream)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    srv = start_server(tmp_path_factory.mktemp("remit-api"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
async def world(
    server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("remit-api-db")
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await ensure_stream(js, event_stream("remit", "hub"))
    from_hub = tuple(SourceSpec("REMIT_HUB", f) for f in events_for_site("remit", "dili"))
    await ensure_stream(js, event_stream("remit", "dili", sources=from_hub))  # one server: local
    # and the hub sources the site, as the topology links it (a group can be registered there)
    # a second field site, with no service of its own here: a group can be registered there
    await ensure_stream(js, event_stream("remit", "baucau"))
    from_sites = tuple(
        SourceSpec(f"REMIT_{site.upper()}", owned_subjects("remit", site))
        for site in ("dili", "baucau")
    )
    await ensure_stream(js, event_stream("remit", "hub", sources=from_sites))
    await ensure_stream(js, dead_letter_stream("hub"))
    await ensure_stream(js, dead_letter_stream("dili"))
    runners = []
    parts = {}
    for site in ("hub", "dili"):
        db = tmp / f"{site}.db"
        prepare(db)
        parts[site] = Handlers(nc, site, db)
        for projection in (LedgerProjection(), FlowsProjection()):
            runner = ProjectionRunner(
                nc, projection, registry, db_path=db, stream=f"REMIT_{site.upper()}", site=site
            )
            await runner.start()
            runners.append(runner)
    donations = Donations(parts["hub"])
    sandbox = SandboxRail(
        notify=donations.fund_from_rail, seed=7, max_delay_s=0.3, duplicate_rate=1.0
    )
    donations.rails = {"manual": ManualRail(), "sandbox": sandbox}
    vault = await Vault(nc, "hub", "donors", master_key(tmp / "master"), tmp / "keys.db").open()
    donors = DonorBook(vault, master_key(tmp / "donor-refs.key"))
    apps = (
        hub_app(parts["hub"], donations, donors),
        site_app(parts["dili"], Treasury(parts["dili"])),
    )
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://remit")
        for app in apps
    ]
    yield World(
        nc, clients[0], clients[1], runners, sandbox, vault, donations, donors, parts["dili"]
    )
    await sandbox.close()
    for client in clients:
        await client.aclose()
    for runner in runners:
        await runner.stop()
    vault.close()
    await nc.drain()


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body)


async def ok(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await post(client, path, body)
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def group(world: World) -> None:
    await ok(
        world.hub,
        "/v1/groups",
        {"registration_id": uuid7(), "group_id": GROUP, "site": "dili", "label": "Dili kitchens"},
    )


def pledge_body(**kw: Any) -> dict[str, Any]:
    return {
        "transfer_id": uuid7(),
        "donor_ref": "donor-ana",
        "group_id": GROUP,
        "amount": "50.00",
        "currency": "USD",
    } | kw


async def test_the_openapi_document_lists_the_donor_and_collector_endpoints(world: World) -> None:
    paths = (await world.hub.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/pledges",
        "/v1/fundings",
        "/v1/dispatches",
        "/v1/transfers/{transfer_id}",
        "/v1/donors/{donor_ref}/report",
        "/v1/groups/{group_id}/report",
    ):
        assert path in paths
    site_paths = (await world.site.get("/openapi.json")).json()["paths"]
    assert {"/v1/receipts", "/v1/disbursements", "/v1/disputes"} <= set(site_paths)


async def test_the_donor_page_is_served(world: World) -> None:
    page = await world.hub.get("/")
    assert page.status_code == 200
    assert "What my money did" in page.text
    assert "textContent" in page.text and "innerHTML" not in page.text


async def test_a_donors_contact_stays_in_the_vault_and_events_know_only_the_reference(
    world: World,
) -> None:
    await group(world)
    body = {"registration_id": uuid7(), "email": "ana@example.org", "display_name": "Ana Soares"}
    ref = (await ok(world.hub, "/v1/donors", body))["donor_ref"]
    assert await world.vault.get(ref) == {"email": "ana@example.org", "display_name": "Ana Soares"}
    await ok(world.hub, "/v1/pledges", pledge_body(donor_ref=ref))
    stored = b"".join(await world.stored())
    assert ref.encode() in stored
    assert b"ana@example.org" not in stored and b"Soares" not in stored
    await world.hub.delete(f"/v1/donors/{ref}")
    assert await world.vault.get(ref) is None


async def test_a_pledge_funded_and_dispatched_over_http_shows_its_state(world: World) -> None:
    await group(world)
    body = pledge_body()
    tid = body["transfer_id"]
    first = await ok(world.hub, "/v1/pledges", body)
    assert first["state"] == "pledged" and "collector" in first["instructions"]
    assert await ok(world.hub, "/v1/pledges", body) == first  # a retry: the same answer
    conflict = await post(world.hub, "/v1/pledges", body | {"amount": "60.00"})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    await ok(
        world.hub,
        "/v1/fundings",
        {
            "funding_id": uuid7(),
            "transfer_id": tid,
            "collector_ref": "c-1",
            "amount": "50",
            "currency": "USD",
        },
    )
    sent = await ok(
        world.hub,
        "/v1/dispatches",
        {
            "dispatch_id": uuid7(),
            "transfer_id": tid,
            "channel": "mobile_money",
            "agent_ref": "wallet-1",
            "fee": "0.50",
            "rate": "1",
            "to_currency": "USD",
        },
    )
    assert (sent["state"], sent["delivered"]) == ("sent", "49.50")
    await world.settled()
    status = (await world.hub.get(f"/v1/transfers/{tid}")).json()["result"]
    assert status["state"] == "sent"
    assert status["fee"] == {"amount": "0.50", "currency": "USD"}
    assert [t["state"] for t in status["timeline"]] == ["pledged", "funded", "sent"]
    assert (await world.hub.get(f"/v1/transfers/{tid.upper()}")).json()["result"] == status
    missing = await world.hub.get(f"/v1/transfers/{uuid7()}")
    assert missing.status_code == 404
    malformed = await world.hub.get("/v1/transfers/not-an-id")
    assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    ("amount", "currency", "code", "words"),
    [
        ("-5.00", "USD", "negative_amount", "negative"),
        ("0", "USD", "zero_amount", "more than zero"),
        ("0.00", "USD", "zero_amount", "more than zero"),
        ("10.001", "USD", "too_many_decimals", "USD has 2 decimal places"),
        ("10.5", "JPY", "too_many_decimals", "JPY has 0 decimal places"),
        ("10.00", "XXX", "unknown_currency", "ISO 4217"),
        ("10.00", "usd", "unknown_currency", "ISO 4217"),
        ("99999999999999999999", "USD", "amount_too_large", "larger than"),
        ("1e3", "USD", "invalid_amount", "digits"),
        ("1,000.00", "USD", "invalid_amount", "digits"),
    ],
)
async def test_a_bad_amount_is_refused_with_a_clear_error_and_nothing_is_posted(
    world: World, amount: str, currency: str, code: str, words: str
) -> None:
    await group(world)
    before = len(await world.stored())
    response = await post(world.hub, "/v1/pledges", pledge_body(amount=amount, currency=currency))
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]
    assert len(await world.stored()) == before


async def test_an_amount_sent_as_a_json_number_is_refused(world: World) -> None:
    before = len(await world.stored())
    response = await post(world.hub, "/v1/pledges", pledge_body(amount=10.5))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "amount"
    assert len(await world.stored()) == before


@pytest.mark.parametrize("rate", ["4,850.25", "1e3", "-1", "0", "abc", "4850.1234567890123"])
async def test_an_exchange_rate_in_the_wrong_format_is_refused_and_nothing_is_posted(
    world: World, rate: str
) -> None:
    await group(world)
    body = pledge_body()
    await ok(world.hub, "/v1/pledges", body)
    await ok(
        world.hub,
        "/v1/fundings",
        {
            "funding_id": uuid7(),
            "transfer_id": body["transfer_id"],
            "collector_ref": "c-1",
            "amount": "50",
            "currency": "USD",
        },
    )
    before = len(await world.stored())
    response = await post(
        world.hub,
        "/v1/dispatches",
        {
            "dispatch_id": uuid7(),
            "transfer_id": body["transfer_id"],
            "channel": "agent",
            "agent_ref": "a-1",
            "rate": rate,
            "to_currency": "MMK",
        },
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "invalid_rate"
    assert "exchange rate" in response.json()["error"]["message"]
    assert len(await world.stored()) == before


async def test_the_site_refuses_bad_amounts_and_spending_more_than_it_holds(world: World) -> None:
    await group(world)
    await wait_until(lambda: _site_sees_group(world), timeout=30)
    before = len(await world.stored("REMIT_DILI"))
    receipt = {
        "confirmation_id": uuid7(),
        "group_id": GROUP,
        "transfer_id": uuid7(),
        "amount": "10.001",
        "currency": "USD",
    }
    refused = await post(world.site, "/v1/receipts", receipt)
    assert refused.json()["error"]["code"] == "too_many_decimals"
    spend = {
        "disbursement_id": uuid7(),
        "group_id": GROUP,
        "amount": "1.00",
        "currency": "USD",
        "purpose": "supplies",
        "receipt_ref": "r-1",
    }
    broke = await post(world.site, "/v1/disbursements", spend)
    assert broke.status_code == 409
    assert broke.json()["error"]["code"] == "insufficient_funds"
    assert len(await world.stored("REMIT_DILI")) == before
    unknown = await post(
        world.site, "/v1/receipts", receipt | {"group_id": "nobody", "amount": "1"}
    )
    assert unknown.json()["error"]["code"] == "unknown_group"


async def _site_sees_group(world: World) -> bool:
    messages = await read_stream(world.nc, "REMIT_DILI")
    return any(json.loads(data)["type"] == "GroupRegistered" for _, _, data in messages)


async def test_sandbox_callbacks_late_twice_and_out_of_order_fund_the_transfer_once(
    world: World,
) -> None:
    await group(world)
    body = pledge_body(rail="sandbox")
    answer = await ok(world.hub, "/v1/pledges", body)
    assert answer["rail_ref"].startswith("sandbox-") and "SANDBOX" in answer["instructions"]
    await world.sandbox.settle()
    calls = [c for c in world.sandbox.delivered if c.transfer_id == body["transfer_id"]]
    assert len(calls) == 4  # pending and succeeded, each delivered twice, in random order
    fundings = [
        json.loads(data)
        for data in await world.stored()
        if b'"TransferFunded"' in data and body["transfer_id"].encode() in data
    ]
    assert len(fundings) == 1
    assert fundings[0]["payload"]["collector_ref"] == "rail-sandbox"


async def test_the_timer_expires_an_unfunded_pledge_once_and_late_money_is_refused(
    world: World,
) -> None:
    await group(world)
    body = pledge_body(expires_in_hours=1)
    await ok(world.hub, "/v1/pledges", body)
    await world.settled()
    later = datetime.now(UTC) + timedelta(hours=2)
    timer = ExpiryTimer(world.donations, grace=timedelta(0), clock=lambda: later)
    assert await timer.tick() >= 1
    await world.settled()
    assert await timer.tick() == 0
    status = (await world.hub.get(f"/v1/transfers/{body['transfer_id']}")).json()["result"]
    assert status["state"] == "expired"
    late = await post(
        world.hub,
        "/v1/fundings",
        {
            "funding_id": uuid7(),
            "transfer_id": body["transfer_id"],
            "collector_ref": "c-1",
            "amount": "50.00",
            "currency": "USD",
        },
    )
    assert late.json()["error"]["code"] == "pledge_expired"
    again = await world.donations.expire(body["transfer_id"], later + timedelta(days=1))
    assert again["state"] == "expired"  # another timer, later: the same expiry, nothing new
    expiries = [
        d
        for d in await world.stored()
        if b'"TransferExpired"' in d and body["transfer_id"].encode() in d
    ]
    assert len(expiries) == 1


async def test_an_unbalanced_event_is_dead_lettered_and_the_ledger_carries_on(world: World) -> None:
    """Money that does not balance cannot enter the ledger, even written past the service."""
    tid = uuid7()
    forged = {
        "event_id": uuid7(),
        "type": "TransferFunded",
        "schema_version": 1,
        "aggregate_kind": "transfer",
        "aggregate_id": tid,
        "site": "hub",
        "occurred_at": "2025-03-01T00:00:00Z",
        "actor": "mallory",
        "correlation_id": uuid7(),
        "payload": {
            "transfer_id": tid,
            "funding_id": uuid7(),
            "rail": "manual",
            "collector_ref": "c-1",
            "amount_minor": 100,
            "currency": "USD",
            "funded_at": "2025-03-01T00:00:00Z",
            "status": "funded",
            "postings": [
                {"account": "donor:d-1", "currency": "USD", "amount_minor": -100},
                {"account": "collector:c-1", "currency": "USD", "amount_minor": 1_000_000},
            ],
        },
    }
    js = world.nc.jetstream()
    await js.publish(f"ev.remit.hub.dili.transfer.{tid}", json.dumps(forged).encode())
    await world.settled()
    letters = await read_stream(world.nc, "DLQ_HUB")
    assert any(tid.encode() in data for _, _, data in letters)
    check = (await world.hub.get("/v1/ledger/check")).json()["result"]
    assert check["balanced"], check
    await group(world)
    body = pledge_body()
    assert (await post(world.hub, "/v1/pledges", body)).status_code == 200
    await world.settled()  # the read models carry on past the dead letter
    status = await world.hub.get(f"/v1/transfers/{body['transfer_id']}")
    assert status.json()["result"]["state"] == "pledged"


async def test_the_site_refuses_a_confirmation_or_dispute_for_a_transfer_sent_to_another_group(
    world: World,
) -> None:
    await group(world)
    await ok(
        world.hub,
        "/v1/groups",
        {"registration_id": uuid7(), "group_id": "other-kitchen", "site": "dili", "label": "Other"},
    )
    body = pledge_body()
    await ok(world.hub, "/v1/pledges", body)
    await wait_until(lambda: _site_has(world, body["transfer_id"]), timeout=30)
    await wait_until(lambda: _site_has(world, "other-kitchen"), timeout=30)
    await world.settled()
    wrong = await post(
        world.site,
        "/v1/receipts",
        {
            "confirmation_id": uuid7(),
            "group_id": "other-kitchen",
            "transfer_id": body["transfer_id"],
            "amount": "50.00",
            "currency": "USD",
        },
    )
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "wrong_group"
    disputed = await post(
        world.site,
        "/v1/disputes",
        {
            "dispute_id": uuid7(),
            "group_id": "other-kitchen",
            "transfer_id": body["transfer_id"],
            "reason": "nothing_arrived",
        },
    )
    assert disputed.status_code == 409, disputed.text  # nor dispute what is not its own
    assert disputed.json()["error"]["code"] == "wrong_group"


async def _site_has(world: World, text: str) -> bool:
    return any(text.encode() in data for data in await world.stored("REMIT_DILI"))


FAR_FUTURE_ID = "ffffffff-ffff-7fff-8fff-ffffffffffff"
"""A well-formed UUIDv7 whose time (year 10889) no datetime holds: a device with a broken clock."""


@pytest.mark.parametrize("command", ["groups", "pledges", "cancellations", "resolutions"])
async def test_an_id_made_by_a_clock_far_in_the_future_is_refused_not_a_server_error(
    world: World, command: str
) -> None:
    await group(world)
    pledged = pledge_body()
    await ok(world.hub, "/v1/pledges", pledged)
    tid = pledged["transfer_id"]
    body = {
        "groups": {
            "registration_id": FAR_FUTURE_ID,
            "group_id": "g-x",
            "site": "dili",
            "label": "x",
        },
        "pledges": pledge_body(transfer_id=FAR_FUTURE_ID),
        "cancellations": {"cancellation_id": FAR_FUTURE_ID, "transfer_id": tid, "reason": "other"},
        "resolutions": {
            "resolution_id": FAR_FUTURE_ID,
            "transfer_id": tid,
            "resolution": "write_off",
        },
    }[command]
    before = len(await world.stored())
    response = await post(world.hub, f"/v1/{command}", body)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "future_time"
    assert len(await world.stored()) == before


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_a_deadline_with_no_utc_equivalent_is_refused_not_a_server_error(
    world: World, moment: str
) -> None:
    await group(world)
    response = await post(world.hub, "/v1/pledges", pledge_body(expires_at=moment))
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "invalid_time"


async def test_a_time_in_year_one_with_an_offset_is_refused_not_a_server_error(
    world: World,
) -> None:
    await group(world)
    body = pledge_body()
    await ok(world.hub, "/v1/pledges", body)
    before = len(await world.stored())
    response = await post(
        world.hub,
        "/v1/fundings",
        {
            "funding_id": uuid7(),
            "transfer_id": body["transfer_id"],
            "collector_ref": "c-1",
            "amount": "50",
            "currency": "USD",
            "funded_at": "0001-01-01T00:00:00+01:00",
        },
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "invalid_time"
    assert len(await world.stored()) == before


@pytest.mark.parametrize("ref", ["not a reference*", "d-abc%0A", "d..x"])
async def test_forgetting_a_donor_reference_the_vault_cannot_hold_is_unknown_not_a_server_error(
    world: World, ref: str
) -> None:
    response = await world.hub.delete(f"/v1/donors/{ref}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "unknown_donor"


async def vault_keys(world: World) -> set[str]:
    """The references holding a live record (forgotten ones are purged). Read from the stream's
    per-subject state and each subject's last message, not ``kv.keys()``: that lists through an
    ordered consumer, which now and then reports nothing pending and answers no keys at all."""
    js = world.nc.jetstream()
    stream = f"KV_{world.vault.bucket}"
    prefix = f"$KV.{world.vault.bucket}."
    info = await js.stream_info(stream, subjects_filter=f"{prefix}>")
    live = set()
    for subject in info.state.subjects or {}:
        last = await js.get_last_msg(stream, subject)
        if (last.headers or {}).get("KV-Operation") not in ("DEL", "PURGE"):
            live.add(subject.removeprefix(prefix))
    return live


def donor_body(**kw: Any) -> dict[str, Any]:
    return {"registration_id": uuid7(), "email": "ana@example.org", "display_name": "Ana"} | kw


async def test_a_donor_registration_sent_again_over_http_stores_one_record_under_one_reference(
    world: World,
) -> None:
    """The first answer was lost and the donor sends the same registration again (twice at once,
    too): one reference, and one record holding the e-mail, which that reference can forget."""
    before = await vault_keys(world)
    body = donor_body()
    first = await ok(world.hub, "/v1/donors", body)
    assert await ok(world.hub, "/v1/donors", body) == first
    again = [await ok(world.hub, "/v1/donors", body) for _ in range(2)]
    assert again == [first, first]
    assert await vault_keys(world) - before == {first["donor_ref"]}
    assert await world.vault.get(first["donor_ref"]) == {
        "email": "ana@example.org",
        "display_name": "Ana",
    }

    racing = donor_body()
    answers = await asyncio.gather(*(ok(world.hub, "/v1/donors", racing) for _ in range(4)))
    assert len({a["donor_ref"] for a in answers}) == 1
    assert await vault_keys(world) - before == {first["donor_ref"], answers[0]["donor_ref"]}


async def test_a_donor_registration_without_an_id_is_invalid_and_stores_nothing(
    world: World,
) -> None:
    before = await vault_keys(world)
    response = await post(world.hub, "/v1/donors", {"email": "ana@example.org"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["details"][0]["field"] == "registration_id"
    assert "ana@example.org" not in response.text
    assert await vault_keys(world) == before


async def test_the_same_registration_id_with_other_details_is_a_conflict(world: World) -> None:
    body = donor_body()
    ref = (await ok(world.hub, "/v1/donors", body))["donor_ref"]
    before = await vault_keys(world)
    for other in ({"email": "someone@example.org"}, {"display_name": "Ana S."}):
        response = await post(world.hub, "/v1/donors", body | other)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "conflict"
        assert ref not in response.text and "example.org" not in response.text
    assert await world.vault.get(ref) == {"email": "ana@example.org", "display_name": "Ana"}
    assert await vault_keys(world) == before


async def test_a_registration_retried_after_the_donor_was_forgotten_stores_nothing_again(
    world: World,
) -> None:
    """As the requests service does for a forgotten contact: the retry (an outbox, a replay) does
    not bring the e-mail back, and whoever holds only the id is not told the reference."""
    body = donor_body()
    ref = (await ok(world.hub, "/v1/donors", body))["donor_ref"]
    forgotten = await world.hub.delete(f"/v1/donors/{ref}")
    assert forgotten.status_code == 200, forgotten.text
    before = await vault_keys(world)
    for retry in (body, body | {"email": "someone@example.org"}):
        response = await post(world.hub, "/v1/donors", retry)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "forgotten"
        assert ref not in response.text
    assert await world.vault.get(ref) is None
    assert ref not in await vault_keys(world) and await vault_keys(world) == before


async def test_a_donor_registration_over_nats_is_recognised_as_over_http(world: World) -> None:
    """The same command on either edge: a retry over the other one still finds the first."""
    endpoints = Endpoints(world.nc)
    serve_hub(endpoints, world.donations.h, world.donations, world.donors)
    await endpoints.start()
    try:
        before = await vault_keys(world)
        body = donor_body()
        first = await _ask(world.nc, "register_donor", body)
        assert first.ok, first
        ref = first.result["donor_ref"]
        assert (await _ask(world.nc, "register_donor", body)).result == {"donor_ref": ref}
        assert await ok(world.hub, "/v1/donors", body) == {"donor_ref": ref}
        assert await vault_keys(world) - before == {ref}

        conflict = await _ask(world.nc, "register_donor", body | {"email": "someone@example.org"})
        assert conflict.error is not None and conflict.error.code == "conflict"
        assert await world.vault.get(ref) == {"email": "ana@example.org", "display_name": "Ana"}

        assert (await _ask(world.nc, "forget_donor", {"donor_ref": ref})).ok
        retried = await _ask(world.nc, "register_donor", body)
        assert retried.error is not None and retried.error.code == "forgotten"
        assert await world.vault.get(ref) is None and ref not in await vault_keys(world)

        missing = await _ask(world.nc, "register_donor", {"email": "ana@example.org"})
        assert missing.error is not None and missing.error.code == "invalid"
    finally:
        await endpoints.stop()


async def test_a_group_id_that_cannot_name_a_subject_is_invalid_input_not_a_server_error(
    world: World,
) -> None:
    before = len(await world.stored())
    registered = await post(
        world.hub,
        "/v1/groups",
        {"registration_id": uuid7(), "group_id": "kitchen.dili", "site": "dili", "label": "x"},
    )
    assert registered.status_code == 422, registered.text
    assert registered.json()["error"]["details"][0]["field"] == "group_id"
    pledged = await post(world.hub, "/v1/pledges", pledge_body(group_id="kitchen.dili"))
    assert pledged.status_code == 422, pledged.text
    spent = await post(
        world.site,
        "/v1/disbursements",
        {
            "disbursement_id": uuid7(),
            "group_id": "kitchen.dili",
            "amount": "1.00",
            "currency": "USD",
            "purpose": "supplies",
            "receipt_ref": "r-1",
        },
    )
    assert spent.status_code == 422, spent.text
    assert len(await world.stored()) == before


async def test_a_pledge_retried_after_its_kitchen_need_was_met_gets_the_same_answer(
    world: World,
) -> None:
    """The need being met since is no reason to refuse the retry of a pledge already made: the
    donor would be told "refused" about a pledge that stands."""
    await group(world)
    await ensure_stream(world.nc.jetstream(), event_stream("requests", "dili"))
    kitchens = ProjectionRunner(
        world.nc,
        KitchenProjection(),
        kitchen_registry,
        db_path=world.donations.h.db_path,
        stream="REQUESTS_DILI",
        site="hub",
    )
    await kitchens.start()
    try:
        kitchen = Kitchen(world.nc, "dili", "kitchen-retry")
        await kitchen.need("need-retry", 5_000, currency="USD")
        await kitchens.run_until_caught_up(timeout=60)
        body = pledge_body(need_id="need-retry")
        first = await ok(world.hub, "/v1/pledges", body)
        await kitchen.met("need-retry")
        await kitchens.run_until_caught_up(timeout=60)
        assert await ok(world.hub, "/v1/pledges", body) == first  # the lost reply, resent
        late = await post(world.hub, "/v1/pledges", pledge_body(need_id="need-retry"))
        assert late.json()["error"]["code"] == "need_met"  # a new pledge still is refused
    finally:
        await kitchens.stop()


async def test_a_group_is_registered_only_at_a_site_linked_to_the_hub(world: World) -> None:
    """A typo of a site, or a site not yet linked, could never confirm a receipt: money pledged to
    the group would sit in transit for ever."""
    for site in ("dilli", "all", "hub"):
        refused = await post(
            world.hub,
            "/v1/groups",
            {"registration_id": uuid7(), "group_id": "typo-kitchen", "site": site, "label": "T"},
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "unknown_site"
    assert not any(b"typo-kitchen" in data for data in await world.stored())


@pytest.mark.parametrize(
    ("app", "method", "path", "content", "status", "code"),
    [
        ("hub", "GET", "/v1/nowhere", None, 404, "not_found"),
        ("hub", "GET", "/v1/pledges", None, 405, "method_not_allowed"),
        ("hub", "DELETE", "/v1/transfers/t-1", None, 405, "method_not_allowed"),
        # the donor page asks for a reference typed with a slash: the route does not exist
        ("hub", "GET", "/v1/donors/ana%2Fsoares/report", None, 404, "not_found"),
        ("hub", "GET", "/v1/groups/a%2Fb/report", None, 404, "not_found"),
        ("hub", "POST", "/v1/pledges", b'{"amount": "\xff"}', 400, "malformed"),
        ("hub", "POST", "/v1/pledges", b"[" * 100_000 + b"]" * 100_000, 400, "malformed"),
        ("site", "GET", "/", None, 404, "not_found"),
        ("site", "PUT", "/v1/receipts", b"{}", 405, "method_not_allowed"),
        ("site", "POST", "/v1/disbursements", b'{"purpose": "\xc3"}', 400, "malformed"),
    ],
    ids=[
        "unknown route",
        "GET on a POST route",
        "DELETE on a GET route",
        "donor reference with a slash",
        "group id with a slash",
        "invalid UTF-8",
        "nested too deep",
        "no page at a site",
        "PUT on a POST route",
        "truncated UTF-8",
    ],
)
async def test_an_unknown_route_a_wrong_method_or_an_unreadable_body_answers_in_the_error_shape(
    world: World, app: str, method: str, path: str, content: bytes | None, status: int, code: str
) -> None:
    """The donor page and every client read ``error.message``: FastAPI's own ``{"detail": ...}``
    made the page fail with a script error instead of saying what was wrong."""
    before = len(await world.stored()), len(await world.stored("REMIT_DILI"))
    client = world.hub if app == "hub" else world.site
    headers = {"content-type": "application/json"}
    response = await client.request(method, path, content=content, headers=headers)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["ok"] is False and answer["error"]["code"] == code, answer
    assert answer["error"]["message"]
    assert "\xff" not in response.text and "soares" not in response.text  # input is not echoed
    assert (len(await world.stored()), len(await world.stored("REMIT_DILI"))) == before


async def test_the_openapi_documents_describe_errors_as_replies(world: World) -> None:
    """A client generated from the document must expect ``{"ok": false, "error": ...}`` on every
    error, not FastAPI's ``{"detail": [...]}`` validation body, which is never sent."""
    for client in (world.hub, world.site):
        errors_documented_as_replies((await client.get("/openapi.json")).json())


async def test_an_unknown_groups_balance_is_not_found_like_its_report(world: World) -> None:
    for client, path in (
        (world.site, "/v1/groups/no-such-group/balance"),
        (world.hub, "/v1/groups/no-such-group/report"),
    ):
        response = await client.get(path)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "unknown_group"


async def test_another_sites_group_is_refused_at_a_site_not_shown_holding_nothing(
    world: World,
) -> None:
    """Every site knows every group, but holds only its own groups' accounts: asked at the wrong
    site, a group's balance and report read as registered and empty."""
    body = {"registration_id": uuid7(), "group_id": "baucau-kitchen", "site": "baucau"}
    await ok(world.hub, "/v1/groups", body | {"label": "B"})

    async def known_at_the_site() -> bool:
        return (await world.site.get("/v1/groups/baucau-kitchen/report")).status_code != 404

    await wait_until(known_at_the_site)
    for path in ("/v1/groups/baucau-kitchen/balance", "/v1/groups/baucau-kitchen/report"):
        response = await world.site.get(path)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "wrong_site" and "baucau" in error["message"]
        assert "--site hub" in error["message"]  # the hub's HTTP API serves no balance
    assert (await world.hub.get("/v1/groups/baucau-kitchen/report")).status_code == 200


async def _funded(world: World) -> str:
    await group(world)
    body = pledge_body()
    await ok(world.hub, "/v1/pledges", body)
    funding = {"funding_id": uuid7(), "collector_ref": "c-1", "amount": "50", "currency": "USD"}
    await ok(world.hub, "/v1/fundings", funding | {"transfer_id": body["transfer_id"]})
    return str(body["transfer_id"])


async def test_a_dispatch_without_conversion_needs_no_rate_and_one_with_it_does(
    world: World,
) -> None:
    """A collector handing dollars on as dollars typed ``--rate 1 --to-currency USD`` every time."""
    dispatch = {"channel": "agent", "agent_ref": "a-1", "fee": "2.00"}
    converting = dispatch | {"dispatch_id": uuid7(), "transfer_id": await _funded(world)}
    before = len(await world.stored())
    refused = await post(world.hub, "/v1/dispatches", converting | {"to_currency": "MMK"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "rate_required"
    assert len(await world.stored()) == before
    plain = dispatch | {"dispatch_id": uuid7(), "transfer_id": await _funded(world)}
    sent = await ok(world.hub, "/v1/dispatches", plain)
    assert (sent["delivered"], sent["delivered_currency"]) == ("48.00", "USD")
    explicit = plain | {"rate": "1", "to_currency": "USD"}
    assert await ok(world.hub, "/v1/dispatches", explicit) == sent, "the same dispatch, retried"


async def test_a_dispatch_retried_with_another_delivered_figure_is_a_conflict(
    world: World,
) -> None:
    """50.00 USD at 4850.25 MMK per USD is 242,512.50 MMK: a retry under the same id that says
    another figure was arriving is not the dispatch recorded, and changes nothing."""
    dispatch = {
        "dispatch_id": uuid7(),
        "transfer_id": await _funded(world),
        "channel": "agent",
        "agent_ref": "a-1",
        "rate": "4850.25",
        "to_currency": "MMK",
        "delivered": "242512.50",
    }
    first = await ok(world.hub, "/v1/dispatches", dispatch)
    assert first["delivered"] == "242512.50"
    before = len(await world.stored())
    for figure in ("242512.49", "242512.51", "300000"):
        retried = await post(world.hub, "/v1/dispatches", dispatch | {"delivered": figure})
        assert retried.status_code == 409, retried.text
        assert retried.json()["error"]["code"] == "conflict"
    assert await ok(world.hub, "/v1/dispatches", dispatch) == first  # the true retry still is
    assert len(await world.stored()) == before


@pytest.mark.parametrize("ref", [".", ".."])
async def test_a_donor_reference_no_web_address_can_carry_is_refused_at_the_pledge(
    world: World, ref: str
) -> None:
    """ "/v1/donors/../report" is "/v1/report" by the time any browser or client sends it: a pledge
    under such a reference would have a report nobody can fetch."""
    await group(world)
    before = len(await world.stored())
    response = await post(world.hub, "/v1/pledges", pledge_body(donor_ref=ref))
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "donor_ref" and "web address" in detail["problem"]
    over_nats = await answer(
        PledgeRequest, world.donations.pledge, json.dumps(pledge_body(donor_ref=ref)).encode()
    )
    assert over_nats.error is not None and over_nats.error.code == "invalid"
    assert len(await world.stored()) == before


@pytest.mark.parametrize("ref", ["...", ".d", "d.", "d..x", "-", "_", "donor.ana", "d-Ab_9"])
async def test_donor_references_with_dots_and_more_still_pledge_and_their_report_is_reachable(
    world: World, ref: str
) -> None:
    await group(world)
    body = pledge_body(donor_ref=ref)
    await ok(world.hub, "/v1/pledges", body)
    await world.settled()
    for path in (f"/v1/donors/{ref}/report", f"/v1/donors/{ref}/transfers"):
        response = await world.hub.get(path)
        assert response.status_code == 200, response.text
        mine = [t["transfer_id"] for t in response.json()["result"]["transfers"]]
        assert body["transfer_id"] in mine


async def test_a_donors_transfers_and_report_come_in_pages_over_http(world: World) -> None:
    await group(world)
    donor = f"d-pages-{uuid7()[-12:]}"
    pledged = [pledge_body(donor_ref=donor) for _ in range(5)]
    for body in pledged:
        await ok(world.hub, "/v1/pledges", body)
    await world.settled()
    for what in ("transfers", "report"):
        everything = await _get(world.hub, f"/v1/donors/{donor}/{what}?limit=1000")
        assert everything["next_offset"] is None
        every_id = [t["transfer_id"] for t in everything["transfers"]]
        assert sorted(every_id) == sorted(b["transfer_id"] for b in pledged)
        seen: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = await _get(world.hub, f"/v1/donors/{donor}/{what}?limit=2&offset={offset}")
            seen += [t["transfer_id"] for t in page["transfers"]]
            offset = page["next_offset"]
        assert seen == every_id  # each once, in the one order


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()["result"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "limit=ten", "page=2"])
async def test_a_page_out_of_bounds_is_invalid_input_over_http(world: World, query: str) -> None:
    for client, path in (
        (world.hub, "/v1/donors/d-1/transfers"),
        (world.hub, "/v1/donors/d-1/report"),
        (world.hub, "/v1/needs"),
        (world.hub, "/v1/ledger/check"),
        (world.site, f"/v1/groups/{GROUP}/balance"),
    ):
        response = await client.get(f"{path}?{query}")
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid"


async def test_the_other_growing_lists_say_where_their_next_page_starts(world: World) -> None:
    await group(world)
    await wait_until(lambda: _site_sees_group(world), timeout=30)
    needs = await _get(world.hub, "/v1/needs?limit=1")
    assert set(needs) == {"needs", "next_offset"}
    check = await _get(world.hub, "/v1/ledger/check?limit=1&offset=0")
    assert len(check["in_transit"]) <= 1 and "next_offset" in check
    await world.settled()
    balance = await _get(world.site, f"/v1/groups/{GROUP}/balance?limit=1")
    assert len(balance["on_the_way"]) <= 1 and "next_offset" in balance


async def test_the_queries_over_nats_take_the_same_pages(world: World) -> None:
    await group(world)
    donor = f"d-nats-{uuid7()[-12:]}"
    for _ in range(3):
        await ok(world.hub, "/v1/pledges", pledge_body(donor_ref=donor))
    await world.settled()
    endpoints = Endpoints(world.nc)
    serve_hub(endpoints, world.donations.h, world.donations, None)
    await endpoints.start()
    try:
        over_http = await _get(world.hub, f"/v1/donors/{donor}/transfers?limit=2&offset=1")
        asked = {"donor_ref": donor, "limit": 2, "offset": 1}
        over_nats = await _ask(world.nc, "donor_history", asked)
        assert over_nats.ok and over_nats.result == over_http
        assert over_nats.result["next_offset"] is None and len(over_nats.result["transfers"]) == 2
        first = await _ask(world.nc, "donor_report", {"donor_ref": donor, "limit": 1})
        assert first.ok and first.result["next_offset"] == 1
        for command, payload in (
            ("donor_history", {"donor_ref": donor, "limit": 0}),
            ("donor_report", {"donor_ref": donor, "limit": 1001}),
            ("open_needs", {"offset": -1}),
            ("ledger_check", {"limit": "10"}),  # strict JSON, as every command
            ("group_balance", {"group_id": GROUP, "limit": 1.5}),
        ):
            refused = await _ask(world.nc, command, payload)
            assert refused.error is not None and refused.error.code == "invalid", command
        for command in ("open_needs", "ledger_check"):
            assert "next_offset" in (await _ask(world.nc, command, {"limit": 1})).result
    finally:
        await endpoints.stop()


async def _ask(nc: NATS, command: str, payload: dict[str, Any]) -> Reply:
    msg = await nc.request(f"cmd.hub.remit.{command}", json.dumps(payload).encode(), timeout=20)
    return Reply.model_validate_json(msg.data)


async def test_a_transfer_id_typed_in_capitals_is_the_same_transfer(world: World) -> None:
    """A UUID is the same in either case: confirmed again in capitals (copied off a printed slip),
    the same transfer was a second, unrelated receipt and the group held the same cash twice."""
    await group(world)
    await wait_until(lambda: _site_sees_group(world), timeout=30)
    tid, cid = uuid7(), uuid7()
    receipt = {
        "confirmation_id": cid,
        "group_id": GROUP,
        "transfer_id": tid,
        "amount": "40.00",
        "currency": "USD",
    }
    first = await ok(world.site, "/v1/receipts", receipt)
    again = await ok(world.site, "/v1/receipts", receipt | {"confirmation_id": cid.upper()})
    assert again == first  # the same confirmation, retried
    twice = await post(
        world.site,
        "/v1/receipts",
        receipt | {"confirmation_id": uuid7(), "transfer_id": tid.upper()},
    )
    assert twice.status_code == 409, twice.text
    assert twice.json()["error"]["code"] == "already_confirmed"
    assert first["transfer_id"] == tid


async def test_a_receipt_by_a_group_at_another_site_is_flagged_on_the_transfer(
    world: World,
) -> None:
    """The transfer's subject names the site its group is at; a treasurer at another site who
    confirms it (the wrong slip) names the transfer, not that site. Looked up under the confirming
    site it was not found, and the money the wrong group now held was never flagged."""
    await group(world)
    body = pledge_body()
    tid = body["transfer_id"]
    await ok(world.hub, "/v1/pledges", body)
    await ok(
        world.hub,
        "/v1/fundings",
        {"funding_id": uuid7(), "transfer_id": tid, "collector_ref": "c-1", "amount": "50"}
        | {"currency": "USD"},
    )
    await ok(
        world.hub,
        "/v1/dispatches",
        {"dispatch_id": uuid7(), "transfer_id": tid, "channel": "agent", "agent_ref": "a-1"}
        | {"fee": "0", "rate": "1", "to_currency": "USD"},
    )
    cid = uuid7()
    elsewhere = make_envelope(
        ReceiptConfirmed(
            group_id="ygn-kitchen",
            confirmation_id=cid,
            transfer_id=tid,
            amount_minor=5000,
            currency="USD",
            received_at=datetime.now(UTC),
            postings=postings.receipt(tid, "ygn-kitchen", "USD", 5000),
        ),
        event_id=derived_id(cid, 0),
        aggregate=account_ref("ygn-kitchen", "yangon-north"),
        occurred_at=datetime.now(UTC),
        actor="treasurer",
        correlation_id=cid,
    )
    hub = world.donations.h
    planned = await plan_site_fact(hub, elsewhere)
    assert planned is not None
    assert planned.ref == transfer_ref(tid, "dili")
    outcome = await hub.transfers.handle(
        planned.ref, planned.command, reaction_meta(elsewhere, "hub")
    )
    assert outcome.state.status == "disputed"
    assert [
        e.payload.reason for e in outcome.events if isinstance(e.payload, TransferDisputed)
    ] == ["other_group"]


async def test_a_new_pledge_past_its_own_deadline_is_refused_and_nothing_is_stored(
    world: World,
) -> None:
    """Queued on a device for five days, a pledge open for 72 hours arrives dead: the collector was
    told to take the money "before" a time gone by."""
    await group(world)
    five_days_ago = int((datetime.now(UTC) - timedelta(days=5)).timestamp() * 1000)
    digits = f"{five_days_ago:012x}" + uuid7().replace("-", "")[12:]  # a UUIDv7 made back then
    made = "-".join((digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:]))
    body = pledge_body(transfer_id=made)
    before = len(await world.stored())
    late = await post(world.hub, "/v1/pledges", body)
    assert late.status_code == 409, late.text
    assert late.json()["error"]["code"] == "deadline_passed"
    assert len(await world.stored()) == before
    fresh = await ok(world.hub, "/v1/pledges", body | {"transfer_id": uuid7()})
    assert fresh["state"] == "pledged"


async def test_a_negative_fee_is_refused_by_name(world: World) -> None:
    tid = await _funded(world)
    dispatch = {"dispatch_id": uuid7(), "transfer_id": tid, "channel": "agent", "agent_ref": "a"}
    refused = await post(world.hub, "/v1/dispatches", dispatch | {"fee": "-1", "rate": "1"})
    assert refused.json()["error"]["code"] == "negative_amount"
    assert refused.json()["error"]["message"] == "the fee cannot be negative"


async def test_a_groups_registration_is_never_changed_and_says_so(world: World) -> None:
    await group(world)
    relabel = {"registration_id": uuid7(), "group_id": GROUP, "site": "dili", "label": "New"}
    refused = await post(world.hub, "/v1/groups", relabel)
    assert refused.json()["error"]["code"] == "conflict"
    assert "never changed" in refused.json()["error"]["message"]


class SiteKitchens(KitchenProjection):
    """The site's kitchen read model, under a durable name of its own: in this world the hub and
    the site read the same requests stream on one server."""

    name = "remit_kitchens_dili"


async def test_a_need_is_paid_from_the_pledge_that_named_it_and_other_spending_from_the_rest(
    world: World,
) -> None:
    """A general pledge (older) and one to a kitchen need (newer) both arrive. The treasurer pays
    the need without naming a transfer, then spends on cash assistance: the donor who named the
    need sees their money reach it (spent oldest first, it went to cash assistance). The site knows
    the earmark from the hub's transfer events; the treasury hands it to the account."""
    group_id = f"earmarks-{uuid7()[-12:]}"
    await ok(
        world.hub,
        "/v1/groups",
        {"registration_id": uuid7(), "group_id": group_id, "site": "dili", "label": "Earmarks"},
    )
    await ensure_stream(world.nc.jetstream(), event_stream("requests", "dili"))
    kitchens = [
        ProjectionRunner(
            world.nc,
            projection,
            kitchen_registry,
            db_path=h.db_path,
            stream="REQUESTS_DILI",
            site=h.site,
        )
        for projection, h in (
            (KitchenProjection(), world.donations.h),
            (SiteKitchens(), world.at_site),
        )
    ]
    for runner in kitchens:
        await runner.start()
    try:
        need = f"need-{uuid7()[-12:]}"
        await Kitchen(world.nc, "dili", "kitchen-earmarks").need(need, 1_000, currency="USD")
        for runner in kitchens:
            await runner.run_until_caught_up(timeout=60)
        general, earmarked = f"d-general-{need}", f"d-earmarked-{need}"
        pledges = [
            pledge_body(group_id=group_id, donor_ref=general, amount="10.00"),
            pledge_body(group_id=group_id, donor_ref=earmarked, amount="10.00", need_id=need),
        ]
        for body in pledges:
            await _send(world, body)
        await wait_until(lambda: _site_has(world, pledges[1]["transfer_id"]), timeout=30)
        await world.settled()
        for body in pledges:  # the general pledge's money arrives first: the older lot
            receipt = {"confirmation_id": uuid7(), "transfer_id": body["transfer_id"]}
            await ok(world.site, "/v1/receipts", _at(group_id, receipt))
        spend = {"disbursement_id": uuid7(), "receipt_ref": "r-9"}
        await ok(
            world.site,
            "/v1/disbursements",
            _at(group_id, spend | {"purpose": "kitchen_need", "need_id": need}),
        )
        spend = {"disbursement_id": uuid7(), "receipt_ref": "r-10"}
        await ok(
            world.site, "/v1/disbursements", _at(group_id, spend | {"purpose": "cash_assistance"})
        )
        await world.settled()
        for donor, purpose in ((earmarked, "kitchen_need"), (general, "cash_assistance")):
            (mine,) = (await _get(world.hub, f"/v1/donors/{donor}/report"))["transfers"]
            (spent,) = mine["disbursements"]
            assert spent["purpose"] == purpose, donor
        (need_now,) = [
            n for n in (await _get(world.hub, "/v1/needs"))["needs"] if n["need_id"] == need
        ]
        assert (
            need_now["pledged"] == need_now["disbursed"] == [{"amount": "10.00", "currency": "USD"}]
        )
    finally:
        for runner in kitchens:
            await runner.stop()


def _at(group_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """A site record of 10.00 USD for the group."""
    return {"group_id": group_id, "amount": "10.00", "currency": "USD"} | record


async def _send(world: World, body: dict[str, Any]) -> None:
    """Pledge, fund and send ``body``'s 10.00 USD as USD, with no fee."""
    tid = body["transfer_id"]
    await ok(world.hub, "/v1/pledges", body)
    funding = {"funding_id": uuid7(), "transfer_id": tid, "collector_ref": "c-1"}
    await ok(world.hub, "/v1/fundings", funding | {"amount": "10.00", "currency": "USD"})
    dispatch = {"dispatch_id": uuid7(), "transfer_id": tid, "agent_ref": "wallet-1"}
    await ok(world.hub, "/v1/dispatches", dispatch | {"channel": "mobile_money", "fee": "0"})
