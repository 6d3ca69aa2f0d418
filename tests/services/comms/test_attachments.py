"""Attachments travel as references and are fetched on demand, sealed, once per site."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from services.comms.api import create_app
from shared.ids import uuid7
from tests.services.comms.kit import comms_sites
from tests.sitekit import wait_until

pytestmark = pytest.mark.slow
MEDIC = "role:medic@yangon-north"


async def test_an_attachment_is_fetched_from_its_site_on_first_ask(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", MEDIC)
        photo = b"\xff\xd8\xff" + b"flooded road at the bridge" + os.urandom(300_000)
        app = create_app(fleet.comms["dili"], tmp_path)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dili") as client:
            stored = await client.put(
                "/attachments",
                params={"channel": "main", "media_type": "image/jpeg"},
                content=photo,
            )
        assert stored.status_code == 200, stored.text
        ref = stored.json()["result"]
        held = await fleet.comms["dili"].attachments.store.get(ref["sha256"])
        assert b"flooded road" not in (held.data or b"")  # sealed where it is kept
        mid = await fleet.send(
            "dili", "person:amy@dili", [MEDIC], "photo of the road", attachments=[ref]
        )

        async def arrived() -> bool:
            return mid in {m["message_id"] for m in await fleet.inbox(MEDIC, "yangon-north")}

        await wait_until(arrived, timeout=30)
        (message,) = await fleet.inbox(MEDIC, "yangon-north")
        assert message["attachments"] == [ref]  # the message carried the reference only
        fetch = {"message_id": mid, "sha256": ref["sha256"]}
        got = await fleet.ok("yangon-north", "fetch_attachment", fetch)
        assert base64.b64decode(got["content"]) == photo
        assert got["media_type"] == "image/jpeg"

        # Kept at the recipient's site: a second look needs no link to the sender's site.
        await fleet.net.link("dili").down("refuse")
        again = await fleet.ok("yangon-north", "fetch_attachment", fetch)
        assert base64.b64decode(again["content"]) == photo

        # The hub relayed the reference and holds no key: it cannot open the file.
        at_hub = await fleet.ask("hub", "fetch_attachment", fetch)
        assert at_hub.error is not None and at_hub.error.code in ("unreachable", "no_key")


async def test_an_attachment_not_stored_here_cannot_be_sent(tmp_path: Path) -> None:
    async with comms_sites(tmp_path) as fleet:
        await fleet.list_addresses("person:amy@dili", MEDIC)
        fake = {"sha256": "a" * 64, "size": 10, "media_type": "image/jpeg", "site": "dili"}
        reply = await fleet.ask(
            "dili",
            "send",
            {
                "message_id": uuid7(),
                "sender": "person:amy@dili",
                "to": [MEDIC],
                "channel": "main",
                "body": "see photo",
                "attachments": [fake],
            },
        )
        assert reply.error is not None and reply.error.code == "bad_attachment"
        not_base64 = await fleet.ask(
            "dili", "attach", {"channel": "main", "content": "not base64!"}
        )
        assert not_base64.error is not None and not_base64.error.code == "invalid"
