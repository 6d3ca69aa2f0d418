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

from shared.natsserver import NatsServer, ServerSpec, free_port


@dataclass
class Row:
    name: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float = 0.0
    target: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline_value if self.baseline_value else None

    def line(self) -> str:
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else ""
        target = f">= {self.target}x" if self.target is not None else ""
        verdict = ""
        if self.ratio is not None and self.target is not None:
            verdict = "ok" if self.ratio >= self.target else "BELOW TARGET"
        base = f"{self.baseline_value:,.0f} {self.unit}" if self.baseline_value else ""
        return (
            f"| {self.name} | {self.value:,.0f} {self.unit} | {self.baseline} | {base} "
            f"| {ratio} | {target} | {verdict} |"
        )


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
