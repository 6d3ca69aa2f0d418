"""Logs and traces that cross services and sites, and never carry personal data.

Logs are structlog JSON lines with service, site, trace id, span id and correlation id bound. Spans go
to a JSON-lines file under ``var/traces`` by default (a field node has no collector) or over OTLP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Trace context crosses NATS in W3C ``traceparent`` headers, so
one trace follows a command through its events into every projection and service that reacts.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TextIO

import nats.errors
import structlog
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import ValidationError

from shared.decider import Refused
from shared.envelope import EventDecodeError

_PROPAGATOR = TraceContextTextMapPropagator()
# Keys whose values may hold personal data, as the edges' inputs name them: dropped from every log
# line whatever the caller passed, at any depth (a whole input or record logged as a dict).
REDACTED_KEYS = frozenset(
    {
        "name",
        "phone",
        "address",
        "contact",
        "body",
        "text",
        "need",
        "need_text",
        "note",
        "email",
        "display_name",
    }
)


class JsonLinesSpanExporter(SpanExporter):
    """One compact JSON object per finished span, appended to a file a person can grep."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(_span_record(s), separators=(",", ":")) + "\n" for s in spans]
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.writelines(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "service": span.resource.attributes.get("service.name"),
        "site": span.resource.attributes.get("aidmesh.site"),
        "attributes": dict(span.attributes or {}),
        "links": [f"{link.context.trace_id:032x}" for link in span.links],
    }


