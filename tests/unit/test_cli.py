"""The top-level ``aidmesh`` commands given bad arguments or nothing to talk to: one sentence on
stderr and a non-zero exit, never a traceback or a wait without end."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cli import main
from shared.deployment import Deployment
from shared.linksim import Link, serve_control


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """A saved deployment whose servers and link simulators are not running (free ports)."""
    monkeypatch.setenv("AIDMESH_VAR", str(tmp_path / "var"))
    dep = Deployment.plan(tmp_path / "var", ["dili"], base_port=0)
    dep.save()
    return dep


def listener(port: int, answer: bool) -> Iterator[None]:
    """Something on the port that accepts and then says nothing (``answer`` False: stays silent;
    True: hangs up at once), as a link simulator or supervisor that is wedged or just crashed."""
    server = socket.create_server(("127.0.0.1", port))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if answer:
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    yield
    server.close()
    for conn in held:
        conn.close()


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "sites", ["Dili", "bad site", "hub", "all", "dili,dili", "dili,,x" + "y" * 40]
)
@pytest.mark.parametrize("command", [["deploy", "render"], ["deploy", "secrets"], ["up"]])
def test_bad_site_lists_are_refused_before_anything_is_written_or_started(
    command: list[str],
    sites: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: object) -> int:
        raise AssertionError("a bad site list reached the supervisor")

    monkeypatch.setattr("shared.supervisor.up", never)  # nothing may start, on any port
    extra = ["--out", str(tmp_path / "out")] if command[-1] == "render" else []
    if command == ["up"]:
        extra = ["--var", str(tmp_path / "var")]
    with pytest.raises(SystemExit) as exit_:
        main([*command, *extra, "--sites", sites])
    assert exit_.value.code == 2
    assert "--sites" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--watch", "-1"],
        ["status", "--watch", "nan"],
        ["link", "shape", "dili", "--latency-ms", "-5"],
        ["link", "shape", "dili", "--latency-ms", "inf"],
        ["link", "shape", "dili", "--bandwidth", "-1"],
        ["link", "starlink", "dili", "--up", "0"],
        ["link", "starlink", "dili", "--down", "-3"],
    ],
)
def test_bad_numbers_are_refused_by_the_parser(
    args: list[str], deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_an_unknown_site_reads_as_a_sentence(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["link", "down", "nowhere"]) == 2
    assert error_line(capsys) == (
        "aidmesh: no site 'nowhere' in this deployment (known: hub, dili)"
    )
    assert main(["link", "up", "hub"]) == 2
    assert error_line(capsys).startswith("aidmesh: hub has no link to control")


def test_nothing_running_behind_a_saved_deployment(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["link", "down", "dili"]) == 2
    assert "is not running" in error_line(capsys)
    assert main(["site", "add", "kupang"]) == 2
    assert "is not running" in error_line(capsys)


def test_a_link_simulator_that_never_answers(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in listener(deployment.sites[0].link_control_port, answer=False):
        assert main(["link", "status", "dili"]) == 2
    assert "did not answer" in error_line(capsys)


def test_a_peer_that_hangs_up_without_answering(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in listener(deployment.sites[0].link_control_port, answer=True):
        assert main(["link", "up", "dili"]) == 2
    assert "without answering" in error_line(capsys)
    for _ in listener(deployment.control_port, answer=True):
        assert main(["site", "add", "kupang"]) == 2
    assert "without answering" in error_line(capsys)


def link_simulator(control_port: int) -> Iterator[Link]:
    """A real link simulator on ``control_port``, in a thread of its own (the CLI runs its own loop)."""
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()
    link = Link("dili", 0, "127.0.0.1", 1)

    async def serve() -> None:
        async with await serve_control(link, control_port):
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield link
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--latency-ms", "1e9"], "latency_ms must be a finite number from 0 up to 60000"),
        (["--bandwidth", "1" + "0" * 30], "bandwidth_bps must be a whole number from 0 up to"),
    ],
)
def test_a_refusal_from_the_link_simulator_reads_as_its_sentence(
    args: list[str],
    sentence: str,
    deployment: Deployment,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Numbers the parser lets through and the simulator refuses (beyond what it can simulate)."""
    for link in link_simulator(deployment.sites[0].link_control_port):
        assert main(["link", "shape", "dili", *args]) == 2
        assert (link.status.latency_ms, link.status.bandwidth_bps) == (0, 0)
    assert error_line(capsys).startswith(f"aidmesh: {sentence}")


def answering(port: int, line: bytes) -> Iterator[None]:
    """A supervisor that answers every request with ``line``."""
    server = socket.create_server(("127.0.0.1", port))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(line + b"\n")

    threading.Thread(target=serve, daemon=True).start()
    yield
    server.close()


def test_a_refusal_from_the_supervisor_reads_as_its_sentence(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    refusal = (
        b'{"ok": false, "error": {"code": "invalid", "message": "site \'dili\' already exists"}}'
    )
    for _ in answering(deployment.control_port, refusal):
        assert main(["site", "add", "dili"]) == 2
    assert error_line(capsys) == "aidmesh: site 'dili' already exists"


@pytest.mark.parametrize(
    "content", ["{", '{"var": "x"}', '{"var": "x", "hub": {"site": "hub"}, "sites": []}']
)
@pytest.mark.parametrize("command", [["link", "status"], ["status"], ["site", "add", "kassala"]])
def test_an_unreadable_deployment_file_reads_as_a_sentence(
    command: list[str],
    content: str,
    deployment: Deployment,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Left by a killed ``aidmesh up`` of another version, or edited by hand."""
    deployment.state_path.write_text(content)
    assert main(command) == 2
    line = error_line(capsys)
    assert line.startswith(
        f"aidmesh: {deployment.state_path} is not a deployment file this aidmesh reads"
    )


def test_up_refuses_while_another_runs_with_the_same_data(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second ``make up`` would take over the first one's pid files and stop its servers."""

    def never(*args: object) -> None:
        raise AssertionError("a second supervisor started")

    monkeypatch.setattr("shared.supervisor.Supervisor.start", never)
    monkeypatch.setattr("shared.telemetry.configure_logging", never)
    for _ in listener(deployment.control_port, answer=False):
        assert main(["up", "--var", str(deployment.var)]) == 2
    assert error_line(capsys) == (
        f"aidmesh: aidmesh is already running with its data in {deployment.var}"
        f" (control port {deployment.control_port}): stop it first, with Ctrl-C in its terminal"
    )


@pytest.mark.parametrize("port", ["-1", "70000", "65000", "x"])
def test_a_base_port_out_of_range_is_refused_by_the_parser(
    port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object) -> int:
        raise AssertionError("a bad base port reached the supervisor")

    monkeypatch.setattr("shared.supervisor.up", never)
    with pytest.raises(SystemExit) as exit_:
        main(["up", "--var", str(tmp_path / "var"), "--base-port", port])
    assert exit_.value.code == 2
    assert "--base-port" in capsys.readouterr().err
