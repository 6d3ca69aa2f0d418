"""The valve: a class below emergency crosses a link with at most a window of bytes in flight, so an
emergency message never finds the link already full of bulk.

Separate streams give each class its own source across the link, but every source shares the one
leaf connection, and nats-server lets each source put up to ~2 MB in flight before its flow control
holds it. Measured: after a link returned, an emergency message waited behind 2,181 bulk messages
(about 1 MB, 7 s on a 150 kB/s link) because the bulk source had restarted a few milliseconds first.
The only way to keep that room free is not to hand the bulk source the bytes. So the messages of the
valved classes are written to a held stream first (never sourced; the aggregates' home), and the
valve copies them, byte for byte and in order, into the class's sourced stream while less than
``window`` bytes are between here and the far end. A lower class also waits while a higher one,
on the same link, still holds anything.

What has crossed is read from the far end itself (the origin sequence of the last event of this
class that the far stream sourced from here), so a link that drops closes the valve and one that
returns opens it. Where to resume is read from the target stream (the last copy's
``Comms-Held-Seq`` header), so a restart copies nothing twice and skips nothing. Receipts are small
and cross directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from services.comms.decider import VALVED, home_context
from services.comms.events import Priority, context_of
from shared import telemetry
from shared.puller import Puller
from shared.streams import StreamSpec, ensure_stream
from shared.subjects import HUB, stream_name
from shared.sync import Side, origin_seq
from shared.waiting import cancel_and_wait, wait_event

HELD_SEQ = "Comms-Held-Seq"
WINDOW = 64 * 1024
POLL = 0.02
"""How often to ask the far end what crossed while anything is in flight."""
BATCH = 1000
IDLE = 5.0
"""A wake-up every so often even when idle, in case a wake-up message was missed."""
_log = telemetry.get_logger("aidmesh.comms.valve")


async def ensure_held_streams(nc: NATS, site: str) -> None:
    for priority in VALVED:
        ctx = home_context(priority, site)
        await ensure_stream(
            nc.jetstream(),
            StreamSpec(
                name=stream_name(ctx, site),
                subjects=(f"ev.{ctx}.{site}.>",),
                description=f"{priority} messages at {site} before the valve lets them cross",
            ),
        )


@dataclass(frozen=True, slots=True)
class Crossing:
    """One class over one link direction: from this site's held stream to ``peer``."""

    priority: Priority
    site: str
    peer: str
    """The far end: the hub, seen from a site; a destination site (or itself) from the hub."""

    def __str__(self) -> str:
        return f"{self.priority} {self.site}->{self.peer}"

    @property
    def held_ctx(self) -> str:
        return home_context(self.priority, self.site)

    @property
    def held_stream(self) -> str:
        return stream_name(self.held_ctx, self.site)

    @property
    def held_filter(self) -> str:
        audience = self.peer if self.site == HUB else HUB
        return f"ev.{self.held_ctx}.{self.site}.{audience}.>"

    @property
    def target_stream(self) -> str:
        return stream_name(context_of(self.priority), self.site)

    @property
    def copies_filter(self) -> str:
        ctx = context_of(self.priority)
        if self.site == HUB:
            return f"ev.{ctx}.{HUB}.{self.peer}.relay.>"
        return f"ev.{ctx}.{self.site}.{HUB}.msg.>"

    @property
    def far_stream(self) -> str:
        return stream_name(context_of(self.priority), self.peer)

    @property
    def far_filter(self) -> str:
        ctx = context_of(self.priority)
        return f"ev.{ctx}.{HUB}.{self.peer}.>" if self.site == HUB else f"ev.{ctx}.{self.site}.>"

    @property
    def over_a_link(self) -> bool:
        return self.peer != self.site

    def target_subject(self, held_subject: str) -> str:
        return f"ev.{context_of(self.priority)}." + held_subject[len(f"ev.{self.held_ctx}.") :]


