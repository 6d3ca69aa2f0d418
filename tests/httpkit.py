"""Checks every service's HTTP API shares: each error in the reply shape, and documented so."""

from __future__ import annotations

import json
from typing import Any

import httpx

JSON = {"content-type": "application/json"}


async def answers_in_error_shape(
    client: httpx.AsyncClient, cases: list[tuple[str, str, bytes | None, int, str]]
) -> list[httpx.Response]:
    """Each (method, path, body, status, code) answers ``{"ok": false, "error": {code, message}}``
    with that status, as a page reads it."""
    answers = []
    for method, path, content, status, code in cases:
        answer = await client.request(method, path, content=content, headers=JSON)
        assert answer.status_code == status, (method, path, answer.text)
        body = answer.json()
        assert body["ok"] is False, (method, path, body)
        assert body["error"]["code"] == code and body["error"]["message"], (method, path, body)
        answers.append(answer)
    return answers


def errors_documented_as_replies(spec: dict[str, Any]) -> None:
    """Every operation's 4XX and 5XX are the ``Reply`` schema, and FastAPI's own validation body,
    which these APIs never send, is nowhere in the document."""
    assert "HTTPValidationError" not in json.dumps(spec)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("4XX", "5XX"):
                error = operation["responses"][status]["content"]["application/json"]
                assert error["schema"] == {"$ref": "#/components/schemas/Reply"}, (method, path)
