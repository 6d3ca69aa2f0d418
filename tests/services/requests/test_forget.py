"""Forgetting a requester leaves no personal data in any stream, read model, log or span.

The services run as ``aidmesh up`` runs them (processes with their own logs and span files) at the
hub and a field site; a requester's name and phone are planted, used (claimed, read, fulfilled),
then forgotten; then every stream of both accounts at both servers (KV buckets included), every
file under the data directory (read models, logs, spans, the servers' own stores) is searched.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest

from shared.sites import Sites
from shared.subjects import HUB
from tests.services.requests.harness import (
    as_volunteer,
    command,
    ok,
    refused,
    register,
    set_up_site,
)
from tests.sitekit import read_stream, running_sites, wait_until

pytestmark = pytest.mark.slow
SITE = "dili"
NAME = "Daw Khin Myint Aye"
PHONE = "+95 9 7312 4455"
PHONE_LIKE = re.compile(r"\d[\d ()+.-]{7,}\d")
PLANTED = [NAME, "Khin Myint", PHONE, "7312 4455", "959731244", "Bo Sein Road 14"]


@asynccontextmanager
async def service_process(net: Sites, site: str, var: Path) -> AsyncIterator[Path]:
    log = var / "log" / f"requests-{site}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIDMESH_SITE": site,
        "AIDMESH_NATS_URL": net.runtimes[site].server.url,
        "AIDMESH_LOCAL_URL": net.local_url(site),
        "AIDMESH_VAR": str(var),
        "AIDMESH_HTTP_PORT": "0",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.requests"], env=env, stdout=out, stderr=out
        )
    try:
        yield log
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 60)


async def every_message(net: Sites) -> list[bytes]:
    """Every message of every stream, in both accounts, at the hub and the site."""
    found: list[bytes] = []
    for site in (HUB, SITE):
        local = await nats.connect(net.local_url(site))
        try:
            for nc in (net.nc(site), local):
                for info in await nc.jetstream().streams_info():
                    for subject, _, data in await read_stream(nc, info.config.name):
                        found.append(subject.encode() + b" " + data)
        finally:
            await local.close()
    return found


def every_file(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leaks(blob: bytes) -> list[str]:
    text = blob.decode("utf-8", errors="replace")
    found = [p for p in PLANTED if p in text]
    for run in PHONE_LIKE.finditer(text):  # the phone number, however it was formatted
        if "959731244" in "".join(ch for ch in run.group() if ch.isdigit()):
            found.append("phone digits")
    return found


async def test_forgetting_a_requester_leaves_no_personal_data_anywhere(tmp_path: Path) -> None:
    async with running_sites(tmp_path, sites=(SITE,), contexts=("requests",)) as net:
        var = net.var()
        async with service_process(net, HUB, var), service_process(net, SITE, var):
            nc = net.nc(SITE)
            await set_up_site(nc, SITE)
            await register(nc, SITE, "vol-mya", "w2-a")
            planted = command(
                category="medicine",
                urgency="urgent",
                area_id="w2-a",
                household_size=2,
                name=NAME,
                phone=PHONE,
                address="Bo Sein Road 14, flat 3",
                need=f"insulin for {NAME}, call {PHONE}",
            )
            request_id = (await ok(nc, SITE, "create_request", planted))["request_id"]
            other = command(category="food", area_id="w2-a", name="Someone Else")
            await ok(nc, SITE, "create_request", other)
            await ok(nc, SITE, "claim_request", as_volunteer("vol-mya", request_id=request_id))
            reader = {"request_id": request_id, "actor": "vol-mya", "role": "volunteer"}
            assert (await ok(nc, SITE, "read_contact", reader))["contact"]["name"] == NAME
            await ok(nc, SITE, "fulfil_request", as_volunteer("vol-mya", request_id=request_id))
            await ok(nc, SITE, "forget_contact", command(request_id=request_id))
            error = await refused(
                nc,
                SITE,
                "read_contact",
                {"request_id": request_id, "actor": "coord-aye", "role": "coordinator"},
            )
            assert error.code == "forgotten"

            async def hub_has_it() -> bool:
                summary = await ok(net.nc(HUB), HUB, "site_summary", {"site": SITE})
                return bool(summary) and summary[0]["requests"].get("fulfilled") == 1

            await wait_until(hub_has_it, timeout=60, step=0.2)
            rows = (await ok(nc, SITE, "list_requests", {"area_id": "w2-a"}))["items"]
            assert {r["request_id"]: r["contact_forgotten"] for r in rows}[request_id] == 1
            await asyncio.sleep(1)  # spans leave in batches every 0.5 s
        # The services have stopped: their logs and span files are complete.
        messages = await every_message(net)
        assert any(
            b"KV_vault_dili_contacts" in m or b"$KV.vault_dili_contacts" in m for m in messages
        )
        for message in messages:
            assert not leaks(message), message[:200]
        files = every_file(var)
        assert any(p.suffix == ".jsonl" and "traces" in p.parts for p in files), (
            "spans were written"
        )
        assert any(p.suffix == ".db" for p in files), "read models were written"
        for path, blob in files.items():
            assert not leaks(blob), f"{path} holds {leaks(blob)}"
