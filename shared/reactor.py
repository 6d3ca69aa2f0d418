"""A reactor: consume events from a stream, turn them into commands, commit them, then ack.

Effects are exactly once without a position table: a reaction's command id is derived from the
event's id, so a redelivered event (after a crash or a lost ack) decides into the very same events
and the store recognises them as a replay.

Each commit costs a round trip to the store, so reactions run in lanes, one per target aggregate:
lanes run concurrently, a lane keeps its order, and the commands waiting in a lane are committed
together in one append (a group commit), while the next batch is already being fetched. A message
that cannot be decoded, or whose reaction keeps failing, goes to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import context as otel_context
from opentelemetry import trace

from shared import telemetry
from shared.commands import CommandHandler, CommandMeta
from shared.deadletter import DeadLetters
from shared.envelope import Envelope, EventDecodeError, EventPayload, EventRegistry
from shared.ids import child_id
from shared.puller import Puller
from shared.subjects import AggregateRef
from shared.waiting import wait_event

_tracer = trace.get_tracer("aidmesh.reactor")
_log = telemetry.get_logger("aidmesh.reactor")


@dataclass(frozen=True, slots=True)
class Planned:
    """The command an event calls for, on which aggregate, through which handler."""

    handler: CommandHandler[Any, Any, Any]
    ref: AggregateRef
    command: object


Plan = Callable[[Envelope[EventPayload]], Awaitable[Planned | None]]
"""Decides what an event calls for. Returns None when it needs nothing (or did its own work)."""
Lane = Callable[[Envelope[EventPayload]], str]
"""Which lane an event goes to, before planning: by default its aggregate id."""


def reaction_meta(event: Envelope[EventPayload], actor: str, index: int = 0) -> CommandMeta:
    """The command metadata of a reaction: its id derives from the event's, so redelivery replays."""
    return CommandMeta(
        command_id=child_id(event.event_id, index),
        actor=actor,
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
    )


@dataclass(frozen=True, slots=True)
class ReactorConfig:
    batch: int = 256
    max_attempts: int = 5
    group: int = 64
    ack_wait_seconds: float = 30.0
    idle_wait_seconds: float = 1.0
    retry_backoff_seconds: float = 0.1


_Item = tuple[Msg, Envelope[EventPayload]]