class Valve:
    def __init__(
        self,
        nc: NATS,
        crossing: Crossing,
        *,
        window: int = WINDOW,
        ahead: list[Valve] | None = None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.crossing = crossing
        self.window = window
        self._ahead = ahead or []
        self._in_flight: deque[tuple[int, int]] = deque()  # (target seq, bytes) not yet across
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._sub: Subscription | None = None
        self.position = 0  # last held sequence copied
        self.held = 0  # held events not yet copied, as last counted
        self.copied = 0

    @property
    def in_flight(self) -> int:
        return sum(size for _, size in self._in_flight)

    def report(self) -> dict[str, Any]:
        return {
            "class": self.crossing.priority,
            "from": self.crossing.site,
            "to": self.crossing.peer,
            "held": self.held,
            "in_flight_bytes": self.in_flight,
            "window_bytes": self.window if self.crossing.over_a_link else None,
        }

    async def start(self) -> None:
        async def woken(_: Msg) -> None:
            self._wake.set()

        # Every held event is also an ordinary NATS message: it wakes an idle valve at once.
        self._sub = await self._nc.subscribe(self.crossing.held_filter, cb=woken)
        self._task = asyncio.create_task(self._run(), name=f"valve {self.crossing}")

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._resume()
                while True:
                    self._wake.clear()
                    if await self.step():
                        continue
                    waiting = bool(self._in_flight) or any(v.held for v in self._ahead)
                    await wait_event(self._wake, POLL if waiting else IDLE)  # idle until woken
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a server restarting, a stream not made yet: again
                _log.warning(
                    "comms.valve_failed", valve=str(self.crossing), error=telemetry.error_text(exc)
                )
                await asyncio.sleep(1.0)

    async def _resume(self) -> None:
        """The last copy in the target stream says how far this valve had got."""
        self._in_flight.clear()
        try:
            last = await self._js.get_last_msg(
                self.crossing.target_stream, self.crossing.copies_filter
            )
        except NotFoundError:
            self.position = 0
            return
        self.position = int((last.headers or {}).get(HELD_SEQ, "0"))

    async def step(self) -> bool:
        """Learn what crossed, copy what the window allows. True when anything moved."""
        moved = await self._learn_crossed() if self._in_flight else False
        if any(v.held for v in self._ahead):
            return moved  # a higher class on this link still waits: it goes first
        room = self.window - self.in_flight if self.crossing.over_a_link else 1 << 40
        if room <= 0:
            return moved
        batch = await self._held_after(room)
        acks = [
            await self._js.publish_async(  # written in order; the acks are awaited together
                self.crossing.target_subject(subject),
                data,
                headers={"Nats-Msg-Id": msg_id, HELD_SEQ: str(seq)},
            )
            for seq, subject, data, msg_id in batch
        ]
        for (seq, _, data, _), ack in zip(batch, await asyncio.gather(*acks), strict=True):
            self.position = seq
            self.copied += 1
            if self.crossing.over_a_link:
                self._in_flight.append((ack.seq, len(data)))
        return moved or bool(batch)

    async def _learn_crossed(self) -> bool:
        far = Side(self._nc, self.crossing.peer)
        try:
            crossed = await origin_seq(far, self.crossing.far_stream, self.crossing.far_filter)
        except Exception:  # the link is down: nothing more crossed
            return False
        before = len(self._in_flight)
        while self._in_flight and self._in_flight[0][0] <= crossed:
            self._in_flight.popleft()
        return len(self._in_flight) < before

    async def _held_after(self, room: int) -> list[tuple[int, str, bytes, str]]:
        """Held events after the position, in order, up to ``room`` bytes (at least one)."""
        stream = self.crossing.held_stream
        config: dict[str, Any] = {
            "filter_subject": self.crossing.held_filter,
            "ack_policy": "none",
            "mem_storage": True,
            "inactive_threshold": 5_000_000_000,
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": self.position + 1,
        }
        reply = await self._nc.request(
            f"$JS.API.CONSUMER.CREATE.{stream}",
            json.dumps({"stream_name": stream, "config": config}).encode(),
            timeout=5,
        )
        created = json.loads(reply.data)
        if "error" in created:
            raise RuntimeError(created["error"].get("description"))
        name = created["name"]
        self.held = int(created.get("num_pending", 0))
        puller = Puller(self._nc, stream, name)
        out: list[tuple[int, str, bytes, str]] = []
        try:
            if not self.held:
                return out
            await puller.start()
            used = 0
            while used < room and len(out) < min(self.held, BATCH):
                msgs = await puller.fetch(min(256, self.held - len(out)), 5.0)
                if not msgs:
                    break
                for m in msgs:
                    if out and used + len(m.data) > room:
                        return out
                    msg_id = (m.headers or {}).get("Nats-Msg-Id", "")
                    out.append((m.metadata.sequence.stream, m.subject, m.data, msg_id))
                    used += len(m.data)
            return out
        finally:
            await puller.stop()
            with contextlib.suppress(Exception):
                await self._nc.publish(f"$JS.API.CONSUMER.DELETE.{stream}.{name}", b"")


class Valves:
    """Every valve of one site: to the hub from a site; to each known site (and itself) at the hub,
    where sites joining later get theirs within seconds."""

    def __init__(
        self, nc: NATS, site: str, peers: Callable[[], frozenset[str]], window: int = WINDOW
    ) -> None:
        self._nc = nc
        self.site = site
        self._peers = peers
        self._window = window
        self.valves: dict[str, list[Valve]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_held_streams(self._nc, self.site)
        if self.site != HUB:
            await self._open(HUB)
        else:
            await self._open(HUB)
            self._task = asyncio.create_task(self._watch_sites(), name="valves-watch")

    async def _open(self, peer: str) -> None:
        group: list[Valve] = []
        for priority in VALVED:
            valve = Valve(
                self._nc,
                Crossing(priority, self.site, peer),
                window=self._window,
                ahead=list(group),
            )
            group.append(valve)
            await valve.start()
        self.valves[peer] = group

    async def _watch_sites(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                for peer in sorted(self._peers() - set(self.valves)):
                    await self._open(peer)
            await asyncio.sleep(2.0)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await asyncio.gather(*(v.stop() for group in self.valves.values() for v in group))

    def report(self) -> list[dict[str, Any]]:
        return [v.report() for group in self.valves.values() for v in group]
