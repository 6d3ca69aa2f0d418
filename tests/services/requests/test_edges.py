"""Bad input at every edge (NATS, HTTP, CLI) gets a clear error and changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.ids import uuid7
from shared.sites import Sites
from tests.httpkit import answers_in_error_shape, errors_documented_as_replies
from tests.services.requests.harness import Running, ask, cli, command, ok, service_at, set_up_site
from tests.sitekit import running_sites

SITE = "dili"
NAME, PHONE = "Ana Maria Belo", "+670 7755 1234"


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sites]:
    async with running_sites(
        tmp_path_factory.mktemp("edges"), sites=(SITE,), contexts=("requests",)
    ) as sites:
        yield sites


@pytest.fixture(scope="module")
async def running(net: Sites, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    async with service_at(net, SITE, tmp_path_factory.mktemp("var")) as svc:
        await set_up_site(net.nc(SITE), SITE)
        yield svc


def good(**changes: Any) -> dict[str, Any]:
    body = command(category="food", urgency="urgent", area_id="w1-a", household_size=4)
    body |= {"name": NAME, "phone": PHONE}
    return body | changes


BAD: list[tuple[str, dict[str, Any] | bytes, str, str]] = [
    ("wrong type", good(household_size="four"), "invalid", "household_size"),
    # strict as JSON allows, over HTTP as over NATS: pydantic's lax mode took these as 1 and 3
    ("a boolean for a number", good(household_size=True), "invalid", "household_size"),
    ("a number in a string", good(household_size="3"), "invalid", "household_size"),
    ("a number for a name", good(area_id=12), "invalid", "area_id"),
    ("unknown category", good(category="fishing"), "invalid", "category"),
    ("oversize text", good(need="x" * 1001), "invalid", "need"),
    ("oversize name", good(name="y" * 101), "invalid", "name"),
    ("unknown area", good(area_id="ward-99"), "unknown_area", "ward-99"),
    ("bad command id", good(command_id="1234"), "invalid", "command_id"),
    ("command id and a newline", good(command_id=uuid7() + "\n"), "invalid", "command_id"),
    (
        "command id after the year 9999",
        good(command_id="f" * 8 + "-ffff-7fff-bfff-" + "f" * 12),
        "invalid",
        "command_id",
    ),
    ("bad area id", good(area_id="w1 a; drop"), "invalid", "area_id"),
    ("unknown field", good(income=120), "invalid", "income"),
    ("not json", b"\x00{not json", "invalid", "body"),
    ("a role no edge accepts", good(role="system"), "invalid", "role"),
]


async def footprint(net: Sites, running: Running) -> tuple[int, int]:
    """Events at the site, and records in the site's vault."""
    events = (await net.js(SITE).stream_info("REQUESTS_DILI")).state.messages
    vault = getattr(running.handlers.vault, "kv")  # noqa: B009
    status = await vault.status()
    return events, status.values


async def test_bad_input_over_nats_is_refused_clearly_and_changes_nothing(
    net: Sites, running: Running
) -> None:
    nc = net.nc(SITE)
    await ok(nc, SITE, "create_request", good())  # the good one works
    before = await footprint(net, running)
    for what, body, code, field in BAD:
        reply = await ask(nc, SITE, "create_request", body)
        assert not reply.ok, what
        assert reply.error is not None
        assert reply.error.code == code, (what, reply.error)
        assert field in reply.error.message, (what, reply.error.message)
        assert NAME not in reply.model_dump_json(), "input is never echoed"
    for operation, body, code in [
        ("claim_request", command(request_id="not-a-uuid"), "invalid"),
        ("claim_request", command(request_id=uuid7()), "not_found"),
        ("claim_request", command(request_id=uuid7() + "\n", volunteer_id="v1"), "invalid"),
        ("fulfil_request", command(request_id=uuid7() + "\n"), "invalid"),
        ("define_area", command(area_id="w9", name="\x1b[2J", level="ward"), "invalid"),
        ("define_area", command(area_id="w9", name="   ", level="ward"), "invalid"),
        ("fulfil_request", command(request_id=uuid7()), "not_found"),
        ("signpost_request", command(request_id=uuid7(), entry_id="nowhere"), "not_found"),
        (
            "register_volunteer",
            command(volunteer_id="v1", area_id="w1-a", skills=["juggling"]),
            "invalid",
        ),
        ("serve_meals", command(kitchen_id="k9", day="yesterday", meals=3), "invalid"),
        (
            "receive_stock",
            command(kitchen_id="k9", item="rice", quantity="-4", unit="kg"),
            "invalid",
        ),
        ("create_request", {**good(), "actor": "coord-nobody"}, "not_coordinator"),
    ]:
        reply = await ask(nc, SITE, operation, body)
        assert reply.error is not None, operation
        assert reply.error.code == code, (operation, reply.error)
        assert reply.error.message
    assert await footprint(net, running) == before


