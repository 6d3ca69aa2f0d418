"""Waiting for an event with a time limit, in loops that are stopped by cancellation.

Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives just as the
awaited event is set, and the loop then runs on while ``stop()`` waits for it forever (seen as a hung
shutdown of a comms valve under load). ``asyncio.timeout`` counts cancellations and passes them on.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended. The cancellation is repeated while the task
    runs on: a library's own ``wait_for`` (nats-py's request, for one) can still swallow one."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled():
        task.exception()  # retrieved: a failure while stopping was logged where it happened
