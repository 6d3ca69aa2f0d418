"""The link simulator: an asyncio TCP proxy between a site's nats-server and the hub, controllable at
run time, so outages happen on purpose and on the clock.

States: ``up``; ``down`` with ``refuse`` (connections are cut and new ones refused, as when the dish
loses power) or ``freeze`` (connections stay open and nothing moves either way, as when the sky is
blocked: neither end notices until its pings time out). Added latency, a bandwidth cap in bytes per
second, and a ``starlink`` schedule of up/down windows. Bytes are counted each way.

Control: one JSON object per line on the control port, e.g. ``{"op": "down", "mode": "freeze"}``;
the answer is the link's status as one JSON line, or a refusal in the reply shape of
``shared.endpoints`` (``{"ok": false, "error": {"code", "message"}}``) that changed nothing.
``aidmesh link ...`` speaks this.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["refuse", "freeze"]
MODES: tuple[Mode, ...] = ("refuse", "freeze")
CHUNK = 64 * 1024
CONTROL_LINE_LIMIT = 64 * 1024  # asyncio's default stream limit, named so the refusal can say it
# Bounds of what can be simulated: a minute of latency each way already holds every ping past the
# servers' 30 s limit (an outage, which ``down --freeze`` states plainly); a cap above 10 GB/s is no
# cap on loopback, and a larger whole number would overflow the shaper's float arithmetic; a
# starlink window of more than a day is a typo.
MAX_LATENCY_MS = 60_000.0
MAX_BANDWIDTH_BPS = 10**10
MAX_WINDOW_S = 86_400.0


class Refusal(ValueError):
    """A control request the link will not apply; it changed nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _number(key: str, value: object, high: float, *, above_zero: bool = False) -> float:
    """``value`` as JSON gave it, checked: strict as the command endpoints are (``true`` is not 1,
    ``"20"`` is not 20), finite (``Infinity`` would hold every byte for ever, ``NaN`` compares false
    with every bound) and within bounds (0 s up and 0 s down toggles the link in a busy loop). The
    message names the field, never the value."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or not 0 <= value <= high
        or (above_zero and value == 0)
    ):
        low = "above 0" if above_zero else "from 0"
        raise Refusal("invalid", f"{key} must be a finite number {low} up to {high:g}")
    return value


def _whole(key: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise Refusal("invalid", f"{key} must be a whole number from 0 up to {high:,}")
    return value


def _mode(value: object) -> Mode:
    for mode in MODES:
        if value == mode:
            return mode
    raise Refusal("invalid", f"mode must be one of {', '.join(MODES)}")


def refused(code: str, message: str) -> dict[str, Any]:
    """An error answer in the reply shape of ``shared.endpoints`` (not imported: the simulator runs
    on its own in the container deployment and needs nothing but the standard library)."""
    return {"ok": False, "error": {"code": code, "message": message, "details": []}}


@dataclass
class LinkStatus:
    name: str
    state: Literal["up", "down"] = "up"
    mode: Mode = "refuse"
    latency_ms: float = 0.0
    bandwidth_bps: int = 0  # bytes per second each way; 0 means unlimited
    schedule: tuple[float, float] | None = None  # (up seconds, down seconds)
    bytes_up: int = 0  # site -> hub
    bytes_down: int = 0  # hub -> site
    connections: int = 0
    changed_at: float = field(default_factory=time.time)
    outages: int = 0


class _Shaper:
    """A token bucket per direction: a thin link stays thin however many connections share it."""

    def __init__(self, status: LinkStatus) -> None:
        self._status = status
        self._allowance = 0.0
        self._last = time.monotonic()

    async def take(self, size: int) -> None:
        rate = self._status.bandwidth_bps
        if rate <= 0:
            return
        while True:
            now = time.monotonic()
            self._allowance = min(float(rate), self._allowance + (now - self._last) * rate)
            self._last = now
            if self._allowance >= size or self._allowance >= rate:
                self._allowance -= size
                return
            await asyncio.sleep(max(0.001, (min(size, rate) - self._allowance) / rate))


class Link:
    def __init__(
        self,
        name: str,
        listen_port: int,
        target_host: str,
        target_port: int,
        listen_host: str = "127.0.0.1",
    ) -> None:
        self.status = LinkStatus(name)
        self._listen_host = listen_host
        self._listen_port = listen_port
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._open = asyncio.Event()  # set while bytes may flow
        self._open.set()
        self._conns: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._shapers = {"up": _Shaper(self.status), "down": _Shaper(self.status)}
        self._schedule_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listen()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, self._listen_host, self._listen_port, reuse_address=True
            )

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def close(self) -> None:
        if self._schedule_task:
            self._schedule_task.cancel()
        await self._unlisten()
        self._cut_all()
        self._open.set()  # release pumps held by a frozen link so they can finish on their own
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=2.0)

    # --- control -------------------------------------------------------------------------------

    async def up(self) -> None:
        await self._listen()  # first: a port taken meanwhile leaves the link reading down, as it is
        self.status.state = "up"
        self.status.changed_at = time.time()
        self._open.set()

    async def down(self, mode: Mode = "refuse") -> None:
        if self.status.state == "down" and self.status.mode == mode:
            return
        self.status.state, self.status.mode = "down", mode
        self.status.changed_at = time.time()
        self.status.outages += 1
        self._open.clear()
        if mode == "refuse":
            await self._unlisten()
            self._cut_all()

    def shape(self, latency_ms: float | None, bandwidth_bps: int | None) -> None:
        """None leaves a figure as it is. Both are checked before either is set (``Refusal``)."""
        if latency_ms is not None:
            latency_ms = _number("latency_ms", latency_ms, MAX_LATENCY_MS)
        if bandwidth_bps is not None:
            bandwidth_bps = _whole("bandwidth_bps", bandwidth_bps, MAX_BANDWIDTH_BPS)
        if latency_ms is not None:
            self.status.latency_ms = latency_ms
        if bandwidth_bps is not None:
            self.status.bandwidth_bps = bandwidth_bps

    def starlink(self, up_s: float, down_s: float, mode: Mode = "freeze") -> None:
        """Alternate up and down windows until told otherwise (``Refusal`` for windows that are not
        finite, or not above 0, or longer than a day: the running schedule stays)."""
        up_s = _number("up_s", up_s, MAX_WINDOW_S, above_zero=True)
        down_s = _number("down_s", down_s, MAX_WINDOW_S, above_zero=True)
        mode = _mode(mode)
        if self._schedule_task:
            self._schedule_task.cancel()
        self.status.schedule = (up_s, down_s)

        async def cycle() -> None:
            while True:
                await self.up()
                await asyncio.sleep(up_s)
                await self.down(mode)
                await asyncio.sleep(down_s)

        self._schedule_task = asyncio.create_task(cycle())

    def stop_schedule(self) -> None:
        if self._schedule_task:
            self._schedule_task.cancel()
            self._schedule_task = None
        self.status.schedule = None

    async def control(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request, checked whole before any of it is applied (``Refusal`` otherwise)."""
        op = request.get("op")
        if op == "up":
            try:
                await self._listen()
            except OSError as exc:
                message = f"cannot listen on port {self._listen_port} again: {exc.strerror}"
                raise Refusal("unavailable", message) from None
            self.stop_schedule()
            await self.up()
        elif op == "down":
            mode = _mode(request.get("mode", "refuse"))
            self.stop_schedule()
            await self.down(mode)
        elif op == "shape":
            self.shape(request.get("latency_ms"), request.get("bandwidth_bps"))
        elif op == "starlink":
            up_s: Any = request.get("up_s")  # as JSON gave them: starlink checks them
            down_s: Any = request.get("down_s")
            self.starlink(up_s, down_s, request.get("mode", "freeze"))
        elif op == "reset_counters":
            self.status.bytes_up = self.status.bytes_down = 0
        elif op != "status":
            ops = "up, down, shape, starlink, reset_counters, status"
            raise Refusal("invalid", f"unknown op: use {ops}")
        self.status.connections = len(self._conns)
        return asdict(self.status)

    # --- data path ------------------------------------------------------------------------------

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.status.state == "down" and self.status.mode == "refuse":
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        try:
            await self._open.wait()  # a frozen link accepts, then says nothing
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                writer.transport.abort()
                return
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pump(reader, up_writer, "up"),
                self._pump(up_reader, writer, "down"),
                return_exceptions=True,
            )
            for w in (writer, up_writer):
                self._writers.discard(w)
                with contextlib.suppress(Exception):
                    w.transport.abort()
        finally:
            self._writers.discard(writer)
            self._conns.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str
    ) -> None:
        shaper = self._shapers[way]
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                await self._open.wait()  # frozen: hold the bytes until the link returns
                if self.status.latency_ms:
                    await asyncio.sleep(self.status.latency_ms / 1000)
                await shaper.take(len(data))
                await self._open.wait()
                writer.write(data)
                if way == "up":
                    self.status.bytes_up += len(data)
                else:
                    self.status.bytes_down += len(data)
                await writer.drain()
        finally:
            await self._open.wait()  # while frozen, not even the close crosses the link
            with contextlib.suppress(Exception):
                writer.transport.abort()


