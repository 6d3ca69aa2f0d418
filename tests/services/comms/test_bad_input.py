"""Bad input at every edge gets a clear error and changes nothing; a retry never sends twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.comms.api import create_app
from services.comms.events import CONTEXTS, MAX_ATTACHMENT_BYTES
from shared.endpoints import Reply
from shared.ids import uuid7
from shared.subjects import stream_name
from tests.httpkit import answers_in_error_shape, errors_documented_as_replies
from tests.services.comms.kit import Fleet, comms_sites, stored
from tests.sitekit import wait_until


async def _stored_at(fleet: Fleet, site: str) -> int:
    js = fleet.net.js(site)
    return sum([(await js.stream_info(stream_name(c, site))).state.messages for c in CONTEXTS])


def _send(**changes: Any) -> dict[str, Any]:
    base = {
        "message_id": uuid7(),
        "sender": "person:amy@dili",
        "to": ["role:medic@yangon-north"],
        "channel": "main",
        "body": "hello",
    }
    return base | changes


async def test_bad_input_is_refused_clearly_and_changes_nothing(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        before = await _stored_at(fleet, "dili")
        tomorrow = int((datetime.now(UTC) + timedelta(days=1)).timestamp() * 1000)
        hexed = f"{tomorrow:012x}"
        future_id = f"{hexed[:8]}-{hexed[8:]}{uuid7()[13:]}"  # made by a device a day ahead
        cases: list[tuple[dict[str, Any] | bytes, str, str]] = [
            (_send(body="x" * 4097), "invalid", "body"),
            (_send(body="é" * 2500), "too_large", "4096 bytes"),
            (_send(to=["role:nobody@yangon-north"]), "unknown_recipient", "role:nobody"),
            (_send(to=["site:atlantis"]), "unknown_recipient", "site:atlantis"),
            (_send(to=["Amy"]), "invalid", "to"),
            (_send(expires_at="2020-01-01T00:00:00Z"), "past_expiry", "already ended"),
            (_send(expires_at="9999-12-31T23:00:00-05:00"), "lifetime_too_long", "30 days"),
            (_send(expires_at="0001-01-01T00:00:00+05:00"), "past_expiry", "already ended"),
            (_send(body=""), "empty", "empty"),  # "main" is private: sealed, "" is not empty
            (_send(body=" \n\t "), "empty", "empty"),
            (_send(body="Clinic\x1b[2J"), "invalid", "body"),  # a terminal escape
            (_send(body="a\x00b"), "invalid", "body"),
            (_send(lifetime_seconds=60, expires_at="2099-01-01T00:00:00Z"), "invalid", "not both"),
            (_send(channel="nowhere"), "unknown_channel", "nowhere"),
            (_send(sender="person:amy@hub"), "bad_sender", "this site"),
            (_send(message_id="not-a-uuid"), "invalid", "message_id"),
            (_send(message_id=future_id), "bad_id", "future"),
            (_send(priority="urgentest"), "invalid", "priority"),
            (_send(surprise=1), "invalid", "surprise"),
            (b"\x00 not json", "invalid", ""),
            (b"[1, 2, 3]", "invalid", ""),
        ]
        for payload, code, says in cases:
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            msg = await fleet.net.nc("dili").request("cmd.dili.comms.send", raw, timeout=10)
            reply = Reply.model_validate_json(msg.data)
            assert not reply.ok and reply.error is not None, payload
            assert reply.error.code == code, (payload, reply.error)
            text = reply.error.message + json.dumps(reply.error.details)
            assert says in text, (says, text)
        unknown = await fleet.ask("dili", "status", {"message_id": uuid7()})
        assert unknown.error is not None and unknown.error.code == "not_found"
        read = await fleet.ask(
            "yangon-north",
            "read",
            {"command_id": uuid7(), "message_id": uuid7(), "reader": "role:medic@yangon-north"},
        )
        assert read.error is not None and read.error.code == "not_found"
        inbox = await fleet.ask("dili", "inbox", {"address": "role:medic@yangon-north"})
        assert inbox.error is not None and inbox.error.code == "not_here"
        assert await _stored_at(fleet, "dili") == before


def _alert(**changes: Any) -> dict[str, Any]:
    base = {"alert_id": uuid7(), "raised_by": "person:amy@dili", "text": "River rising"}
    return base | changes


async def test_bad_alerts_are_refused_clearly_and_change_nothing(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili")
        before = await _stored_at(fleet, "dili")
        cases: list[tuple[dict[str, Any], str, str]] = [
            (_alert(text="   "), "empty", "needs a text"),
            (_alert(text="   ", channel="main"), "empty", "needs a text"),  # sealed, not blank
            (_alert(text="é" * 600), "too_large", "1024 bytes"),
            (_alert(text="é" * 600, channel="main"), "too_large", "1024 bytes"),
            (_alert(text="Evacuate\x1b[2J"), "invalid", "text"),
        ]
        for payload, code, says in cases:
            reply = await fleet.ask("dili", "raise_alert", payload)
            assert not reply.ok and reply.error is not None, payload
            assert reply.error.code == code, (payload, reply.error)
            assert says in reply.error.message + json.dumps(reply.error.details), reply.error
        assert await _stored_at(fleet, "dili") == before
        lines = await fleet.ok("dili", "raise_alert", _alert(text="Road closed\n\tuse the bridge"))
        assert lines["raised"] is True  # lines and tabs are text


async def test_a_retried_send_is_one_message(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        payload = _send()
        first = await fleet.ok("dili", "send", payload)
        again = await fleet.ok("dili", "send", payload)  # the client timed out and retried
        assert again["message_id"] == first["message_id"]
        assert again["retry"] is True
        subject = f"ev.comms_normal.dili.hub.msg.{first['message_id']}"

        async def copies() -> int:  # the valve copies it from the held stream when it can
            return len(await stored(fleet.net.nc("dili"), "COMMS_NORMAL_DILI", subject))

        await wait_until(copies, timeout=30)
        assert await copies() == 1
        other = await fleet.ask("dili", "send", payload | {"body": "something else"})
        assert other.error is not None and other.error.code == "duplicate_id"
        racing = _send()  # two tries at once, the second in another class: one message, not two
        answers = await asyncio.gather(
            fleet.ask("dili", "send", racing),
            fleet.ask("dili", "send", racing | {"priority": "high"}),
        )
        assert sorted(a.error.code if a.error else "ok" for a in answers) == ["duplicate_id", "ok"]


async def test_the_http_api_gives_the_same_answers(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", "role:medic@yangon-north")
        app = create_app(fleet.comms["dili"], tmp_path)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dili") as client:
            sent = await client.post("/messages", json=_send())
            assert sent.status_code == 200, sent.text
            mid = sent.json()["result"]["message_id"]

            async def visible() -> bool:  # read models follow the stream within milliseconds
                return (await client.get(f"/messages/{mid}")).status_code == 200

            await wait_until(visible, timeout=30)
            status = await client.get(f"/messages/{mid}")
            assert status.json()["result"]["body"] == "hello"
            refused = await client.post("/messages", json=_send(to=["site:atlantis"]))
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "unknown_recipient"
            invalid = await client.post("/messages", json=_send(body=12))
            assert invalid.status_code == 422
            assert invalid.json()["error"]["code"] == "invalid"
            missing = await client.get(f"/messages/{uuid7()}")
            assert missing.status_code == 404
            outbox = await client.get("/outbox", params={"limit": 5})
            assert [m["message_id"] for m in outbox.json()["result"]["items"]] == [mid]
            traffic = await client.get("/traffic")
            assert traffic.status_code == 200
            spec = await client.get("/openapi.json")
            assert "/messages" in spec.json()["paths"]
        expires = datetime.now(UTC) + timedelta(minutes=5)
        result = await fleet.ok("dili", "send", _send(expires_at=expires.isoformat()))
        assert result["expires_at"].startswith(expires.isoformat(timespec="seconds")[:16])


async def test_http_errors_keep_the_reply_shape_and_the_document_says_so(tmp_path: Path) -> None:
    """Unknown routes, wrong methods and bodies FastAPI cannot read answer ``{"ok": false, "error":
    ...}`` like every other error (FastAPI's own ``{"detail": ...}`` has no ``error`` for a page to
    show); an attachment too large is refused once the limit is passed, not after holding all of it
    in memory; and the OpenAPI document describes the errors, the upload and the path ids."""
    async with comms_sites(tmp_path, sites=("dili",)) as fleet:
        app = create_app(fleet.comms["dili"], tmp_path)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dili") as client:
            before = await _stored_at(fleet, "dili")
            await answers_in_error_shape(
                client,
                [
                    ("GET", "/mesages", None, 404, "not_found"),
                    ("GET", f"/messages/{uuid7()}%2Fx", None, 404, "not_found"),
                    ("DELETE", "/messages", None, 405, "method_not_allowed"),
                    ("POST", f"/messages/{uuid7()}", b"{}", 405, "method_not_allowed"),
                    ("POST", "/messages", b'{"body": "\xff"}', 400, "malformed"),
                    ("POST", "/alerts", b"[" * 100_000 + b"]" * 100_000, 400, "malformed"),
                ],
            )

            pulled = 0

            async def upload() -> AsyncIterator[bytes]:  # a 64 MB video from a field page
                nonlocal pulled
                for _ in range(64):
                    pulled += 1
                    yield bytes(2**20)

            big = await client.put("/attachments", params={"channel": "main"}, content=upload())
            assert big.status_code == 409, big.text
            assert big.json()["error"]["code"] == "too_large"
            assert pulled <= MAX_ATTACHMENT_BYTES // 2**20 + 2, pulled
            assert await _stored_at(fleet, "dili") == before

            spec = (await client.get("/openapi.json")).json()
        errors_documented_as_replies(spec)
        upload_body = spec["paths"]["/attachments"]["put"]["requestBody"]
        assert upload_body["required"] is True
        assert "application/octet-stream" in upload_body["content"]
        ids = {
            p["name"]: p["schema"].get("pattern")
            for p in spec["paths"]["/attachments/{message_id}/{sha256}"]["get"]["parameters"]
        }
        assert ids["message_id"] and ids["sha256"] == "^[0-9a-f]{64}$"
        status = spec["paths"]["/messages/{message_id}"]["get"]["parameters"][0]
        assert status["schema"]["pattern"] == ids["message_id"]