class Reactor:
    def __init__(
        self,
        nc: NATS,
        name: str,
        registry: EventRegistry,
        plan: Plan,
        *,
        stream: str,
        site: str,
        actor: str = "system",
        filter_subjects: tuple[str, ...] = (),
        lane: Lane = lambda e: e.aggregate_id,
        only: frozenset[str] | None = None,
        config: ReactorConfig | None = None,
        deliver_new: bool = False,
    ) -> None:
        """``only``: the event types this reactor reacts to; others are acked and skipped."""
        self._only = only
        self._nc = nc
        self._js = nc.jetstream()
        self.name = name
        self.actor = actor
        self._registry = registry
        self._plan = plan
        self.stream = stream
        self._filters = filter_subjects
        self._lane_of = lane
        self._config = config or ReactorConfig()
        self._deliver_new = deliver_new
        self._dlq = DeadLetters(self._js, site)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._lanes: dict[str, list[_Item]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(self._config.batch * 2)
        self.handled = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        await self._ensure_consumer()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"reactor-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _ensure_consumer(self) -> None:
        try:
            await self._js.consumer_info(self.stream, self.name)
            return  # durable: the server remembers where this reactor got to
        except NotFoundError:
            pass
        await self._js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=self.name,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._config.ack_wait_seconds,
                max_deliver=-1,  # the reactor counts attempts and dead-letters; nothing is dropped
                max_ack_pending=self._config.batch * 4,
                filter_subjects=list(self._filters) or None,
                deliver_policy=DeliverPolicy.NEW if self._deliver_new else DeliverPolicy.ALL,
            ),
        )

    async def _run(self) -> None:
        puller = Puller(self._nc, self.stream, self.name)
        await puller.start()
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await puller.fetch(self._config.batch, self._config.idle_wait_seconds)
                except Exception as exc:  # link or server trouble: wait, carry on
                    _log.warning(
                        "reactor.fetch_failed", reactor=self.name, error=telemetry.error_text(exc)
                    )
                    await wait_event(self._stopping, 1.0)
                    continue
                if not msgs:
                    continue
                try:
                    await self.process(msgs)
                except Exception as exc:  # the store went away mid-batch (a dead letter or an
                    # ack not taken): what was not acked comes back after ack_wait; carry on
                    _log.warning(
                        "reactor.process_failed", reactor=self.name, error=telemetry.error_text(exc)
                    )
                    await wait_event(self._stopping, 1.0)
            await self.drain()
        finally:
            await puller.stop()

    async def process(self, msgs: list[Msg]) -> None:
        """Queue each message on its lane; returns once there is room for the next batch."""
        for msg in msgs:
            try:
                event = self._registry.decode_if(msg.data, self._only)
            except EventDecodeError as exc:
                await self._dead_letter(msg, exc.reason)
                continue
            if event is None:
                await self._done(msg)
                continue
            await self._room.acquire()
            key = self._lane_of(event)
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = []
                self._workers.add(asyncio.create_task(self._run_lane(key, lane)))
            lane.append((msg, event))

    async def drain(self) -> None:
        while self._workers:
            await asyncio.gather(*list(self._workers))

    async def _run_lane(self, key: str, lane: list[_Item]) -> None:
        try:
            while lane:
                chunk = lane[: self._config.group]
                del lane[: len(chunk)]
                try:
                    await self._react(chunk)
                finally:
                    for _ in chunk:
                        self._room.release()
        finally:
            del self._lanes[key]
            task = asyncio.current_task()
            if task is not None:
                self._workers.discard(task)

    async def _react(self, chunk: list[_Item]) -> None:
        """Plan each event, then commit consecutive plans for one aggregate together."""
        planned: list[tuple[_Item, Planned | None]] = []
        for item in chunk:
            try:
                planned.append((item, await self._plan(item[1])))
            except Exception as exc:  # a plan that raises is a bug or bad data: never retry forever
                await self._dead_letter(item[0], f"planning failed: {telemetry.error_text(exc)}")
        run: list[tuple[_Item, Planned]] = []
        for item, plan in planned:
            if plan is None:
                await self._done(item[0])
                continue
            if run and (run[0][1].ref != plan.ref or run[0][1].handler is not plan.handler):
                await self._commit(run)
                run = []
            run.append((item, plan))
        if run:
            await self._commit(run)

    async def _commit(self, run: list[tuple[_Item, Planned]]) -> None:
        first = run[0][1]
        items = [(plan.command, reaction_meta(event, self.actor)) for (_, event), plan in run]
        attempt = max(msg.metadata.num_delivered for (msg, _), _ in run)
        while True:
            span = _tracer.start_span(
                f"{self.stream} react {self.name}",
                context=telemetry.extract(run[0][0][0].headers),
                kind=trace.SpanKind.CONSUMER,
                attributes={"aidmesh.reactor": self.name, "aidmesh.commands": len(run)},
            )
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                results = await first.handler.handle_batch(first.ref, items)
            except Exception as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                if len(run) > 1:  # isolate the command that fails
                    for one in run:
                        await self._commit([one])
                    return
                if attempt >= self._config.max_attempts:
                    reason = f"reaction failed {attempt} times: {telemetry.error_text(exc)}"
                    await self._dead_letter(run[0][0][0], reason)
                    return
                _log.warning(
                    "reactor.failed",
                    reactor=self.name,
                    attempt=attempt,
                    error=telemetry.error_text(exc),
                )
                await asyncio.sleep(self._config.retry_backoff_seconds * attempt)
                attempt += 1
                continue
            finally:
                otel_context.detach(token)
                span.end()
            for ((msg, _), _), result in zip(run, results, strict=True):
                if isinstance(result, Exception):
                    _log.info("reactor.refused", reactor=self.name, reason=str(result))
                await self._done(msg)
            return

    async def _done(self, msg: Msg) -> None:
        self.handled += 1
        await msg.ack()

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        _log.warning("reactor.dead_letter", reactor=self.name, reason=reason)
        await self._dlq.send(
            consumer=self.name,
            reason=reason,
            data=msg.data,
            subject=msg.subject,
            stream=self.stream,
            seq=msg.metadata.sequence.stream,
            headers=msg.headers,
        )
        self.dead_lettered += 1
        await msg.ack()
