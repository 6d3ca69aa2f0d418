"""The link simulator's own byte counts (everything that crossed, protocol and compression included),
shown beside the per-class event bytes. Only where a local deployment runs link simulators; a field
deployment's dish has no such counter, and this says so by returning nothing."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from shared import linksim
from shared.deployment import Deployment
from shared.subjects import HUB


async def link_totals(var: Path, site: str) -> list[dict[str, Any]]:
    try:
        deployment = await asyncio.to_thread(Deployment.load, var)
    except (FileNotFoundError, ValueError, KeyError):
        return []
    ends = deployment.sites if site == HUB else [e for e in deployment.sites if e.site == site]
    out = []
    for end in ends:
        if not end.link_control_port:
            continue
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            status = await linksim.request(end.link_control_port, {"op": "status"}, timeout=2)
            out.append(
                {
                    "site": end.site,
                    "state": status["state"],
                    "bytes_up": status["bytes_up"],
                    "bytes_down": status["bytes_down"],
                }
            )
    return out