async def serve_control(link: Link, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # over the limit: the reader dropped what it held of the line
                    message = f"a control request is one line of at most {CONTROL_LINE_LIMIT} bytes"
                    answer = refused("too_large", message)
                else:
                    if not line:
                        break
                    answer = await _answer(link, line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass  # the asker left before its answer
        finally:
            writer.close()

    return await asyncio.start_server(
        handle, host, port, reuse_address=True, limit=CONTROL_LINE_LIMIT
    )


async def _answer(link: Link, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except ValueError:  # not JSON, not UTF-8
        return refused("malformed", "a control request is one JSON object per line")
    if not isinstance(request, dict):
        return refused("malformed", "a control request is one JSON object per line")
    try:
        return await link.control(request)
    except Refusal as exc:
        return refused(exc.code, exc.message)


async def request(port: int, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one control request to a running link simulator (or the supervisor's control port,
    which speaks the same one JSON line each way)."""
    return await exchange(port, json.dumps(body).encode(), timeout)


async def exchange(port: int, line: bytes, timeout: float = 5.0) -> dict[str, Any]:
    """One line out, one JSON answer back: ``request`` as bytes, also for a line that is not JSON."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(line + b"\n")
        await writer.drain()
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), timeout))
        return answer
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    link = Link(args.name, args.listen, args.target_host, args.target_port, args.host)
    await link.start()
    control = await serve_control(link, args.control, args.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    control.close()
    await link.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.linksim")
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target-host", default="127.0.0.1")
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
