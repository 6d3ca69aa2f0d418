"""The projection runner: a durable JetStream pull consumer feeding a SQLite read model.

Each fetched batch is applied in one SQLite transaction that also stores the stream position, and
only then acknowledged. The stored position, not the consumer, is the truth: on start the durable
consumer is recreated to begin right after it, and while running every delivery's consumer sequence
must follow the previous one. A gap (a delivery lost to a timed-out fetch, or messages still pending
for a process that was killed) would otherwise let later events overtake unapplied ones, so a gap
resets the consumer to the stored position. Anything redelivered at or below the position is skipped.

Bad data never stops the runner: an undecodable message, an unknown event type, or one whose handler
keeps failing goes to the dead-letter stream with the reason, and the position moves past it. A
failing handler is retried in place, in order (a nak was measured to let later messages overtake the
failed one), counting earlier deliveries too, until ``max_deliver`` attempts: a transient error
heals and a permanent one cannot loop forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import trace

from shared import telemetry
from shared.deadletter import DeadLetters
from shared.envelope import Envelope, EventDecodeError, EventPayload, EventRegistry
from shared.projection import Projection, open_db
from shared.puller import Puller
from shared.waiting import wait_event

_tracer = trace.get_tracer("aidmesh.projector")
_log = telemetry.get_logger("aidmesh.projector")

_POSITION_DDL = """
CREATE TABLE IF NOT EXISTS aidmesh_position (
    projection TEXT PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    dead_letters INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS aidmesh_dead_letter_outbox (
    id INTEGER PRIMARY KEY,
    projection TEXT NOT NULL,
    seq INTEGER NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    data BLOB NOT NULL,
    headers TEXT NOT NULL
)"""


class _HandlerFailed(Exception):
    """A handler raised during a fast (savepoint-free) batch: redo the batch carefully."""


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    batch: int = 256
    max_deliver: int = 5
    ack_wait_seconds: float = 30.0
    idle_wait_seconds: float = 1.0
    retry_backoff_seconds: float = 0.2


class ProjectionRunner:
    def __init__(
        self,
        nc: NATS,
        projection: Projection,
        registry: EventRegistry,
        *,
        db_path: Path | str,
        stream: str,
        site: str,
        filter_subjects: tuple[str, ...] = (),
        only: frozenset[str] | None = None,
        config: RunnerConfig | None = None,
    ) -> None:
        """``only``: the event types this projection reads; others are skipped, not dead-lettered
        (for a projection over another service's stream)."""
        self._nc = nc
        self._js = nc.jetstream()
        self.projection = projection
        self._only = only
        self._registry = registry
        self._db_path = str(db_path)
        self.stream = stream
        self._filters = filter_subjects
        self._config = config or RunnerConfig()
        self._dlq = DeadLetters(self._js, site)
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._puller: Puller | None = None
        self._stopping = asyncio.Event()
        self.position = 0
        self.caught_up = asyncio.Event()
        """Set once a fetch finds nothing more in the stream: the read model holds every event
        written before that moment. Cleared by ``start`` and ``rebuild``: what decides from a read
        model (a timer) waits for it rather than act on a half-replayed one."""
        self._last_delivery = 0
        self.applied = 0
        self.dead_lettered = 0

    @property
    def durable(self) -> str:
        return self.projection.name

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_db(self._db_path)
        return self._db

    async def start(self) -> None:
        self.caught_up.clear()
        self.prepare()
        await self._flush_dead_letters()
        await self._ensure_consumer()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"projection-{self.durable}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            await self._task
            self._task = None
        if self._db is not None:
            self._db.close()
            self._db = None

    async def rebuild(self) -> None:
        """Drop the read model and replay the stream from its first event."""
        running = self._task is not None
        if running:
            await self.stop()
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        self.projection.drop(db)
        db.execute("DELETE FROM aidmesh_position WHERE projection = ?", (self.durable,))
        db.execute("COMMIT")
        self.caught_up.clear()
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(self.stream, self.durable)
        if running:
            await self.start()
        else:
            self.prepare()

    async def run_until_caught_up(self, timeout: float = 60.0) -> None:
        """Process until the consumer has nothing pending (tests, the demo, one-off rebuilds).

        With the runner started this waits for its loop; otherwise it does the work itself."""
        async with asyncio.timeout(timeout):
            if self._task is not None:
                while not await self._caught_up():
                    await asyncio.sleep(0.05)
                return
            self.prepare()
            await self._flush_dead_letters()
            await self._ensure_consumer()
            puller = Puller(self._nc, self.stream, self.durable)
            await puller.start()
            try:
                while not await self._caught_up():
                    await self._step(puller)
            finally:
                await puller.stop()

    async def _caught_up(self) -> bool:
        """Nothing left to deliver, and everything delivered is applied (acks may still be in flight)."""
        info = await self._js.consumer_info(self.stream, self.durable)
        delivered = info.delivered.stream_seq if info.delivered else 0
        return not info.num_pending and self.position >= (delivered or 0)

    def prepare(self) -> None:
        """The read model's tables at the code's version: dropped and made again, from position
        zero, when the stored version or stream differs (a new version replays from the start)."""
        db = self.db
        db.executescript(_POSITION_DDL)
        row = db.execute(
            "SELECT stream, seq, version, dead_letters FROM aidmesh_position WHERE projection = ?",
            (self.durable,),
        ).fetchone()
        if row is None or row["version"] != self.projection.version or row["stream"] != self.stream:
            db.execute("BEGIN IMMEDIATE")
            self.projection.drop(db)
            self.projection.create(db)
            db.execute(
                "INSERT OR REPLACE INTO aidmesh_position VALUES (?, ?, 0, ?, 0)",
                (self.durable, self.stream, self.projection.version),
            )
            db.execute("COMMIT")
            self.position, self.dead_lettered = 0, 0
        else:
            self.projection.create(db)
            self.position, self.dead_lettered = row["seq"], row["dead_letters"]

    async def _ensure_consumer(self) -> None:
        """(Re)create the durable consumer to start right after the stored position."""
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(self.stream, self.durable)
        cfg = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.ALL,
            ack_wait=self._config.ack_wait_seconds,
            max_deliver=-1,  # the runner counts attempts and dead-letters; the server never drops
            max_ack_pending=self._config.batch * 4,
            filter_subjects=list(self._filters) or None,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if self.position else DeliverPolicy.ALL,
            opt_start_seq=self.position + 1 if self.position else None,
        )
        await self._js.add_consumer(self.stream, cfg)
        self._last_delivery = 0

    async def _run(self) -> None:
        puller = Puller(self._nc, self.stream, self.durable)
        await puller.start()
        self._puller = puller
        try:
            while not self._stopping.is_set():
                try:
                    await self._step(puller)
                except Exception as exc:  # a broken link or server restart: wait and carry on
                    _log.warning(
                        "projection.fetch_failed",
                        projection=self.durable,
                        error=telemetry.error_text(exc),
                    )
                    await wait_event(self._stopping, 1.0)
        finally:
            await puller.stop()
            self._puller = None

    async def _step(self, puller: Puller) -> None:
        msgs = await puller.fetch(self._config.batch, self._config.idle_wait_seconds)
        if msgs:
            await self._process(msgs, puller)
        else:
            self.caught_up.set()

    async def _process(self, msgs: list[Msg], puller: Puller) -> None:
        if not self._follows_on(msgs):
            _log.warning("projection.delivery_gap", projection=self.durable, position=self.position)
            puller.reset()
            await self._ensure_consumer()
            return
        tries: dict[int, int] = {}
        pending = msgs
        careful = False
        while pending:
            try:
                failed_at = await self._apply_batch(pending, tries, careful)
            except _HandlerFailed:
                careful = True  # redo this batch with a savepoint per event to isolate the failure
                continue
            except Exception:
                # Not committed (the database locked or full): these deliveries are counted as
                # followed on, so the next batch would seem to follow them and the position would
                # jump past them. Treat the next delivery as a gap: reset to the stored position.
                self._last_delivery = -1
                raise
            if failed_at is None:
                return
            pending = pending[failed_at:]
            seq = pending[0].metadata.sequence.stream
            tries[seq] = tries.get(seq, 0) + 1
            await asyncio.sleep(self._config.retry_backoff_seconds * tries[seq])
            if self._stopping.is_set():
                return  # unacknowledged: redelivered, and counted, after the restart

    def _follows_on(self, msgs: list[Msg]) -> bool:
        expected = self._last_delivery
        for msg in msgs:
            expected += 1
            if msg.metadata.sequence.consumer != expected:
                return False
        self._last_delivery = expected
        return True

    async def _apply_batch(
        self, msgs: list[Msg], tries: dict[int, int], careful: bool
    ) -> int | None:
        """Apply in one transaction with no await inside it (so runners sharing a database file never
        wait on each other's network), then send dead letters, then ack. Returns the index of a
        message whose handler failed and should be tried again, or None."""
        db = self.db
        last_done: Msg | None = None
        failed_at: int | None = None
        position, applied, dead = self.position, 0, 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for i, msg in enumerate(msgs):
                meta = msg.metadata
                seq = meta.sequence.stream
                if seq > position:
                    attempt = meta.num_delivered + tries.get(seq, 0)
                    outcome = self._apply_one(db, msg, seq, attempt, careful)
                    if outcome == "retry":
                        failed_at = i
                        break
                    position = seq
                    if outcome == "applied":
                        applied += 1
                    elif outcome == "dead":
                        dead += 1
                last_done = msg
            db.execute(
                "UPDATE aidmesh_position SET seq = ?, dead_letters = dead_letters + ? "
                "WHERE projection = ?",
                (position, dead, self.durable),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.position = position
        self.applied += applied
        self.dead_lettered += dead
        if dead:
            await self._flush_dead_letters()
        if last_done is not None:
            await last_done.ack()  # ack policy "all": one ack covers the whole applied prefix
        return failed_at

    def _apply_one(
        self, db: sqlite3.Connection, msg: Msg, seq: int, attempt: int, careful: bool
    ) -> str:
        receive = _tracer.start_span(
            f"{self.stream} receive",
            context=telemetry.extract(msg.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "aidmesh.stream_seq": seq},
        )
        try:
            try:
                event = self._registry.decode_if(msg.data, self._only)
            except EventDecodeError as exc:
                self._hold_dead_letter(db, msg, seq, exc.reason)
                return "dead"
            if event is None:
                return "skipped"
            span = _tracer.start_span(
                f"projection.apply {self.durable}",
                context=trace.set_span_in_context(receive),
                attributes={
                    "aidmesh.event_type": event.type,
                    "aidmesh.correlation_id": event.correlation_id,
                },
            )
            try:
                if not careful:
                    try:
                        self.projection.apply(db, event, seq)
                    except Exception as exc:
                        raise _HandlerFailed from exc
                    return "applied"
                return self._apply_isolated(db, msg, event, seq, attempt)
            finally:
                span.end()
        finally:
            receive.end()

    def _apply_isolated(
        self,
        db: sqlite3.Connection,
        msg: Msg,
        event: Envelope[EventPayload],
        seq: int,
        attempt: int,
    ) -> str:
        db.execute("SAVEPOINT apply_one")
        try:
            self.projection.apply(db, event, seq)
        except Exception as exc:
            db.execute("ROLLBACK TO apply_one")
            db.execute("RELEASE apply_one")
            if attempt >= self._config.max_deliver:
                reason = f"handler failed {attempt} times: {telemetry.error_text(exc)}"
                self._hold_dead_letter(db, msg, seq, reason)
                return "dead"
            _log.warning(
                "projection.apply_failed",
                projection=self.durable,
                seq=seq,
                attempt=attempt,
                error=type(exc).__name__,
            )
            return "retry"
        db.execute("RELEASE apply_one")
        return "applied"

    def _hold_dead_letter(self, db: sqlite3.Connection, msg: Msg, seq: int, reason: str) -> None:
        """Dead letters go into an outbox in the same transaction as the position that skips them,
        and are published right after the commit (and again on start-up if a crash intervened)."""
        _log.warning("projection.dead_letter", projection=self.durable, seq=seq, reason=reason)
        db.execute(
            "INSERT INTO aidmesh_dead_letter_outbox (projection, seq, subject, reason, data, headers)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.durable, seq, msg.subject, reason, msg.data, json.dumps(msg.headers or {})),
        )

    async def _flush_dead_letters(self) -> None:
        db = self.db
        rows = db.execute(
            "SELECT id, seq, subject, reason, data, headers FROM aidmesh_dead_letter_outbox "
            "WHERE projection = ? ORDER BY id",
            (self.durable,),
        ).fetchall()
        for row in rows:
            await self._dlq.send(
                consumer=self.durable,
                reason=row["reason"],
                data=row["data"],
                subject=row["subject"],
                stream=self.stream,
                seq=row["seq"],
                headers=json.loads(row["headers"]),
            )
            db.execute("DELETE FROM aidmesh_dead_letter_outbox WHERE id = ?", (row["id"],))


async def start_together(runners: Sequence[ProjectionRunner]) -> None:
    """Start runners that may fold into the same tables (comms folds a field site's held stream
    and its class stream into the same rows): every version check, and the drop a new version
    makes, happens before any of them replays. Started one by one, a later runner's drop emptied
    rows an earlier one had already replayed, and its position said they were done."""
    for runner in runners:
        runner.prepare()
    for runner in runners:
        await runner.start()
