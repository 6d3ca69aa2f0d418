"""``aidmesh site add`` against a running supervisor when a step fails midway: the answer is one
clear error, nothing of the site is left running or written, and the same command then succeeds."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.deployment import Deployment, SiteEndpoint
from shared.linksim import exchange
from shared.natsserver import free_port, probe
from shared.plugins import ServiceLaunch
from shared.processes import Child
from shared.streams import SourceSpec
from shared.supervisor import Supervisor
from tests.sitekit import wait_linked

pytestmark = pytest.mark.slow
IDLE = "tests.integration.idle_service"
LAUNCHES = [
    ServiceLaunch("idle", IDLE, "everywhere", contexts=("tally",), http=False),
    ServiceLaunch("other", IDLE, "sites", contexts=("other",), http=False),
]


@asynccontextmanager
async def supervising(tmp: Path) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(Deployment.plan(tmp / "var", ["dili"], base_port=0), LAUNCHES)
    try:
        await supervisor.start()
        await wait_linked(supervisor.sites, "dili")
        yield supervisor
    finally:
        await supervisor.stop()


@pytest.fixture(scope="module")
async def shared_supervisor(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Supervisor]:
    """One deployment for the tests that must leave it as it was."""
    async with supervising(tmp_path_factory.mktemp("supervisor")) as supervisor:
        yield supervisor


async def ask(supervisor: Supervisor, request: bytes) -> dict[str, Any]:
    """What ``aidmesh site add`` sends and reads, on the supervisor's control port."""
    return await exchange(supervisor.deployment.control_port, request, 120)


def add(name: str) -> bytes:
    return json.dumps({"op": "add_site", "site": name}).encode()


def next_site(
    supervisor: Supervisor,
    monkeypatch: pytest.MonkeyPatch,
    then: Callable[[SiteEndpoint], None] = lambda end: None,
) -> list[SiteEndpoint]:
    """The endpoints ``site add`` plans, recorded (and ``then`` run on them) as they are planned."""
    given: list[SiteEndpoint] = []
    plan = supervisor.deployment.add_site

    def recording(site: str) -> SiteEndpoint:
        given.append(plan(site))
        then(given[-1])
        return given[-1]

    monkeypatch.setattr(supervisor.deployment, "add_site", recording)
    return given


def free(port: int) -> bool:
    """Nothing listens on it (a closed connection's TIME-WAIT does not count, as for the servers)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def assert_nothing_of(supervisor: Supervisor, end: SiteEndpoint) -> None:
    """The deployment as it was before the failed ``site add``: in memory, on disk, at the hub."""
    name, dep = end.site, supervisor.deployment
    assert name not in supervisor.sites.runtimes
    assert [e.site for e in dep.sites] == ["dili"]
    saved = Deployment.load(dep.var)
    assert [e.site for e in saved.sites] == ["dili"]
    assert not [k for k in saved.services if k.endswith(f"@{name}")]
    assert not [c for c in supervisor.children if c.name.endswith(f"@{name}")]
    assert not list(dep.run_dir.glob(f"*{name}*.pid"))
    assert not (dep.run_dir / f"{name}.conf").exists()
    assert name not in (dep.run_dir / "hub.conf").read_text()  # no leaf user for it at the hub
    assert name not in (dep.var / "secrets.json").read_text()
    for port in (end.link_port, end.link_control_port):
        assert free(port), f"port {port} of {name} is still held"
    js = supervisor.sites.js("hub")
    for stream in ("TALLY_HUB", "OTHER_HUB"):
        sources = (await js.stream_info(stream)).config.sources or []
        assert not [s for s in sources if SourceSpec.from_nats(s).domain == name]


def refusal(answer: dict[str, Any]) -> tuple[str, str]:
    assert answer["ok"] is False, answer
    message = answer["error"]["message"]
    assert "\n" not in message
    return answer["error"]["code"], message


async def test_a_site_whose_server_cannot_start_is_undone_and_can_be_added_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its client port is taken between its choice and the server's start: the server exits, and
    the link, the link's control port and the hub's leaf user set up before it are taken back."""
    async with supervising(tmp_path) as supervisor:
        squatters: list[socket.socket] = []

        def take_port(end: SiteEndpoint) -> None:
            squatters.append(socket.create_server(("127.0.0.1", end.client_port)))

        given = next_site(supervisor, monkeypatch, then=take_port)
        code, message = refusal(await ask(supervisor, add("kassala")))
        monkeypatch.undo()
        for squatter in squatters:
            squatter.close()
        assert code == "not_added"
        assert message.startswith("site 'kassala' was not added: nats-server kassala exited")
        assert "aidmesh site add kassala" in message  # what to do next
        await assert_nothing_of(supervisor, given[0])

        answer = await ask(supervisor, add("kassala"))
        assert answer["ok"] is True, answer
        await wait_linked(supervisor.sites, "kassala")
        assert probe("127.0.0.1", supervisor.deployment.endpoint("kassala").client_port)


