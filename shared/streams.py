"""Stream definitions from explicit config, created idempotently.

Event streams are the system of record, so their limits are chosen, not defaulted: file storage,
``discard: new`` (a full stream refuses writes loudly; ``discard: old`` would silently drop the oldest
events, possibly ones not yet synced), deny delete and purge, and atomic batches for multi-event
decisions. ``ensure_stream`` never removes sources it finds: sources are added at run time when a site
joins, and a redeclare must not strip them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
    StreamSource,
)
from nats.js.errors import NotFoundError

from shared import subjects

GiB = 1024**3


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One stream this stream copies from, possibly in another JetStream domain."""

    name: str
    filter_subject: str | None = None
    domain: str | None = None

    def to_nats(self) -> StreamSource:
        external = ExternalStream(api=f"$JS.{self.domain}.API") if self.domain else None
        return StreamSource(name=self.name, filter_subject=self.filter_subject, external=external)

    @classmethod
    def from_nats(cls, src: StreamSource) -> SourceSpec:
        domain = None
        if src.external is not None and src.external.api.startswith("$JS."):
            domain = src.external.api.split(".")[1]
        return cls(name=src.name, filter_subject=src.filter_subject, domain=domain)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...] = ()
    description: str = ""
    max_bytes: int = 4 * GiB
    max_msgs: int = -1
    max_age_seconds: float = 0.0
    max_msg_size: int = 256 * 1024
    duplicate_window_seconds: float = 120.0
    discard_new: bool = True
    deny_delete: bool = True
    deny_purge: bool = True
    allow_atomic: bool = True
    replicas: int = 1
    sources: tuple[SourceSpec, ...] = field(default=())

    def to_nats(self, extra_sources: tuple[SourceSpec, ...] = ()) -> StreamConfig:
        sources = _union(self.sources, extra_sources)
        return StreamConfig(
            name=self.name,
            description=self.description or None,
            subjects=list(self.subjects) or None,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_msgs=self.max_msgs,
            max_bytes=self.max_bytes,
            max_age=self.max_age_seconds,
            max_msg_size=self.max_msg_size,
            duplicate_window=self.duplicate_window_seconds,
            discard=DiscardPolicy.NEW if self.discard_new else DiscardPolicy.OLD,
            deny_delete=self.deny_delete,
            deny_purge=self.deny_purge,
            allow_atomic=self.allow_atomic or None,
            allow_direct=True,
            num_replicas=self.replicas,
            sources=[s.to_nats() for s in sources] or None,
        )


def _union(*groups: tuple[SourceSpec, ...]) -> tuple[SourceSpec, ...]:
    seen: dict[SourceSpec, None] = {}
    for group in groups:
        for src in group:
            seen.setdefault(src, None)
    return tuple(seen)


_COMPARED = (
    "subjects",
    "max_msgs",
    "max_bytes",
    "max_age",
    "max_msg_size",
    "duplicate_window",
    "discard",
    "deny_delete",
    "deny_purge",
    "allow_atomic",
    "num_replicas",
    "description",
)


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> StreamInfo:
    """Create the stream, or update it to ``spec`` while keeping every source it already has."""
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        return await js.add_stream(spec.to_nats())
    existing = tuple(SourceSpec.from_nats(s) for s in info.config.sources or ())
    desired = spec.to_nats(extra_sources=existing)
    current = info.config
    differs = any(
        _norm(getattr(current, k)) != _norm(getattr(desired, k)) for k in _COMPARED
    ) or set(existing) != set(_union(spec.sources, existing))
    if not differs:
        return info
    return await js.update_stream(desired)


async def add_sources(js: JetStreamContext, stream: str, new: tuple[SourceSpec, ...]) -> StreamInfo:
    """Add sources to a live stream without touching anything else (used when a site joins)."""
    info = await js.stream_info(stream)
    existing = tuple(SourceSpec.from_nats(s) for s in info.config.sources or ())
    merged = _union(existing, new)
    if merged == existing:
        return info
    config = info.config
    config.sources = [s.to_nats() for s in merged]
    return await js.update_stream(config)


def _norm(value: object) -> object:
    if isinstance(value, list):
        return tuple(value)
    if value in (None, "", 0, 0.0, False):
        return None
    return value


def event_stream(context: str, site: str, sources: tuple[SourceSpec, ...] = ()) -> StreamSpec:
    return StreamSpec(
        name=subjects.stream_name(context, site),
        subjects=(subjects.owned_subjects(context, site),),
        description=f"{context} events owned by {site}, plus those sourced for it",
        sources=sources,
    )


def dead_letter_stream(site: str) -> StreamSpec:
    """Dead letters stay at the site that could not handle them; an operator reads them there."""
    return StreamSpec(
        name=subjects.dlq_stream(site),
        subjects=(f"dlq.{site}.>",),
        description=f"messages {site} could not handle, with the reason",
        max_bytes=1 * GiB,
        max_msg_size=1024 * 1024,
        deny_purge=False,
        allow_atomic=False,
    )