async def test_bad_input_over_http_is_refused_clearly_and_changes_nothing(
    net: Sites, running: Running
) -> None:
    app = running.service.app
    assert app is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
        created = await client.post("/requests", json=good())
        assert created.status_code == 200, created.text
        assert created.json()["result"]["status"] == "open"
        before = await footprint(net, running)
        for what, body, code, field in BAD:
            if isinstance(body, bytes):
                answer = await client.post(
                    "/requests", content=body, headers={"content-type": "application/json"}
                )
            else:
                answer = await client.post("/requests", json=body)
            assert answer.status_code in (409, 422), (what, answer.text)
            error = answer.json()["error"]
            assert error["code"] == code, (what, error)
            assert field in error["message"], (what, error)
            assert NAME not in answer.text
        listed = await client.get("/requests", params={"category": "fishing"})
        assert listed.status_code == 422
        assert listed.json()["error"]["code"] == "invalid"
        missing = await client.get("/requests/one", params={"request_id": uuid7()})
        assert missing.status_code == 404
        openapi = (await client.get("/openapi.json")).json()
        assert "/requests/claim" in openapi["paths"]
        assert await footprint(net, running) == before


async def test_bad_input_on_the_command_line_is_refused_clearly_and_changes_nothing(
    net: Sites, running: Running
) -> None:
    fine = await cli(
        net, SITE, "requests", "create", "--category", "food", "--area", "w1-b", "--json"
    )
    assert fine.returncode == 0, fine.stderr
    assert json.loads(fine.stdout)["status"] == "open"
    before = await footprint(net, running)
    base = ["requests", "create", "--area", "w1-b", "--name", NAME]
    need = ["kitchens", "need", "k1", "--item", "rice", "--quantity", "5", "--unit", "kg"]
    for args, code, words in [
        ([*base, "--category", "fishing"], 2, "invalid choice: 'fishing'"),
        ([*base, "--category", "food", "--household", "four"], 2, "invalid int value"),
        (
            [*base, "--category", "food", "--need", "x" * 1001],
            1,
            "need: String should have at most 1000",
        ),
        (["requests", "create", "--category", "food", "--area", "w9"], 1, "unknown area 'w9'"),
        (["requests", "claim", "not-an-id"], 1, "request_id: Value error, must be a UUIDv7"),
        (["requests", "claim", uuid7()], 1, "no such request"),
        (
            ["kitchens", "stock-in", "k1", "--item", "rice", "--quantity", "lots", "--unit", "kg"],
            1,
            "quantity",
        ),
        ([*need, "--cost", "12.5", "--currency", "JPY"], 1, "JPY has 0 decimal places"),
        ([*need, "--cost", "300000", "--currency", "XYZ"], 1, "XYZ is not a currency"),
    ]:
        done = await cli(net, SITE, *args)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert NAME not in done.stderr + done.stdout
    assert await footprint(net, running) == before


async def test_unknown_routes_wrong_methods_and_unreadable_bodies_answer_in_the_error_shape(
    net: Sites, running: Running
) -> None:
    """A page reads ``error.code`` and ``error.message`` from every error: FastAPI's own
    ``{"detail": ...}`` (unknown route, wrong method, a body it cannot read) had neither."""
    app = running.service.app
    assert app is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
        before = await footprint(net, running)
        answers = await answers_in_error_shape(
            client,
            [
                ("GET", "/requests/nowhere", None, 404, "not_found"),
                ("GET", "/requests/claim", None, 405, "method_not_allowed"),
                ("DELETE", "/requests", None, 405, "method_not_allowed"),
                ("POST", "/requests", b'{"name": "Ana \xff"}', 400, "malformed"),
                ("POST", "/requests/claim", b"[" * 100_000 + b"]" * 100_000, 400, "malformed"),
            ],
        )
        assert not any("Ana" in answer.text for answer in answers)
        assert await footprint(net, running) == before
        spec = (await client.get("/openapi.json")).json()
        errors_documented_as_replies(spec)


async def test_an_oversize_http_body_is_refused_before_it_is_parsed(
    net: Sites, running: Running
) -> None:
    """As over NATS, at most 256 KiB: refused by its declared length, or as it streams in when it
    declares none (it used to be read and parsed whole, then refused by validation)."""
    app = running.service.app
    assert app is not None
    body = json.dumps(good() | {"need": "x" * 300_000}).encode()

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
        before = await footprint(net, running)
        for content in (body, streamed()):
            answer = await client.post(
                "/requests", content=content, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["code"] == "too_large"
        assert await footprint(net, running) == before
