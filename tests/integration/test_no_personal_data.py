"""A failure that carries personal data leaves none of it in a dead letter, a log line or a span.

Exceptions quote what they were handed: a pydantic error its ``input_value``, a ``KeyError`` its key,
a ``ValueError`` whatever its author formatted in. Here a name, a phone and an e-mail are planted in
such exceptions, raised where the spine reports failures (a reaction's plan and commit, a
projection's handler, an HTTP route served as a service serves it), against a real nats-server;
then the dead-letter stream (in the account that crosses the link), the logs and the spans are
searched for them.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import httpx
import pytest
import structlog
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from opentelemetry import trace
from pydantic import BaseModel, StringConstraints

from shared import deadletter, projector, reactor, telemetry
from shared.commands import CommandHandler
from shared.decider import Decider
from shared.endpoints import Reply, install_http_errors
from shared.envelope import Envelope, EventPayload
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.natsserver import NatsServer, free_port
from shared.projector import ProjectionRunner, RunnerConfig
from shared.reactor import Planned, Reactor, ReactorConfig
from shared.service import Service, ServiceEnv
from shared.streams import StreamSpec, dead_letter_stream, ensure_stream, event_stream
from shared.subjects import AggregateRef
from tests.tally import Increment, Incremented, Tally, incremented, registry

pytestmark = pytest.mark.slow
NAME = "Daw Khin Myint Aye"
PHONE = "+95 9 7312 4455"
EMAIL = "khin.myint@example.org"
PLANTED = (NAME, "Khin Myint", PHONE, "7312 4455", EMAIL, "khin.myint")


class Contact(BaseModel):
    """Typed as an edge types a requester's contact."""

    name: Annotated[str, StringConstraints(max_length=10)]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,}$")]


