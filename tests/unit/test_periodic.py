"""The periodic step every timer runs on: failures do not end it, stop waits for a running step,
and a step that never ends cannot hold up a shutdown."""

from __future__ import annotations

import asyncio

from shared.periodic import Periodic


async def test_a_failing_step_is_retried_and_stop_lets_a_running_step_finish() -> None:
    calls: list[str] = []

    async def step() -> None:
        calls.append("start")
        if len(calls) == 1:
            raise RuntimeError("the store is away")
        await asyncio.sleep(0.05)
        calls.append("done")

    periodic = Periodic("test", step, 0.01, at_start=True)
    await periodic.start()
    while len(calls) < 2:
        await asyncio.sleep(0.005)
    await periodic.stop()
    assert calls[-1] == "done"


async def test_a_stuck_step_is_cancelled_after_the_grace() -> None:
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    periodic = Periodic("stuck", stuck, 0.01, at_start=True)
    await periodic.start()
    await asyncio.sleep(0.02)
    await asyncio.wait_for(periodic.stop(grace=0.05), 1)
    assert cancelled.is_set()
