"""The event store on JetStream: an aggregate is the history of its subject.

Appends carry ``Nats-Msg-Id`` (the event id) and ``Nats-Expected-Last-Subject-Sequence`` (the version
the writer decided on). Several events from one decision go as one atomic batch, so they land all or
nothing. A batch is dear on an R1 file stream (staged on disk before its commit, under the stream's
lock: about 3 ms each here; 275 a second from one writer, 356 from 32), so hot paths
decide one event at a time. A version is the stream sequence of the aggregate's last event (0 for
none).

Retries are resolved by reading, not by trusting the server's dedup: a retry whose first ack was lost
is answered with wrong-last-sequence (10071), or 10201 for a batch, not with a duplicate ack. So every
such answer reads the events after the expected version and compares ids and content: the same events
mean the retry is a no-op with the original result; the same ids with other content are a conflict;
anything else is a stale writer. Because an event id can only land once per subject, the same event
can never sit twice in a stream, which also keeps the hub's dedup window harmless when it sources.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from opentelemetry import trace
from opentelemetry.context import Context

from shared import subjects, telemetry
from shared.envelope import Envelope, EventPayload, EventRegistry
from shared.replies import Replies, RequestTimeout
from shared.subjects import AggregateRef

WRONG_LAST_SEQUENCE = 10071
BATCH_DUPLICATE_ID = 10201
MAX_BATCH = 1000
_tracer = trace.get_tracer("aidmesh.eventstore")


class StoreError(Exception):
    """The store could not do what was asked; the message says why."""


class ConcurrencyError(StoreError):
    """Another writer appended since this writer loaded: reload, decide again."""

    def __init__(self, ref: AggregateRef, expected: int, actual: int) -> None:
        super().__init__(
            f"{ref.kind} {ref.id} changed: expected version {expected}, found {actual}"
        )
        self.expected, self.actual = expected, actual


class EventConflict(StoreError):
    """An event id already stored with other content: a client reused an id for something else."""

    def __init__(self, event_id: str, detail: str = "") -> None:
        super().__init__(f"event id {event_id} already used for a different event{detail}")
        self.event_id = event_id


class NotOwner(StoreError):
    """Only an aggregate's owning site may write it."""