def leaks(text: str) -> list[str]:
    return [p for p in PLANTED if p in text]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Every log line (structlog's and the standard library's) as a service writes it, here."""
    out = io.StringIO()
    config = structlog.get_config()
    handlers = logging.getLogger().handlers[:]
    telemetry.configure_logging("tests", "hub", stream=out)
    for module, name in ((reactor, "aidmesh.reactor"), (projector, "aidmesh.projector")):
        # loggers used before were bound to the configuration of their first use
        monkeypatch.setattr(module, "_log", telemetry.get_logger(name))
    yield out
    structlog.configure(**config)
    logging.getLogger().handlers[:] = handlers


def spans_text(traces_dir: Path) -> str:
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    return "".join(p.read_text() for p in traces_dir.glob("*.jsonl"))


async def dead_letter_reasons(nc: NATS, consumer: str, before: int) -> list[str]:
    js = nc.jetstream()
    reasons = []
    for seq in range(before + 1, (await js.stream_info("DLQ_HUB")).state.last_seq + 1):
        msg = await js.get_msg("DLQ_HUB", seq)
        if msg.headers and msg.headers[deadletter.CONSUMER] == consumer:
            reasons.append(msg.headers[deadletter.REASON])
    return reasons


async def wait_for(predicate: object, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def refuse_donor(command: Increment, state: Tally) -> Sequence[EventPayload]:
    raise ValueError(f"no donor {EMAIL} for this increment")  # a decider bug quoting its input


async def test_a_failed_reaction_dead_letters_and_logs_no_personal_data(
    nc: NATS, logs: io.StringIO, traces_dir: Path
) -> None:
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="PDR_HUB", subjects=("ev.pdr.hub.>",)))
    await ensure_stream(js, event_stream("pdhop", "hub"))
    await ensure_stream(js, dead_letter_stream("hub"))
    ref = AggregateRef("pdr", "tally", uuid7(), "hub")
    for by in (1, 2, 3):
        await js.publish(ref.subject, incremented(ref, by).encode())
    before = (await js.stream_info("DLQ_HUB")).state.last_seq
    failing = CommandHandler(
        EventStore(nc, registry, "hub"),
        Decider(decide=refuse_donor, evolve=lambda s, e: s, initial_state=Tally()),
    )

    async def plan(event: Envelope[EventPayload]) -> Planned:
        assert isinstance(event.payload, Incremented)
        if event.payload.by == 1:
            Contact.model_validate({"name": NAME, "phone": PHONE})
        if event.payload.by == 2:
            raise KeyError(EMAIL)
        target = AggregateRef("pdhop", "tally", event.aggregate_id, "hub")
        return Planned(failing, target, Increment(by=event.payload.by))

    config = ReactorConfig(max_attempts=2, retry_backoff_seconds=0.01)
    consumer = f"pd_{uuid7()[-12:]}"
    worker = Reactor(nc, consumer, registry, plan, stream="PDR_HUB", site="hub", config=config)
    await worker.start()
    try:
        await wait_for(lambda: worker.dead_lettered >= 3)
    finally:
        await worker.stop()

    reasons = await dead_letter_reasons(nc, consumer, before)
    assert len(reasons) == 3
    for reason in reasons:
        assert not leaks(reason), reason
    # what an operator needs stays: the type, the fields and pydantic's error codes
    assert sorted(reasons) == [
        "planning failed: KeyError",
        "planning failed: ValidationError: name (string_too_long), phone (string_pattern_mismatch)",
        "reaction failed 2 times: ValueError",
    ]
    assert "reactor.dead_letter" in logs.getvalue() and "reactor.failed" in logs.getvalue()
    assert not leaks(logs.getvalue()), logs.getvalue()
    assert not leaks(spans_text(traces_dir))


class Contacts:
    """A read model whose handler fails on a contact it was handed (a bug, say)."""

    name = "pd_contacts"
    version = 1

    def create(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS pd_contacts (phone TEXT PRIMARY KEY)")

    def drop(self, db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE IF EXISTS pd_contacts")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        raise LookupError(f"no row for {NAME}, {PHONE}")


async def test_a_failed_projection_dead_letters_and_logs_no_personal_data(
    nc: NATS, logs: io.StringIO, traces_dir: Path, tmp_path: Path
) -> None:
    js = nc.jetstream()
    await ensure_stream(js, StreamSpec(name="PDP_HUB", subjects=("ev.pdp.hub.>",)))
    await ensure_stream(js, dead_letter_stream("hub"))
    ref = AggregateRef("pdp", "tally", uuid7(), "hub")
    await js.publish(ref.subject, incremented(ref, 1).encode())
    before = (await js.stream_info("DLQ_HUB")).state.last_seq
    runner = ProjectionRunner(
        nc,
        Contacts(),
        registry,
        db_path=tmp_path / "contacts.db",
        stream="PDP_HUB",
        site="hub",
        config=RunnerConfig(max_deliver=2, retry_backoff_seconds=0.01),
    )
    await runner.run_until_caught_up(timeout=30)
    await runner.stop()

    assert await dead_letter_reasons(nc, "pd_contacts", before) == [
        "handler failed 2 times: LookupError"
    ]
    assert "projection.dead_letter" in logs.getvalue()
    assert not leaks(logs.getvalue()), logs.getvalue()
    assert not leaks(spans_text(traces_dir))


async def test_an_http_failure_is_logged_without_personal_data(
    nats_server: NatsServer, logs: io.StringIO, tmp_path: Path
) -> None:
    """Starlette raises a 500's exception on after the error reply, and uvicorn logs it with its
    traceback: rendered as it was, the repr of the exception (a phone as a KeyError's key)."""
    app = FastAPI()
    install_http_errors(app)

    @app.post("/contacts")
    async def contact(body: Contact) -> Reply:
        known: dict[str, str] = {}
        return Reply(ok=True, result=known[body.phone])  # a bug: the phone is the key

    @app.post("/notes")
    async def note(body: Contact) -> Reply:
        raise RuntimeError(f"cannot note {body.name}")

    port = free_port()
    env = ServiceEnv("tests", "hub", nats_server.url, None, tmp_path, port)
    service = Service(env)
    service.app = app
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):  # uvicorn starts listening in a moment
                try:
                    await client.get("/")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            for path, body in (
                ("/contacts", {"name": "Aye", "phone": "959731244550"}),
                ("/notes", {"name": "Khin Myint", "phone": "123456"}),
            ):
                answer = await client.post(path, json=body)
                assert answer.status_code == 500
                assert answer.json()["error"]["code"] == "internal"
    finally:
        await service.stop()

    text = logs.getvalue()
    assert "959731244550" not in text, text
    assert not leaks(text), text
    assert "Exception in ASGI application" in text
    assert "KeyError" in text and "RuntimeError" in text
    assert "test_no_personal_data.py" in text  # where it was raised is still there to read
