"""Paging the inbox, the outbox and the alert board at the edges, against a real nats-server: NATS,
HTTP and the CLI give the same pages, say whether there is more, and refuse a bad page clearly."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.comms import cli
from services.comms.api import create_app
from shared.ids import uuid7
from tests.services.comms.kit import Fleet, comms_sites
from tests.sitekit import wait_until

AMY, MEDIC = "person:amy@dili", "role:medic@dili"
Ask = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _pages(ask: Ask, query: str, params: dict[str, Any], key: str) -> list[list[str]]:
    """Every page of a list, following ``next`` until there is no more."""
    pages: list[list[str]] = []
    before = None
    while True:
        page = await ask(query, params | ({"before": before} if before else {}))
        pages.append([row[key] for row in page["items"]])
        assert page["more"] is (page["next"] is not None)
        if not page["more"]:
            return pages
        before = page["next"]


async def test_lists_page_alike_over_nats_and_http(tmp_path: Path) -> None:
    async with comms_sites(tmp_path, sites=("dili",)) as fleet:
        await fleet.list_addresses(AMY, MEDIC)
        sent = [await fleet.send("dili", AMY, [MEDIC], f"note {n}") for n in range(5)]
        raised = []
        for _ in range(3):
            raised.append(uuid7())
            alert = {"alert_id": raised[-1], "raised_by": AMY, "text": "River rising"}
            await fleet.ok("dili", "raise_alert", alert)

        async def all_there() -> bool:
            board = await fleet.ok("dili", "board", {})
            return len(await fleet.inbox(MEDIC, "dili")) == 5 and len(board["items"]) == 3

        await wait_until(all_there, timeout=30)

        async def over_nats(query: str, params: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = await fleet.ok("dili", query, params)
            return result

        app = create_app(fleet.comms["dili"], tmp_path)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dili") as client:
            paths = {"inbox": "/inbox", "outbox": "/outbox", "board": "/alerts"}

            async def over_http(query: str, params: dict[str, Any]) -> dict[str, Any]:
                answer = await client.get(paths[query], params=params)
                assert answer.status_code == 200, answer.text
                result: dict[str, Any] = answer.json()["result"]
                return result

            lists: list[tuple[str, dict[str, Any], list[str], str]] = [
                ("inbox", {"address": MEDIC, "limit": 2}, sent, "message_id"),
                ("outbox", {"sender": AMY, "limit": 2}, sent, "message_id"),
                ("board", {"limit": 2}, raised, "alert_id"),
            ]
            for query, params, made, key in lists:
                pages = await _pages(over_nats, query, params, key)
                assert [len(p) for p in pages] == ([2, 2, 1] if len(made) == 5 else [2, 1])
                assert sorted(row for p in pages for row in p) == sorted(made)
                assert await _pages(over_http, query, params, key) == pages, query


async def test_a_bad_page_is_refused_clearly(tmp_path: Path) -> None:
    async with comms_sites(tmp_path, sites=("dili",)) as fleet:
        await fleet.list_addresses(AMY, MEDIC)
        cases: list[tuple[str, dict[str, Any], str, str]] = [
            ("inbox", {"address": MEDIC, "limit": 0}, "invalid", "limit"),
            ("inbox", {"address": MEDIC, "limit": 501}, "invalid", "limit"),
            ("inbox", {"address": MEDIC, "limit": "2"}, "invalid", "limit"),  # JSON: a number
            ("inbox", {"address": MEDIC, "before": "yesterday"}, "invalid", "before"),
            ("inbox", {"address": MEDIC, "offset": 50}, "invalid", "offset"),
            ("inbox", {"address": MEDIC, "before": uuid7()}, "not_found", "this inbox"),
            ("outbox", {"before": uuid7()}, "not_found", "sent from this site"),
            ("board", {"before": uuid7()}, "not_found", "this board"),
        ]
        for query, payload, code, says in cases:
            reply = await fleet.ask("dili", query, payload)
            assert not reply.ok and reply.error is not None, payload
            assert reply.error.code == code, (payload, reply.error)
            assert says in reply.error.message + json.dumps(reply.error.details), reply.error

        app = create_app(fleet.comms["dili"], tmp_path)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dili") as client:
            lax = await client.get("/inbox", params={"address": MEDIC, "limit": "2"})
            assert lax.status_code == 200, lax.text  # in a URL every value is text
            bad = await client.get("/alerts", params={"before": "yesterday"})
            assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid")
            unknown = await client.get("/outbox", params={"before": uuid7()})
            assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
            spec = (await client.get("/openapi.json")).json()
            for path in ("/inbox", "/outbox", "/alerts"):
                names = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
                assert {"limit", "before"} <= names, path


async def test_the_cli_pages_with_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with comms_sites(tmp_path, sites=("dili",)) as fleet:
        await fleet.list_addresses(AMY, MEDIC)
        sent = [await fleet.send("dili", AMY, [MEDIC], f"note {n}") for n in range(3)]
        await wait_until(lambda: _count(fleet), timeout=30)
        monkeypatch.setenv("AIDMESH_NATS_URL", fleet.net.runtimes["dili"].server.url)
        parser = argparse.ArgumentParser()
        cli.register(parser.add_subparsers(dest="command"))

        async def aidmesh(*argv: str) -> str:
            args = parser.parse_args(argv)
            assert await asyncio.to_thread(args.handler, args) == 0
            return capsys.readouterr().out

        first = await aidmesh("msg", "inbox", MEDIC, "--limit", "2")
        expected = (await fleet.ok("dili", "inbox", {"address": MEDIC, "limit": 2}))["next"]
        assert f"(more: the next page with --before {expected})" in first
        last = json.loads(await aidmesh("msg", "inbox", MEDIC, "--before", expected, "--json"))
        assert (last["more"], len(last["items"])) == (False, 1)
        assert last["items"][0]["message_id"] in sent
        assert "(more" not in await aidmesh("msg", "outbox", "--from", AMY, "--limit", "3")
        assert "(no alerts)" in await aidmesh("alert", "board", "--site", "dili", "--limit", "1")


async def _count(fleet: Fleet) -> bool:
    return len(await fleet.inbox(MEDIC, "dili")) == 3
