"""JSON bodies are validated strictly at every edge, as JSON allows: over NATS (``parse``) and over
HTTP alike. FastAPI validated HTTP bodies in pydantic's lax mode, so ``true`` was a household of 1
and ``"3"`` was 3 over HTTP while NATS refused both."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel, ValidationError

from shared.endpoints import Reply, install_http_errors, parse


class Body(BaseModel):
    count: int
    day: date | None = None
    amount: Decimal | None = None
    urgent: bool = False


def app() -> FastAPI:
    made = FastAPI()
    install_http_errors(made)

    @made.post("/things", response_model=Reply)
    async def post(body: Body) -> Reply:
        return Reply(ok=True, result=body.model_dump(mode="json"))

    @made.get("/things", response_model=Reply)
    async def get(query: Annotated[Body, Query()]) -> Reply:
        return Reply(ok=True, result=query.model_dump(mode="json"))

    return made


WRONG = [
    ({"count": True}, "count"),
    ({"count": "3"}, "count"),
    ({"count": 3.0}, "count"),
    ({"count": 1, "urgent": "yes"}, "urgent"),
    ({"count": 1, "urgent": 1}, "urgent"),
]


@pytest.mark.parametrize(("body", "field"), WRONG)
def test_parse_refuses_what_lax_mode_would_coerce(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse(Body, httpx.Request("POST", "/", json=body).content)
    assert refused.value.errors()[0]["loc"] == (field,)


def test_parse_still_takes_what_json_cannot_type() -> None:
    """Dates and decimals travel as strings (a decimal also as a number)."""
    got = parse(Body, b'{"count": 2, "day": "2026-11-23", "amount": "1.50", "urgent": true}')
    assert got == Body(count=2, day=date(2026, 11, 23), amount=Decimal("1.50"), urgent=True)


async def test_http_bodies_are_as_strict_as_nats_and_queries_stay_lax() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for body, field in WRONG:
            answer = await client.post("/things", json=body)
            assert answer.status_code == 422, (body, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid" and field in error["message"], (body, error)
        fine = await client.post("/things", json={"count": 2, "day": "2026-11-23", "amount": 1.5})
        assert fine.json() == {
            "ok": True,
            "result": {"count": 2, "day": "2026-11-23", "amount": "1.5", "urgent": False},
            "error": None,
        }
        # in a URL every value is a string: a query parameter is read as its field's type
        queried = await client.get("/things", params={"count": "3", "urgent": "true"})
        assert queried.status_code == 200, queried.text
        assert queried.json()["result"]["count"] == 3
        # a body that is not JSON keeps FastAPI's own answer, in the reply shape
        broken = await client.post(
            "/things", content=b'{"count": \xff}', headers={"content-type": "application/json"}
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] == "malformed"
