"""Edges shared by every service: NATS command endpoints, HTTP errors, the vault, the service runtime."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from pydantic import BaseModel, Field

from shared.commands import CommandHandler, meta
from shared.decider import Refused
from shared.endpoints import Endpoints, Reply, install_http_errors
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.natsserver import NatsServer
from shared.streams import ensure_stream, event_stream
from shared.subjects import AggregateRef
from shared.vault import Vault, master_key
from tests.tally import Increment, registry, tally


class IncrementCommand(BaseModel):
    command_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    tally_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    by: int


async def test_command_endpoint_answers_good_and_bad_input(
    nc: NATS, nats_server: NatsServer
) -> None:
    await ensure_stream(nc.jetstream(), event_stream("tally", "hub"))
    handler = CommandHandler(EventStore(nc, registry, "hub"), tally)

    async def increment(cmd: IncrementCommand) -> dict[str, int]:
        ref = AggregateRef("tally", "tally", cmd.tally_id, "hub")
        outcome = await handler.handle(
            ref, Increment(by=cmd.by, limit=10), meta(cmd.command_id, "t")
        )
        return {"total": outcome.state.total}

    endpoints = Endpoints(nc)
    endpoints.add("cmd.hub.tally.increment", IncrementCommand, increment)
    await endpoints.start()
    try:

        async def ask(body: bytes) -> Reply:
            msg = await nc.request("cmd.hub.tally.increment", body, timeout=5)
            return Reply.model_validate_json(msg.data)

        good = {"command_id": uuid7(), "tally_id": uuid7(), "by": 3}
        assert (await ask(json.dumps(good).encode())).result == {"total": 3}
        again = await ask(json.dumps(good).encode())  # a client retry after a timeout
        assert again.ok
        bad_type = await ask(json.dumps({**good, "by": "three"}).encode())
        assert bad_type.error is not None
        assert bad_type.error.code == "invalid"
        assert bad_type.error.details[0]["field"] == "by"
        assert "three" not in bad_type.model_dump_json()  # input is never echoed
        malformed = await ask(b"\x00 not json")
        assert malformed.error is not None
        assert malformed.error.code == "invalid"
        over = await ask(json.dumps({**good, "command_id": uuid7(), "by": 99}).encode())
        assert over.error is not None
        assert over.error.code == "over_limit"
        assert "limit of 10" in over.error.message
        doc = endpoints.asyncapi("tally", "1")
        channel = doc["channels"]["cmd.hub.tally.increment"]
        assert channel["bindings"]["nats"]["queue"] == "cmd.hub.tally.increment.workers"
        assert doc["components"]["schemas"]["IncrementCommand"]["required"] == [
            "command_id",
            "tally_id",
            "by",
        ]
    finally:
        await endpoints.stop()


async def test_http_errors_have_the_same_shape() -> None:
    app = FastAPI()
    install_http_errors(app)

    @app.post("/tally")
    async def post(cmd: IncrementCommand) -> dict[str, int]:
        raise Refused("would pass the limit of 10", code="over_limit")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        invalid = await client.post("/tally", json={"command_id": "x", "tally_id": "t", "by": 1})
        assert invalid.status_code == 422
        assert invalid.json()["error"]["code"] == "invalid"
        refused = await client.post(
            "/tally", json={"command_id": uuid7(), "tally_id": "t", "by": 1}
        )
        assert refused.status_code == 409
        assert refused.json() == {
            "ok": False,
            "error": {"code": "over_limit", "message": "would pass the limit of 10", "details": []},
        }


async def test_vault_forgets_by_shredding(tmp_path: Path, nats_server: NatsServer) -> None:
    import nats

    local = await nats.connect(nats_server.url)
    vault = await Vault(
        local, "dili", "contacts", master_key(tmp_path / "k"), tmp_path / "keys.db"
    ).open()
    record = {"name": "Daw Khin Myint", "phone": "+95 9 7312 4455"}
    await vault.put("req-1", record)
    assert await vault.get("req-1") == record
    raw = await vault.kv.get("req-1")
    assert b"Khin" not in (raw.value or b"")
    await vault.forget("req-1")
    assert await vault.get("req-1") is None
    assert b"Khin" not in (tmp_path / "keys.db").read_bytes()
    (tmp_path / "bad").write_bytes(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        master_key(tmp_path / "bad")
    vault.close()
    await local.close()


async def test_vault_commits_concurrent_keys_in_groups(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    import asyncio

    import nats

    local = await nats.connect(nats_server.url)
    vault = await Vault(
        local, "dili", "many", master_key(tmp_path / "k"), tmp_path / "keys.db"
    ).open()
    records = {f"ref-{i}": {"name": f"person {i}"} for i in range(200)}
    await asyncio.gather(*(vault.put(ref, rec) for ref, rec in records.items()))
    assert [await vault.get(ref) for ref in records] == list(records.values())
    await asyncio.gather(*(vault.forget(ref) for ref in list(records)[:100]))
    assert await vault.get("ref-0") is None
    assert await vault.get("ref-150") == {"name": "person 150"}
    vault.close()
    await local.close()


class Size(BaseModel):
    n: int


async def test_an_answer_that_cannot_be_sent_still_gets_an_error_reply(nc: NATS) -> None:
    async def listing(cmd: Size) -> object:
        if cmd.n == 0:
            return object()  # a handler bug: nothing JSON can say
        return ["x" * 1000] * cmd.n  # a query whose answer outgrows the server's max_payload

    endpoints = Endpoints(nc)
    endpoints.add("cmd.hub.edge.listing", Size, listing)
    await endpoints.start()
    try:

        async def ask(n: int) -> Reply:
            msg = await nc.request("cmd.hub.edge.listing", json.dumps({"n": n}).encode(), timeout=2)
            return Reply.model_validate_json(msg.data)

        too_big = await ask(nc.max_payload // 1000 + 10)
        assert too_big.error is not None
        assert too_big.error.code == "too_large"
        broken = await ask(0)
        assert broken.error is not None
        assert broken.error.code == "internal"
        assert (await ask(2)).result == ["x" * 1000] * 2  # the subscription serves on
    finally:
        await endpoints.stop()
