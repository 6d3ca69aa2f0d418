"""A loop waiting on an event must stop when cancelled, even when the event is set at the same
moment (asyncio.wait_for on Python 3.11 can swallow that cancellation)."""

from __future__ import annotations

import asyncio

from shared.waiting import cancel_and_wait, wait_event


async def test_wait_event_reports_set_and_timeout() -> None:
    event = asyncio.Event()
    assert not await wait_event(event, 0.01)
    event.set()
    assert await wait_event(event, 0.01)


async def test_a_cancel_that_races_the_event_still_stops_the_loop() -> None:
    for _ in range(200):
        event = asyncio.Event()

        async def loop(event: asyncio.Event = event) -> None:
            while True:
                await wait_event(event, 10)
                event.clear()

        task = asyncio.create_task(loop())
        await asyncio.sleep(0)
        event.set()  # the waiter is woken and cancelled in the same turn of the loop
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 1)
        assert task.cancelled()


async def test_cancel_and_wait_outlasts_a_swallowed_cancellation() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as a library's wait_for would, once

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task), 5)
    assert task.cancelled() and swallowed == 1
