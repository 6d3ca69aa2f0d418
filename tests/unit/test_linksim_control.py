"""The link simulator's raw control protocol given bad lines: one error line in the reply shape of
``shared.endpoints`` (code and sentence), and the link exactly as it was."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.linksim import Link, exchange, serve_control
from shared.natsserver import free_port


@pytest.fixture
async def link() -> AsyncIterator[tuple[Link, int]]:
    """A link in front of nothing (no byte crosses it here) and its control port."""
    link = Link("dili", free_port(), "127.0.0.1", free_port())
    await link.start()
    port = free_port()
    control = await serve_control(link, port)
    yield link, port
    control.close()
    await link.close()


async def ask(port: int, line: bytes) -> dict[str, Any]:
    return await exchange(port, line)


def settings(link: Link) -> tuple[object, ...]:
    s = link.status
    return (s.state, s.mode, s.latency_ms, s.bandwidth_bps, s.schedule, s.outages)


def refusal(answer: dict[str, Any]) -> tuple[str, str]:
    assert answer["ok"] is False, answer
    error = answer["error"]
    assert error["message"] and "\n" not in error["message"]
    return error["code"], error["message"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b'{"op": "shape", "latency_ms": Infinity}', "latency_ms"),
        (b'{"op": "shape", "latency_ms": NaN}', "latency_ms"),
        (b'{"op": "shape", "latency_ms": -5}', "latency_ms"),
        (b'{"op": "shape", "latency_ms": 1e300}', "latency_ms"),
        (b'{"op": "shape", "latency_ms": "100"}', "latency_ms"),
        (b'{"op": "shape", "latency_ms": true}', "latency_ms"),
        # a good latency next to a bad bandwidth: neither is applied
        (b'{"op": "shape", "latency_ms": 100, "bandwidth_bps": "x"}', "bandwidth_bps"),
        (b'{"op": "shape", "latency_ms": 100, "bandwidth_bps": Infinity}', "bandwidth_bps"),
        (b'{"op": "shape", "bandwidth_bps": -1}', "bandwidth_bps"),
        (b'{"op": "shape", "bandwidth_bps": 1.5}', "bandwidth_bps"),
        (b'{"op": "shape", "bandwidth_bps": 1' + b"0" * 400 + b"}", "bandwidth_bps"),
        (b'{"op": "starlink", "up_s": Infinity, "down_s": 1}', "up_s"),
        (b'{"op": "starlink", "up_s": 1, "down_s": NaN}', "down_s"),
        (b'{"op": "starlink", "up_s": 0, "down_s": 0}', "up_s"),
        (b'{"op": "starlink", "up_s": -1, "down_s": 1}', "up_s"),
        (b'{"op": "starlink", "up_s": 1e12, "down_s": 1}', "up_s"),
        (b'{"op": "starlink", "down_s": 1}', "up_s"),
        (b'{"op": "starlink", "up_s": "20", "down_s": 1}', "up_s"),
        (b'{"op": "starlink", "up_s": 1, "down_s": 1, "mode": "sideways"}', "mode"),
        (b'{"op": "down", "mode": "sideways"}', "mode"),
        (b'{"op": "down", "mode": null}', "mode"),
    ],
)
async def test_bad_numbers_and_modes_are_refused_and_change_nothing(
    link: tuple[Link, int], line: bytes, field: str
) -> None:
    sim, port = link
    sim.shape(latency_ms=20, bandwidth_bps=1000)
    before = settings(sim)
    code, message = refusal(await ask(port, line))
    assert code == "invalid"
    assert field in message
    assert settings(sim) == before
    assert sim.status.state == "up"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (b'{"op": "sideways"}', "invalid"),
        (b'{"op": "status"}' + b" " * 100_000, "too_large"),
    ],
)
async def test_a_line_that_is_no_request_is_answered_with_an_error_line(
    link: tuple[Link, int], line: bytes, code: str
) -> None:
    sim, port = link
    before = settings(sim)
    assert refusal(await ask(port, line))[0] == code
    assert settings(sim) == before


async def test_good_requests_still_apply(link: tuple[Link, int]) -> None:
    _, port = link
    answer = await ask(port, b'{"op": "shape", "latency_ms": 12.5, "bandwidth_bps": 2000}')
    assert (answer["latency_ms"], answer["bandwidth_bps"]) == (12.5, 2000)
    answer = await ask(port, b'{"op": "shape", "latency_ms": 0, "bandwidth_bps": 0}')
    assert (answer["latency_ms"], answer["bandwidth_bps"]) == (0, 0)
    answer = await ask(port, b'{"op": "starlink", "up_s": 30, "down_s": 0.5}')
    assert answer["schedule"] == [30, 0.5]
    answer = await ask(port, b'{"op": "down", "mode": "freeze"}')
    assert (answer["state"], answer["mode"], answer["schedule"]) == ("down", "freeze", None)


async def test_up_when_the_port_was_taken_meanwhile_says_so_and_stays_down(
    link: tuple[Link, int],
) -> None:
    """After a refusing outage the link listens again; if something took its port meanwhile, the
    answer says so and the link still reads down (not "up" while nothing listens)."""
    sim, port = link
    await ask(port, b'{"op": "down", "mode": "refuse"}')
    squatter = socket.create_server(("127.0.0.1", sim._listen_port))
    try:
        code, message = refusal(await ask(port, b'{"op": "up"}'))
        assert code == "unavailable"
        assert str(sim._listen_port) in message
        assert (sim.status.state, sim.status.mode) == ("down", "refuse")
    finally:
        squatter.close()
    answer = await ask(port, b'{"op": "up"}')
    assert answer["state"] == "up"
