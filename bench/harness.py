"""Shared bench plumbing: a throwaway nats-server, timing, and the result table."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nats.js import JetStreamContext

from shared.ids import uuid7
from shared.natsserver import NatsServer, ServerSpec, free_port


class PlainAppends:
    """Appends as a service without a framework writes them: plain ``js.publish`` with a dedup id
    and the expected last subject sequence, remembered per subject. The raw baselines and the
    floors use it, so they all pay the same per write."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._last: dict[str, int] = {}

    async def append(self, subject: str, data: bytes) -> None:
        headers = {
            "Nats-Expected-Last-Subject-Sequence": str(self._last.get(subject, 0)),
            "Nats-Msg-Id": uuid7(),
        }
        self._last[subject] = (await self._js.publish(subject, data, headers=headers)).seq


@dataclass
class Row:
    """One figure beside its raw baseline. ``target``: the ratio must reach it (higher is better);
    ``max_ratio``: the ratio must stay under it; ``max_value``: the value itself must stay under it."""

    name: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float = 0.0
    target: float | None = None
    max_ratio: float | None = None
    max_value: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline_value if self.baseline_value else None

    def verdict(self) -> str:
        ratio = self.ratio
        checks = []
        if self.target is not None and ratio is not None:
            checks.append(ratio >= self.target)
        if self.max_ratio is not None and ratio is not None:
            checks.append(ratio <= self.max_ratio)
        if self.max_value is not None:
            checks.append(self.value <= self.max_value)
        if not checks:
            return ""
        return "ok" if all(checks) else "MISSES TARGET"

    def line(self) -> str:
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else ""
        targets = []
        if self.target is not None:
            targets.append(f">= {self.target}x")
        if self.max_ratio is not None:
            targets.append(f"<= {self.max_ratio}x")
        if self.max_value is not None:
            targets.append(f"<= {_fmt(self.max_value)} {self.unit}")
        base = f"{_fmt(self.baseline_value)} {self.unit}" if self.baseline_value else ""
        return (
            f"| {self.name} | {_fmt(self.value)} {self.unit} | {self.baseline} | {base} "
            f"| {ratio} | {', '.join(targets)} | {self.verdict()} |"
        )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


HEADER = (
    "| measure | value | raw baseline | baseline value | ratio | target | |\n"
    "|---|---|---|---|---|---|---|"
)


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cpus} cores, Python {platform.python_version()}"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


@contextmanager
def server(name: str = "bench", domain: str = "hub", **kwargs: object) -> Iterator[NatsServer]:
    with tempfile.TemporaryDirectory(prefix="aidmesh-bench-") as tmp:
        spec = ServerSpec(
            name=name,
            domain=domain,
            store_dir=Path(tmp) / "js",
            port=free_port(),
            http_port=free_port(),
            **kwargs,  # type: ignore[arg-type]
        )
        srv = NatsServer(spec, Path(tmp) / "run").start()
        try:
            yield srv
        finally:
            srv.stop()


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def rate(self, count: int) -> float:
        return count / (time.perf_counter() - self.start)