class StoreUnavailable(StoreError):
    """JetStream did not answer in time (server down or stream missing)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    envelope: Envelope[EventPayload]
    seq: int


@dataclass(frozen=True, slots=True)
class Loaded:
    events: tuple[StoredEvent, ...]
    version: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    version: int
    sequences: tuple[int, ...]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class _Raw:
    seq: int
    event_id: str
    data: bytes


class EventStore:
    """Reads and writes aggregates through the server of ``site`` (the one this process runs at)."""

    def __init__(
        self,
        nc: NATS,
        registry: EventRegistry,
        site: str,
        *,
        api_prefix: str = "$JS.API",
        timeout: float = 5.0,
    ) -> None:
        self._nc = nc
        self._replies = Replies(nc)
        self._registry = registry
        self.site = subjects.site_id(site)
        self._api = api_prefix
        self._timeout = timeout

    def stream_for(self, ref: AggregateRef) -> str:
        return subjects.stream_name(ref.context, self.site)

    async def append(
        self,
        ref: AggregateRef,
        events: Sequence[Envelope[EventPayload]],
        expected_version: int,
    ) -> AppendResult:
        if ref.site != self.site:
            raise NotOwner(f"{ref.kind} {ref.id} is owned by {ref.site}, not {self.site}")
        if not events:
            return AppendResult(version=expected_version, sequences=())
        if len(events) > MAX_BATCH:
            raise StoreError(f"one decision may produce at most {MAX_BATCH} events")
        datas = [e.encode() for e in events]
        span = _tracer.start_span(
            "eventstore.append",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "aidmesh.aggregate_kind": ref.kind,
                "aidmesh.context": ref.context,
                "aidmesh.site": ref.site,
                "aidmesh.events": len(events),
                "aidmesh.expected_version": expected_version,
                "aidmesh.correlation_id": events[0].correlation_id,
            },
        )
        try:
            ack = await self._publish(
                ref.subject, events, datas, expected_version, trace.set_span_in_context(span)
            )
            result = await self._settle(ref, events, datas, expected_version, ack)
            span.set_attribute("aidmesh.version", result.version)
            span.set_attribute("aidmesh.replayed", result.replayed)
            return result
        except Exception as exc:
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            span.end()

    async def _publish(
        self,
        subject: str,
        events: Sequence[Envelope[EventPayload]],
        datas: list[bytes],
        expected: int,
        context: Context,
    ) -> dict[str, Any]:
        headers = [self._headers(e, context) for e in events]
        headers[0]["Nats-Expected-Last-Subject-Sequence"] = str(expected)
        try:
            if len(datas) == 1:
                reply = await self._replies.request(subject, datas[0], self._timeout, headers[0])
            else:
                batch = uuid.uuid4().hex
                last = len(datas)
                for i, (data, hdrs) in enumerate(zip(datas, headers, strict=True), start=1):
                    hdrs["Nats-Batch-Id"] = batch
                    hdrs["Nats-Batch-Sequence"] = str(i)
                    if i < last:
                        await self._nc.publish(subject, data, headers=hdrs)
                hdrs["Nats-Batch-Commit"] = "1"
                reply = await self._replies.request(subject, datas[-1], self._timeout, hdrs)
        except (RequestTimeout, NoRespondersError) as exc:
            raise StoreUnavailable(f"no answer from JetStream for {subject}: {exc!r}") from None
        if reply.headers and reply.headers.get("Status") == "503":
            raise StoreUnavailable(f"no stream listens on {subject} at this site")
        ack: dict[str, Any] = json.loads(reply.data)
        return ack

    @staticmethod
    def _headers(event: Envelope[EventPayload], context: Context) -> dict[str, str]:
        headers = {"Nats-Msg-Id": event.event_id}
        telemetry.inject(headers, context)
        return headers

    async def _settle(
        self,
        ref: AggregateRef,
        events: Sequence[Envelope[EventPayload]],
        datas: list[bytes],
        expected: int,
        ack: dict[str, Any],
    ) -> AppendResult:
        error = ack.get("error")
        if error is None and not ack.get("duplicate"):
            last = int(ack["seq"])
            return AppendResult(
                version=last, sequences=tuple(range(last - len(datas) + 1, last + 1))
            )
        code = error.get("err_code") if error else None
        if error is not None and code not in (WRONG_LAST_SEQUENCE, BATCH_DUPLICATE_ID):
            raise StoreError(f"JetStream refused the append to {ref.subject}: {error}")
        stored = await self._read(ref, after=expected)
        ours = [e.event_id for e in events]
        replay = self._match(stored, ours, datas, events)
        if replay is not None:
            return replay
        if code == BATCH_DUPLICATE_ID or ack.get("duplicate"):
            # The ids were seen before: perhaps this command was decided again on newer state and
            # produced the very same events, which then sit before the expected version.
            replay = self._match(await self._read(ref, after=0), ours, datas, events)
            if replay is not None:
                return replay
            raise EventConflict(ours[0], " elsewhere in the stream")
        actual = stored[-1].seq if stored else expected
        raise ConcurrencyError(ref, expected, actual)

    def _match(
        self,
        stored: list[_Raw],
        ours: list[str],
        datas: list[bytes],
        events: Sequence[Envelope[EventPayload]],
    ) -> AppendResult | None:
        """Our events, stored already and contiguous: the original result. Same ids with other
        content: a conflict. Otherwise None."""
        ids = [s.event_id for s in stored]
        if ours[0] not in ids:
            if any(i in ids for i in ours):
                raise EventConflict(next(i for i in ours if i in ids), " in this aggregate")
            return None
        start = ids.index(ours[0])
        head = stored[start : start + len(ours)]
        if [s.event_id for s in head] != ours:
            raise EventConflict(ours[0], " in this aggregate")
        for raw, data, event in zip(head, datas, events, strict=True):
            if raw.data != data and self._registry.decode(raw.data) != event:
                raise EventConflict(event.event_id)
        return AppendResult(
            version=head[-1].seq, sequences=tuple(s.seq for s in head), replayed=True
        )

    async def load(self, ref: AggregateRef, after: int = 0) -> Loaded:
        """Every event of the aggregate after version ``after``, decoded, with the version."""
        with _tracer.start_as_current_span(
            "eventstore.load",
            attributes={"aidmesh.aggregate_kind": ref.kind, "aidmesh.context": ref.context},
        ) as span:
            raws = await self._read(ref, after=after)
            events = tuple(StoredEvent(self._registry.decode(r.data), r.seq) for r in raws)
            span.set_attribute("aidmesh.events", len(events))
            return Loaded(events=events, version=raws[-1].seq if raws else after)

    async def last_subject(self, stream: str, subject_filter: str) -> str | None:
        """The subject of the newest message in ``stream`` matching ``subject_filter`` (wildcards
        allowed), or None: a direct get, answered from the stream's index without a consumer. Finds
        which aggregate an id belongs to when a token of its subject is not known in advance."""
        body = json.dumps({"last_by_subj": subject_filter}).encode()
        try:
            msg = await self._replies.request(
                f"{self._api}.DIRECT.GET.{stream}", body, self._timeout
            )
        except RequestTimeout:
            raise StoreUnavailable(f"{stream} did not answer") from None
        headers = msg.headers or {}
        if headers.get("Status") == "404":
            return None
        subject = headers.get("Nats-Subject")
        if headers.get("Status") or not subject:
            raise StoreUnavailable(f"{stream} could not be read ({headers.get('Status')})")
        return subject

    async def _read(self, ref: AggregateRef, after: int) -> list[_Raw]:
        """Read through an ephemeral pull consumer (an ordered push consumer was seen to report
        zero pending for aggregates that had events)."""
        stream = self.stream_for(ref)
        config: dict[str, Any] = {
            "filter_subject": ref.subject,
            "ack_policy": "none",
            "mem_storage": True,
            "num_replicas": 1,
            "inactive_threshold": 10_000_000_000,
        }
        if after:
            config |= {"deliver_policy": "by_start_sequence", "opt_start_seq": after + 1}
        else:
            config["deliver_policy"] = "all"
        created = await self._api_request(
            f"{self._api}.CONSUMER.CREATE.{stream}", {"stream_name": stream, "config": config}
        )
        name, pending = created["name"], int(created.get("num_pending", 0))
        try:
            return await self._fetch(stream, name, pending) if pending else []
        finally:
            asyncio.get_running_loop().create_task(self._delete_consumer(stream, name))

    async def _fetch(self, stream: str, consumer: str, count: int) -> list[_Raw]:
        inbox = self._nc.new_inbox()
        out: list[_Raw] = []
        done = asyncio.get_running_loop().create_future()

        async def on_msg(msg: Msg) -> None:
            if msg.headers and msg.headers.get("Status"):
                if not done.done():
                    done.set_result(None)
                return
            seq = msg.metadata.sequence.stream
            out.append(_Raw(seq, (msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
            if len(out) >= count and not done.done():
                done.set_result(None)

        sub = await self._nc.subscribe(inbox, cb=on_msg)
        try:
            request = {"batch": count, "expires": int(self._timeout * 1e9)}
            await self._nc.publish(
                f"{self._api}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                json.dumps(request).encode(),
                reply=inbox,
            )
            async with asyncio.timeout(self._timeout + 1):  # not wait_for: see shared/waiting.py
                await done
        except TimeoutError:
            raise StoreUnavailable(f"reading {stream} timed out after {len(out)} events") from None
        finally:
            await sub.unsubscribe()
        return out

    async def _delete_consumer(self, stream: str, consumer: str) -> None:
        try:
            await self._nc.request(f"{self._api}.CONSUMER.DELETE.{stream}.{consumer}", b"", 2.0)
        except Exception:  # the inactive threshold removes it anyway
            return

    async def _api_request(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self._nc.request(subject, json.dumps(body).encode(), self._timeout)
        except (TimeoutError, NatsTimeout, NoRespondersError) as exc:
            raise StoreUnavailable(f"JetStream API did not answer {subject}: {exc!r}") from None
        answer: dict[str, Any] = json.loads(reply.data)
        if "error" in answer:
            raise StoreError(f"JetStream API {subject}: {answer['error'].get('description')}")
        return answer
