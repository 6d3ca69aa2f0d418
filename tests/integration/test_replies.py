"""The store's multiplexed request-reply against a real nats-server: answers and deadlines."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared.replies import Replies, RequestTimeout


async def test_replies_reach_their_own_requests(nc: NATS) -> None:
    async def echo(msg: Msg) -> None:
        await asyncio.sleep(0.001 * (int(msg.data) % 7))  # answers come back out of order
        await msg.respond(msg.data)

    sub = await nc.subscribe("replies.echo", cb=echo)
    replies = Replies(nc)
    answers = await asyncio.gather(
        *(replies.request("replies.echo", str(i).encode(), 5) for i in range(200))
    )
    assert [int(a.data) for a in answers] == list(range(200))
    await sub.unsubscribe()


async def test_a_request_nobody_answers_times_out_near_its_deadline(nc: NATS) -> None:
    async def silent(msg: Msg) -> None:
        pass

    sub = await nc.subscribe("replies.silent", cb=silent)
    replies = Replies(nc)
    started = time.monotonic()
    later = asyncio.ensure_future(replies.request("replies.silent", b"x", 5))
    with pytest.raises(RequestTimeout):
        await replies.request("replies.silent", b"x", 0.3)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5
    assert not later.done()  # its own deadline is later
    later.cancel()
    await sub.unsubscribe()
