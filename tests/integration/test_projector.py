"""The projection runner against a real nats-server: exactly once across kill -9, rebuilds,
dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from shared import deadletter
from shared.envelope import Envelope, EventPayload, make_envelope
from shared.ids import uuid7
from shared.natsserver import NatsServer
from shared.projector import ProjectionRunner, RunnerConfig, start_together
from shared.streams import dead_letter_stream, ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Incremented, Reset, TallyProjection, incremented, registry

pytestmark = pytest.mark.slow


async def publish_events(nc: NATS, count: int, aggregates: int = 50) -> int:
    js = nc.jetstream()
    refs = [AggregateRef("tally", "tally", uuid7(), "hub") for _ in range(aggregates)]
    for i in range(count):
        ref = refs[i % aggregates]
        payload = Reset() if i % 97 == 0 else Incremented(by=i % 7 + 1)
        env = make_envelope(
            payload,
            event_id=uuid7(),
            aggregate=ref,
            occurred_at=datetime.now(UTC),
            actor="tester",
            correlation_id=uuid7(),
        )
        await js.publish_async(ref.subject, env.encode(), headers={"Nats-Msg-Id": env.event_id})
    await js.publish_async_completed()
    info = await js.stream_info("TALLY_HUB")
    return info.state.last_seq


def table(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(db_path)
    try:
        return [tuple(r) for r in db.execute(sql).fetchall()]
    finally:
        db.close()


def position(db_path: Path, name: str = "tally_totals") -> int:
    try:
        rows = table(db_path, f"SELECT seq FROM aidmesh_position WHERE projection = '{name}'")
    except sqlite3.OperationalError:
        return 0
    return int(rows[0][0]) if rows else 0


@pytest.fixture
async def fresh_stream(nc: NATS) -> None:
    js = nc.jetstream()
    # Each test starts from an empty tally stream (deny_purge is for production streams).
    with contextlib.suppress(Exception):
        await js.delete_stream("TALLY_HUB")
    await ensure_stream(js, event_stream("tally", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))


async def test_kill_minus_nine_mid_stream_applies_each_event_once(
    nc: NATS, nats_server: NatsServer, fresh_stream: None, tmp_path: Path
) -> None:
    last = await publish_events(nc, 10_000)
    db = tmp_path / "crash.db"
    cmd = [sys.executable, "-m", "tests.projection_worker", nats_server.url, str(db)]
    env = {**os.environ, "AIDMESH_VAR": str(tmp_path)}
    worker = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 60
        while position(db) < 3_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = position(db)
        assert 0 < killed_at < last, "the worker must be killed mid-stream"
        worker = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + 120
        while position(db) < last and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    print(f"killed at position {killed_at} of {last}")
    assert position(db) == last
    applied = table(db, "SELECT count(*), count(DISTINCT event_id) FROM tally_applied")
    assert applied == [(10_000, 10_000)]

    rebuilt = tmp_path / "rebuilt.db"
    runner = ProjectionRunner(
        nc,
        TallyProjection("tally_rebuild"),
        registry,
        db_path=rebuilt,
        stream="TALLY_HUB",
        site="hub",
    )
    await runner.run_until_caught_up()
    await runner.rebuild()  # and once more from zero, to show a rebuild is repeatable
    await runner.run_until_caught_up()
    await runner.stop()
    query = "SELECT aggregate, total FROM tally_totals ORDER BY aggregate"
    assert table(db, query) == table(rebuilt, query)
    query = "SELECT event_id, seq FROM tally_applied ORDER BY seq"
    assert table(db, query) == table(rebuilt, query)


async def test_bad_messages_go_to_dead_letters_and_good_ones_are_processed(
    nc: NATS, fresh_stream: None, tmp_path: Path
) -> None:
    js = nc.jetstream()
    ref = AggregateRef("tally", "tally", uuid7(), "hub")

    unknown = json.loads(incremented(ref, 1).encode())
    unknown["type"] = "TallyTeleported"
    for data in [
        incremented(ref, 1).encode(),
        b"{not json",
        incremented(ref, 2).encode(),
        json.dumps(unknown).encode(),
        incremented(ref, 13).encode(),  # the handler always raises on 13
        incremented(ref, 4).encode(),
    ]:
        await js.publish(ref.subject, data)
    dlq_before = (await js.stream_info("DLQ_HUB")).state.messages

    runner = ProjectionRunner(
        nc,
        TallyProjection("tally_dlq", poison=13),
        registry,
        db_path=tmp_path / "dlq.db",
        stream="TALLY_HUB",
        site="hub",
        config=RunnerConfig(batch=10, max_deliver=3, retry_backoff_seconds=0.01),
    )
    await runner.run_until_caught_up(timeout=30)
    await runner.stop()

    assert table(tmp_path / "dlq.db", "SELECT total FROM tally_totals") == [(1 + 2 + 4,)]
    assert runner.dead_lettered == 3
    info = await js.stream_info("DLQ_HUB")
    assert info.state.messages - dlq_before == 3
    reasons = []
    for seq in range(info.state.last_seq - 2, info.state.last_seq + 1):
        msg = await js.get_msg("DLQ_HUB", seq)
        assert msg.headers is not None
        reasons.append(msg.headers[deadletter.REASON])
        assert msg.headers[deadletter.CONSUMER] == "tally_dlq"
    assert "not JSON" in reasons[0]
    assert "unknown event type 'TallyTeleported'" in reasons[1]
    # the type, not what it said: an exception can quote the data it was handed
    assert reasons[2] == "handler failed 3 times: ValueError"


async def test_a_projection_skips_event_types_it_does_not_read(
    nc: NATS, fresh_stream: None, tmp_path: Path
) -> None:
    js = nc.jetstream()
    ref = AggregateRef("tally", "tally", uuid7(), "hub")
    for payload in (Incremented(by=2), Reset(), Incremented(by=5)):
        env = make_envelope(
            payload,
            event_id=uuid7(),
            aggregate=ref,
            occurred_at=datetime.now(UTC),
            actor="t",
            correlation_id=uuid7(),
        )
        await js.publish(ref.subject, env.encode())
    unknown = json.loads(env.encode())
    unknown["type"] = "AddedInANewerRelease"
    await js.publish(ref.subject, json.dumps(unknown).encode())
    runner = ProjectionRunner(
        nc,
        TallyProjection("tally_only"),
        registry,
        db_path=tmp_path / "only.db",
        stream="TALLY_HUB",
        site="hub",
        only=frozenset({"Incremented"}),
    )
    await runner.run_until_caught_up(timeout=30)
    await runner.stop()
    assert table(tmp_path / "only.db", "SELECT total FROM tally_totals") == [(7,)]
    assert runner.dead_lettered == 0


async def test_a_message_that_breaks_the_json_parser_is_dead_lettered_in_its_place(
    nc: NATS, fresh_stream: None, tmp_path: Path
) -> None:
    js = nc.jetstream()
    ref = AggregateRef("tally", "tally", uuid7(), "hub")

    await js.publish(ref.subject, incremented(ref, 1).encode())
    await js.publish(ref.subject, b"[" * 100_000)  # json.loads: RecursionError, not ValueError
    await js.publish(ref.subject, incremented(ref, 2).encode())
    runner = ProjectionRunner(
        nc,
        TallyProjection("tally_deep"),
        registry,
        db_path=tmp_path / "deep.db",
        stream="TALLY_HUB",
        site="hub",
    )
    await runner.start()
    try:
        await asyncio.sleep(0.5)
        last = (await js.publish(ref.subject, incremented(ref, 4).encode())).seq
        async with asyncio.timeout(10):
            while runner.position < last:
                await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert table(tmp_path / "deep.db", "SELECT total FROM tally_totals") == [(1 + 2 + 4,)]
    assert runner.dead_lettered == 1


async def test_a_batch_that_fails_to_commit_is_applied_later_not_skipped(
    nc: NATS, fresh_stream: None, tmp_path: Path
) -> None:
    js = nc.jetstream()
    ref = AggregateRef("tally", "tally", uuid7(), "hub")

    async def caught_up(seq: int) -> None:
        async with asyncio.timeout(15):
            while runner.position < seq:
                await asyncio.sleep(0.05)

    db_path = tmp_path / "locked.db"
    runner = ProjectionRunner(
        nc,
        TallyProjection("tally_locked"),
        registry,
        db_path=db_path,
        stream="TALLY_HUB",
        site="hub",
    )
    await runner.start()
    try:
        await caught_up((await js.publish(ref.subject, incremented(ref, 1).encode())).seq)
        # Someone else holds the write lock past the busy timeout (a backup, an operator's shell):
        # the batch holding event 2 cannot commit.
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        await js.publish(ref.subject, incremented(ref, 2).encode())
        await asyncio.sleep(6.5)
        other.execute("ROLLBACK")
        other.close()
        await caught_up((await js.publish(ref.subject, incremented(ref, 4).encode())).seq)
    finally:
        await runner.stop()
    assert table(db_path, "SELECT total FROM tally_totals") == [(1 + 2 + 4,)]


class SharedRows:
    """Runners of one read model over several streams fold into one table, and a new version's
    drop empties it all, as comms' held and class streams at a field site do."""

    def __init__(self, name: str, version: int) -> None:
        self.name, self.version = name, version

    def create(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS shared_rows (runner TEXT, event_id TEXT)")

    def drop(self, db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE IF EXISTS shared_rows")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        db.execute("INSERT INTO shared_rows VALUES (?, ?)", (self.name, event.event_id))


async def test_runners_of_one_model_take_a_new_version_together_and_say_when_caught_up(
    nc: NATS, fresh_stream: None, tmp_path: Path
) -> None:
    """``start_together``: every runner's version check (and the drop a new version makes) comes
    before any replay, so no runner's drop empties rows another already replayed while its
    position says they are done. ``caught_up`` is set once a runner has read all there was."""
    last = await publish_events(nc, 60, aggregates=3)
    db_path = tmp_path / "shared.db"

    def runners(version: int) -> list[ProjectionRunner]:
        return [
            ProjectionRunner(
                nc,
                SharedRows(f"shared_{i}", version),
                registry,
                db_path=db_path,
                stream="TALLY_HUB",
                site="hub",
                config=RunnerConfig(batch=5, idle_wait_seconds=0.2),
            )
            for i in range(3)
        ]

    for version in (1, 2):
        started = runners(version)
        await start_together(started)
        async with asyncio.timeout(30):
            for runner in started:
                await runner.caught_up.wait()
                assert runner.position == last, "caught up means every event then written"
        await asyncio.gather(*(runner.stop() for runner in started))
        rows = table(db_path, "SELECT runner, count(*) FROM shared_rows GROUP BY runner")
        assert rows == [(f"shared_{i}", last) for i in range(3)], version
    await started[0].rebuild()
    assert not started[0].caught_up.is_set(), "a rebuild replays: not caught up until it has"
