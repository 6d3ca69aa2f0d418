"""``aidmesh demo comms``: a scripted exchange against the running deployment (``make up``).

A coordinator at the first field site sends an emergency message to a medic role at the second,
sealed on channel ``main``; the medic reads it; the coordinator sees custody, delivery and the read
receipt; an alert goes to every site and is acknowledged; the bytes per class are shown.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shared.cliclient import send, site_url
from shared.deployment import Deployment
from shared.ids import uuid7
from shared.subjects import HUB, command_subject


async def _ask(site: str, command: str, payload: dict[str, Any]) -> Any:
    reply = await send(site_url(site), command_subject(site, "comms", command), payload)
    if not reply.ok:
        assert reply.error is not None
        raise RuntimeError(f"{command} at {site}: {reply.error.code}: {reply.error.message}")
    return reply.result


async def _until(what: str, check: Any, timeout: float = 60.0) -> Any:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s (is every link up?)")


async def _channel(sites: list[str]) -> None:
    opened = await send(
        site_url(HUB),
        command_subject(HUB, "comms", "open_channel"),
        {"command_id": uuid7(), "name": "main"},
    )
    if not opened.ok and (opened.error is None or opened.error.code != "exists"):
        raise RuntimeError(f"open channel main: {opened.error}")
    first = await send(
        site_url(sites[0]), command_subject(sites[0], "comms", "set_key"), {"channel": "main"}
    )
    if first.ok:  # a fresh key: every site of the channel gets the same one
        for site in sites[1:]:
            await _ask(site, "set_key", {"channel": "main", "key": first.result["key"]})
    print("channel main: open at the hub, its key held at", ", ".join(sites))


async def _demo() -> None:
    sites = [s.site for s in Deployment.load().sites][:2]
    if len(sites) < 2:
        raise RuntimeError("the demo needs two field sites")
    a, b = sites
    coordinator, medic = f"person:coordinator@{a}", f"role:medic@{b}"
    await _channel(sites)
    for address in (coordinator, medic):
        site = address.rsplit("@", 1)[1]
        await _ask(site, "list_address", {"command_id": uuid7(), "address": address})

    async def known() -> bool:
        return medic in (await _ask(a, "directory", {}))["addresses"]

    await _until(f"{medic} known at {a}", known)
    mid = uuid7()
    text = "Flooding at the river crossing: bring the boat kit to ward 4 now."
    await _ask(
        a,
        "send",
        {
            "message_id": mid,
            "sender": coordinator,
            "to": [medic],
            "priority": "emergency",
            "channel": "main",
            "body": text,
            "lifetime_seconds": 3600,
        },
    )
    print(f"{coordinator} sent emergency message {mid}")

    async def arrived() -> Any:
        inbox = await _ask(b, "inbox", {"address": medic})
        return [m for m in inbox["items"] if m["message_id"] == mid]

    found = await _until("delivery", arrived)
    print(f"{medic} inbox at {b}: {found[0]['body']!r}")
    await _ask(b, "read", {"command_id": uuid7(), "message_id": mid, "reader": medic})

    async def read() -> Any:
        status = await _ask(a, "status", {"message_id": mid})
        return status if status["state"] == "read" else None

    status = await _until("read receipt", read)
    for d in status["destinations"]:
        print(f"  at {a}, the sender sees {d['site']}: {d['state']}, read by {d['read_by']}")
    hub = await _ask(HUB, "status", {"message_id": mid})
    print(f"  the hub relayed it without reading it: body at the hub = {hub['body']!r}")
    alert_id = uuid7()
    await _ask(
        a,
        "raise_alert",
        {"alert_id": alert_id, "raised_by": coordinator, "severity": "evacuate", "text": text},
    )

    async def arrived_alert() -> Any:
        return (await _ask(b, "board", {"limit": 5}))["items"]

    await _until(f"alert at {b}", arrived_alert)
    await asyncio.sleep(1.0)
    await _ask(b, "ack_alert", {"command_id": uuid7(), "alert_id": alert_id, "by": medic})

    async def acknowledged() -> Any:
        board = await _ask(a, "board", {"limit": 5})
        mine = [x for x in board["items"] if x["alert_id"] == alert_id]
        return mine if mine and any(s["acknowledged_at"] for s in mine[0]["sites"]) else None

    board = await _until("acknowledgement", acknowledged)
    for s in board[0]["sites"]:
        print(
            f"  alert at {s['site']}: received {bool(s['received_at'])}, acked by {s['acknowledged_by']}"
        )
    traffic = await _ask(HUB, "traffic", {})
    for row in traffic["events"]:
        print(f"  link {row['site']} {row['direction']} {row['class']}: {row['bytes']:,} B")


def run() -> int:
    try:
        asyncio.run(_demo())
    except (RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f"comms demo failed: {exc}")
        return 1
    return 0
