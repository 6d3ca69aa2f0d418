"""One trace from a command through its append, the consume and the projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.client import Client as NATS
from opentelemetry import trace

from shared.commands import CommandHandler, CommandMeta
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.projector import ProjectionRunner
from shared.streams import dead_letter_stream, ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Increment, TallyProjection, registry, tally


async def test_command_append_consume_and_projection_share_one_trace(
    nc: NATS, traces_dir: Path, tmp_path: Path
) -> None:
    js = nc.jetstream()
    await ensure_stream(js, event_stream("tally", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))
    store = EventStore(nc, registry, "hub")
    ref = AggregateRef("tally", "tally", uuid7(), "hub")
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("command increment") as root:
        await CommandHandler(store, tally).handle(
            ref, Increment(by=2), CommandMeta(uuid7(), "tester", datetime.now(UTC))
        )
    trace_id = f"{root.get_span_context().trace_id:032x}"

    runner = ProjectionRunner(
        nc,
        TallyProjection("tally_traced"),
        registry,
        db_path=tmp_path / "t.db",
        stream="TALLY_HUB",
        site="hub",
    )
    await runner.run_until_caught_up()
    await runner.stop()
    provider = trace.get_tracer_provider()
    provider.force_flush()  # type: ignore[attr-defined]

    spans = [
        json.loads(line)
        for path in traces_dir.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    ours = {s["name"]: s for s in spans if s["trace_id"] == trace_id}
    assert {
        "command increment",
        "eventstore.append",
        "TALLY_HUB receive",
        "projection.apply tally_traced",
    } <= set(ours)
    assert ours["eventstore.append"]["parent_id"] == ours["command increment"]["span_id"]
    assert ours["TALLY_HUB receive"]["parent_id"] == ours["eventstore.append"]["span_id"]
    assert (
        ours["projection.apply tally_traced"]["parent_id"] == ours["TALLY_HUB receive"]["span_id"]
    )
