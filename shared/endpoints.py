"""Commands at the edges: one reply format and one error mapping for NATS request-reply, HTTP and the
CLI, so a refusal reads the same sentence wherever it is shown.

A reply is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {"code", "message", "details"}}``.
Validation details name the field and the problem but never echo the input: it may be personal data.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker, NatsMessage
from pydantic import BaseModel, ValidationError

from shared import telemetry
from shared.decider import Refused
from shared.envelope import EventDecodeError
from shared.eventstore import ConcurrencyError, EventConflict, NotOwner, StoreUnavailable

M = TypeVar("M", bound=BaseModel)
_log = telemetry.get_logger("aidmesh.endpoints")
MAX_COMMAND_BYTES = 256 * 1024


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = []


class Reply(BaseModel):
    ok: bool
    result: Any = None
    error: ErrorBody | None = None


class NotFound(Refused):
    code = "not_found"


def describe(exc: BaseException) -> tuple[int, ErrorBody]:
    """HTTP status and error body for anything a command can raise."""
    match exc:
        case ValidationError():
            details = [
                {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
            fields = ", ".join(d["field"] or "body" for d in details[:5])
            return 422, ErrorBody(
                code="invalid", message=f"invalid input: {fields}", details=details
            )
        case NotFound():
            return 404, ErrorBody(code=exc.code, message=exc.message)
        case Refused():
            return 409, ErrorBody(code=exc.code, message=exc.message)
        case ConcurrencyError():
            return 409, ErrorBody(code="busy", message="the record changed meanwhile; try again")
        case EventConflict():
            return 409, ErrorBody(code="conflict", message=str(exc))
        case NotOwner():
            return 409, ErrorBody(code="not_owner", message=str(exc))
        case StoreUnavailable():
            return 503, ErrorBody(code="unavailable", message="the event store is not answering")
        case EventDecodeError():
            return 500, ErrorBody(code="undecodable", message=exc.reason)
        case json.JSONDecodeError() | UnicodeDecodeError():
            return 400, ErrorBody(code="malformed", message="the body is not valid JSON")
    return 500, ErrorBody(code="internal", message="internal error; it has been logged")


def failure(exc: BaseException) -> Reply:
    status, body = describe(exc)
    if status >= 500:
        _log.error("command.failed", error=type(exc).__name__, code=body.code)
    return Reply(ok=False, error=body)


def parse(model: type[M], data: bytes) -> M:
    if len(data) > MAX_COMMAND_BYTES:
        raise Refused(f"command larger than {MAX_COMMAND_BYTES} bytes", code="too_large")
    return model.model_validate_json(data)


def command_endpoint(
    broker: NatsBroker,
    subject: str,
    model: type[M],
    handle: Callable[[M], Awaitable[Any]],
) -> None:
    """A NATS request-reply endpoint: validate, handle, always answer (a consumer never dies on bad
    data, and a client never waits out a timeout for an error)."""

    @broker.subscriber(subject, queue=f"{subject}.workers")
    async def endpoint(msg: NatsMessage) -> bytes:
        try:
            command = parse(model, msg.body)
            result = await handle(command)
            reply = Reply(ok=True, result=_plain(result))
        except Exception as exc:
            reply = failure(exc)
        return reply.model_dump_json().encode()


def _plain(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


def install_http_errors(app: FastAPI) -> None:
    """The same error bodies from a FastAPI app."""

    def respond(status: int, body: ErrorBody) -> JSONResponse:
        return JSONResponse(status_code=status, content={"ok": False, "error": body.model_dump()})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "problem": err["msg"]}
            for err in exc.errors()
        ]
        fields = ", ".join(d["field"] or "body" for d in details[:5])
        return respond(
            422, ErrorBody(code="invalid", message=f"invalid input: {fields}", details=details)
        )

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        status, body = describe(exc)
        if status >= 500:
            _log.error("http.failed", error=type(exc).__name__, path=request.url.path)
        return respond(status, body)

    for kind in (
        Refused,
        ValidationError,
        ConcurrencyError,
        EventConflict,
        NotOwner,
        StoreUnavailable,
        EventDecodeError,
        Exception,
    ):
        app.add_exception_handler(kind, failed)
