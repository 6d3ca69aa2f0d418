"""Waiting for an event with a time limit, in loops that are stopped by cancellation.

Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives just as the
awaited event is set, and the loop then runs on while ``stop()`` waits for it forever (seen as a hung
shutdown of a comms valve under load). ``asyncio.timeout`` counts cancellations and passes them on.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