class Telemetry:
    """What :func:`configure` set up, so a process can flush it on the way out."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def tracer(self, name: str = "aidmesh") -> trace.Tracer:
        return self.provider.get_tracer(name)

    def shutdown(self) -> None:
        self.provider.force_flush()
        self.provider.shutdown()


def configure(
    service: str,
    site: str,
    *,
    var_dir: Path | None = None,
    level: str = "INFO",
    stream: TextIO | None = None,
) -> Telemetry:
    configure_logging(service, site, level=level, stream=stream)
    return Telemetry(configure_tracing(service, site, var_dir=var_dir))


def configure_tracing(service: str, site: str, *, var_dir: Path | None = None) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "aidmesh.site": site})
    )
    exporter: SpanExporter
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        base = var_dir or Path(os.environ.get("AIDMESH_VAR", "var"))
        exporter = JsonLinesSpanExporter(base / "traces" / f"{service}-{site}-{os.getpid()}.jsonl")
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    return provider


def configure_logging(
    service: str, site: str, *, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """JSON logs for structlog and for the standard library (faststream and nats log there)."""

    def static(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        event.setdefault("site", site)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        static,
        _add_trace_ids,
        _scrub_exception,
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_render = structlog.processors.JSONRenderer(separators=(",", ":"))


def _add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", f"{ctx.trace_id:032x}")
        event.setdefault("span_id", f"{ctx.span_id:016x}")
    return event


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        event[key] = _redacted(key, value)
    return event


def _redacted(key: object, value: Any) -> Any:
    if key in REDACTED_KEYS:
        return "[redacted]"
    if isinstance(value, BaseException):  # rendered as its repr otherwise: the values with it
        return error_text(value)
    if isinstance(value, Mapping):
        return {k: _redacted(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(None, v) for v in value]
    return value


def _scrub_exception(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """An exception logged with its traceback (``exc_info``: structlog's ``exception()``, uvicorn's
    "Exception in ASGI application" for every HTTP 500, asyncio's unretrieved task errors, nats'
    error callback) becomes its frames and :func:`error_text`: rendered as it was, its message or
    repr (a pydantic error's input, a KeyError's key) reached the log. A message that quotes the
    exception itself (asyncio's ``exception=KeyError(...)``) has the quote replaced too."""
    exc = _exception_of(event.pop("exc_info", None))
    if exc is None:
        return event
    safe = error_text(exc)
    event["exception"] = _frames(exc)
    said = event.get("event")
    if isinstance(said, str):
        for quoted in sorted({repr(exc), str(exc)}, key=len, reverse=True):
            if len(quoted) > 3:  # not a word of the message itself ("in", "0")
                said = said.replace(quoted, safe)
        event["event"] = said
    return event


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        found: BaseException | None = exc_info[1]
        return found
    if exc_info:  # True: the exception being handled
        return sys.exc_info()[1]
    return None


def _frames(exc: BaseException) -> str:
    """The traceback as Python prints it (files, lines, functions, the code there, what caused
    what), with :func:`error_text` where it would print what each exception said."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # a context can loop back
        seen.add(id(current))
        frames = traceback.format_list(traceback.extract_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{''.join(frames)}{error_text(current)}")
        suppressed = current.__suppress_context__
        current = current.__cause__ or (None if suppressed else current.__context__)
    return "\n\nwhich led to:\n\n".join(reversed(parts))


def error_text(exc: BaseException) -> str:
    """What a log line, a span or a dead-letter reason may say of an exception: its type, for invalid
    input the fields and pydantic's error codes, never a value. ``str`` and ``repr`` of a pydantic
    error quote the input (``input_value=...``), and a ``KeyError``, ``ValueError`` or
    ``UnicodeError`` carries whatever the code was handed: a name, a phone, a message body. Only
    messages their authors word about ids and state, never about input, are kept whole."""
    kind = type(exc).__name__
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'} ({e['type']})" for e in errors]
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        return f"{kind}: {', '.join(problems[:5])}{more}"
    if isinstance(exc, _worded_without_input()):
        return f"{kind}: {exc}"
    return kind


@cache
def _worded_without_input() -> tuple[type[BaseException], ...]:
    """A refusal is a sentence for a coordinator (the replies show it); a decode error's reason is
    written for a dead-letter reader; the store, the NATS client and SQLite name subjects, ids,
    tables and columns, never a bound value; a JSON error says where. (The store is imported here:
    it logs through this module.)"""
    from shared.eventstore import StoreError

    return (
        Refused,
        EventDecodeError,
        StoreError,
        nats.errors.Error,
        sqlite3.Error,
        json.JSONDecodeError,  # a position; its document is an attribute, not in the message
    )


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def inject(
    headers: MutableMapping[str, str], context: otel_context.Context | None = None
) -> MutableMapping[str, str]:
    """Put the trace context (the current one by default) into NATS headers (``traceparent``)."""
    _PROPAGATOR.inject(headers, context)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    return _PROPAGATOR.extract(headers or {})


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind ids (correlation id, aggregate kind) to every log line and span in this block."""
    clean = {k: v for k, v in values.items() if v is not None}
    tokens = structlog.contextvars.bind_contextvars(**clean)
    span = trace.get_current_span()
    for key, value in clean.items():
        span.set_attribute(f"aidmesh.{key}", value)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def current_span() -> Span:
    return trace.get_current_span()


def tracer(name: str = "aidmesh") -> trace.Tracer:
    return trace.get_tracer(name)


class JsonLinesMetricExporter(MetricExporter):
    """Each export appended as one compact JSON line (``MetricsData.to_json``)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        with self._path.open("a", encoding="utf-8") as out:
            out.write(metrics_data.to_json(indent=None) + "\n")
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def configure_metrics(
    service: str, site: str, *, var_dir: Path | None = None, interval_seconds: float = 10.0
) -> MeterProvider:
    """Metrics to ``var/metrics/*.jsonl`` by default, over OTLP when an endpoint is configured."""
    exporter: MetricExporter
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter()
    else:
        base = var_dir or Path(os.environ.get("AIDMESH_VAR", "var"))
        exporter = JsonLinesMetricExporter(
            base / "metrics" / f"{service}-{site}-{os.getpid()}.jsonl"
        )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_seconds * 1000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": service, "aidmesh.site": site}),
    )
    metrics.set_meter_provider(provider)
    return provider