async def test_a_site_whose_service_cannot_start_is_undone_after_its_streams_were_sourced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last step fails (the second service's process cannot be made: too many open files):
    the first service is stopped, the hub's streams stop sourcing the site, the server stops; a
    retry asked twice at once adds the site once."""
    async with supervising(tmp_path) as supervisor:
        given = next_site(supervisor, monkeypatch)
        started: list[Child] = []
        real_start = Child.start

        def start(child: Child) -> None:
            if child.name == "other@kassala":
                raise OSError(errno.EMFILE, "Too many open files")
            real_start(child)
            started.append(child)

        monkeypatch.setattr(Child, "start", start)
        code, message = refusal(await ask(supervisor, add("kassala")))
        monkeypatch.undo()
        assert code == "not_added"
        assert "Too many open files" in message
        first = next(c for c in started if c.name == "idle@kassala")
        assert first.process is None  # stopped, and its pid no longer runs
        await assert_nothing_of(supervisor, given[0])
        assert not probe("127.0.0.1", given[0].client_port)

        answers = await asyncio.gather(*(ask(supervisor, add("kassala")) for _ in range(2)))
        assert sorted(a["ok"] for a in answers) == [False, True], answers
        refused = next(a for a in answers if not a["ok"])
        assert refusal(refused) == ("invalid", "site 'kassala' already exists")
        assert [e.site for e in supervisor.deployment.sites] == ["dili", "kassala"]
        await wait_linked(supervisor.sites, "kassala")
        ours = [c for c in supervisor.children if c.name.endswith("@kassala")]
        assert sorted(c.name for c in ours) == ["idle@kassala", "other@kassala"]
        assert all(c.process is not None and alive(c.process.pid) for c in ours)


@pytest.mark.parametrize(
    ("request_line", "code"),
    [
        (b"not json", "malformed"),
        (b"[]", "malformed"),
        (b'{"op": "remove_site", "site": "dili"}', "invalid"),
        (b'{"op": "add_site", "site": 12}', "invalid"),
        (b'{"op": "add_site", "site": "Bad Name"}', "invalid"),
        (b'{"op": "add_site", "site": "dili"}', "invalid"),
        (b'{"op": "add_site", "site": "hub"}', "invalid"),
    ],
)
async def test_bad_control_requests_are_answered_and_change_nothing(
    request_line: bytes, code: str, shared_supervisor: Supervisor
) -> None:
    before = Deployment.load(shared_supervisor.deployment.var)
    assert refusal(await ask(shared_supervisor, request_line))[0] == code
    assert Deployment.load(shared_supervisor.deployment.var) == before


def test_up_that_cannot_start_says_why_in_one_line_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    """The hub's client port is taken (another nats-server, another ``aidmesh up`` with other data):
    the hub exits, and ``aidmesh up`` stops what it started and says so, without a traceback."""
    var = tmp_path / "var"
    base = free_port()
    with socket.create_server(("127.0.0.1", base)):
        done = subprocess.run(
            [sys.executable, "-m", "shared.cli", "up", "--var", str(var), "--base-port", str(base)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "AIDMESH_VAR": str(var)},
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"aidmesh: could not start: nats-server hub exited: see {var / 'run' / 'hub.log'}"
    )
    assert not (var / "deployment.json").exists()
    for pid_file in (var / "run").glob("*.pid"):
        assert not alive(int(pid_file.read_text())), pid_file


async def test_stopping_during_a_site_add_leaves_nothing_of_the_site_running(
    tmp_path: Path,
) -> None:
    """Ctrl-C while ``site add`` runs: the add fails (the hub is gone), undoes what it did, and
    nothing of the new site outlives ``aidmesh up`` (a guard: this held before it was written)."""
    async with supervising(tmp_path) as supervisor:
        adding = asyncio.create_task(supervisor.add_site("lira"))
        async with asyncio.timeout(30):  # the add is under way: the site is planned, now starting
            while not (planned := [e for e in supervisor.deployment.sites if e.site == "lira"]):
                await asyncio.sleep(0.01)
        await supervisor.stop()
        with contextlib.suppress(Exception):
            await adding
        assert not probe("127.0.0.1", planned[0].client_port), "the new site's server is running"
        assert all(not child.alive() for child in supervisor.children)
