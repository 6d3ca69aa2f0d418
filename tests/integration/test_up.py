"""``aidmesh up`` as a newcomer runs it: starts, answers ``aidmesh status``, stops cleanly on Ctrl-C
with no process left behind, and a restart finds the same events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest

from shared.commands import CommandHandler, CommandMeta
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.streams import ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Increment, registry, tally

pytestmark = pytest.mark.slow
AIDMESH = [sys.executable, "-m", "shared.cli"]


def start_up(var: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "AIDMESH_VAR": str(var)}
    proc = subprocess.Popen(
        [*AIDMESH, "up", "--base-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (var / "deployment.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"aidmesh up did not come up:\n{out}")
        time.sleep(0.1)
    return proc


def pids_of(var: Path) -> list[int]:
    data = json.loads((var / "deployment.json").read_text())
    pids = [s["pid"] for s in data["services"].values()]
    pids += [int(p.read_text()) for p in (var / "run").glob("*.pid")]
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    return out


async def test_up_status_ctrl_c_and_restart_keep_the_events(tmp_path: Path) -> None:
    var = tmp_path / "var"
    proc = start_up(var)
    try:
        status = subprocess.run(
            [*AIDMESH, "status"],
            check=False,
            env={**os.environ, "AIDMESH_VAR": str(var)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert "server up" in status.stdout
        services = json.loads((var / "deployment.json").read_text())["services"]
        comms = next(v for v in services.values() if v["service"] == "comms")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{comms['http_port']}") as web:
            nats_api = (await web.get("/asyncapi.json")).json()
        assert f"cmd.{comms['site']}.comms.send" in nats_api["channels"]
        url = json.loads((var / "deployment.json").read_text())["hub"]["client_port"]
        nc = await nats.connect(f"nats://127.0.0.1:{url}")
        await ensure_stream(nc.jetstream(), event_stream("tally", "hub"))
        ref = AggregateRef("tally", "tally", uuid7(), "hub")
        handler = CommandHandler(EventStore(nc, registry, "hub"), tally)
        for i in range(1, 21):
            await handler.handle(ref, Increment(by=i), CommandMeta(uuid7(), "t", datetime.now(UTC)))
        await nc.close()
        pids = pids_of(var)
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out
    assert pids
    assert not [p for p in pids if alive(p)], "a process outlived Ctrl-C"
    assert not (var / "deployment.json").exists()

    proc = start_up(var)
    try:
        port = json.loads((var / "deployment.json").read_text())["hub"]["client_port"]
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        state, _ = await CommandHandler(EventStore(nc, registry, "hub"), tally).state_of(ref)
        await nc.close()
    finally:
        stop(proc)
    assert state.total == sum(range(1, 21))
    assert state.increments == 20


def aidmesh(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIDMESH, *args],
        check=False,
        env={**os.environ, "AIDMESH_VAR": str(var)},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_link_down_work_link_up_and_status_shows_the_backlog_drain(tmp_path: Path) -> None:
    from shared import streams as st
    from shared import topology
    from tests.sitekit import wait_until, write

    var = tmp_path / "var"
    proc = start_up(var)
    try:
        dep = json.loads((var / "deployment.json").read_text())
        dili = next(s for s in dep["sites"] if s["site"] == "dili")
        site_nc = await nats.connect(f"nats://127.0.0.1:{dili['client_port']}")
        hub_nc = await nats.connect(f"nats://127.0.0.1:{dep['hub']['client_port']}")
        # The context a service would own: its streams and the hub's source, as the supervisor makes them.
        await st.ensure_stream(site_nc.jetstream(), topology.site_stream("tally", "dili"))
        await st.ensure_stream(hub_nc.jetstream(), topology.hub_stream("tally", ["dili"]))

        def figures() -> dict[str, object]:
            out = aidmesh(var, "status", "--json")
            report = json.loads(out.stdout)
            return next(s for s in report if s["site"] == "dili")["link"]

        # Services write their own start-up events (directories, registrations): let those cross first, so
        # the backlog below is exactly the 200 events this test writes.
        await wait_until(lambda: figures()["waiting_up"] == 0, timeout=60, step=0.2)
        assert aidmesh(var, "link", "down", "dili").returncode == 0
        await write(site_nc, "dili", [AggregateRef("tally", "tally", uuid7(), "dili")], 200)

        down = figures()
        assert down["state"] == "down (refuse)"
        assert down["waiting_up"] == 200
        assert down["lag_s"] >= 0
        assert down["in_sync"] is False
        text = aidmesh(var, "status").stdout
        assert "NOT in sync" in text

        assert aidmesh(var, "link", "up", "dili").returncode == 0
        took = await wait_until(lambda: figures()["waiting_up"] == 0, timeout=60, step=0.2)
        print(f"backlog drained {took:.1f}s after 'aidmesh link up dili'")
        after = figures()
        assert after["in_sync"] is True
        assert after["state"] == "up"
        await site_nc.close()
        await hub_nc.close()
    finally:
        stop(proc)
