"""Commands at the edges: one reply format and one error mapping for NATS request-reply, HTTP and the
CLI, so a refusal reads the same sentence wherever it is shown.

A reply is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {"code", "message", "details"}}``.
Validation details name the field and the problem but never echo the input: it may be personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry import trace
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from shared import telemetry
from shared.decider import Refused
from shared.envelope import EventDecodeError
from shared.eventstore import ConcurrencyError, EventConflict, NotOwner, StoreUnavailable

M = TypeVar("M", bound=BaseModel)
_log = telemetry.get_logger("aidmesh.endpoints")
_tracer = trace.get_tracer("aidmesh.endpoints")
MAX_COMMAND_BYTES = 256 * 1024


REUSED_ID = "this command id was already used for a different command; make a new id"
"""What a client is told when it sends an id it used before with other content: in its words,
not the store's (``event id ... already used for a different event elsewhere in the stream``)."""


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
                # no location: the body as a whole (not JSON, or not an object)
                {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
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
        case EventConflict():  # event ids derive from the command's id: the client reused it
            return 409, ErrorBody(code="conflict", message=REUSED_ID)
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
    # Strict, as JSON allows: a number is not a string, ``true`` is not 1, "3" is not 3; dates,
    # times and decimals still come as strings, tuples as arrays, literals as their values.
    return model.model_validate_json(data, strict=True)


class Endpoints:
    """A service's NATS request-reply endpoints: plain nats-py queue subscriptions.

    Not faststream subscribers: measured, a faststream request-reply cost about 400 us of CPU (its
    dependency injection hops to a worker thread twice per message) against about 30 us for nats-py,
    a third of a whole command's cost. What its middleware did is done here: the caller's trace
    continues from ``traceparent``, and up to ``concurrency`` requests are served at once (commands
    mostly wait on the store; the command handler still decides one command per aggregate at a time).
    """

    def __init__(self, nc: NATS, concurrency: int = 64) -> None:
        self._nc = nc
        self._routes: list[tuple[str, type[BaseModel], Callable[[Any], Awaitable[Any]]]] = []
        self._subs: list[Subscription] = []
        self._running: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(concurrency)

    def add(self, subject: str, model: type[M], handle: Callable[[M], Awaitable[Any]]) -> None:
        self._routes.append((subject, model, handle))

    def asyncapi(self, title: str, version: str) -> dict[str, Any]:
        """The endpoints as an AsyncAPI 3 document, written by faststream from the same input models
        that validate the requests, so the document cannot drift from what is served. The broker is
        never connected: faststream describes, nats-py serves."""
        from faststream.nats import NatsBroker
        from faststream.specification import AsyncAPI

        broker = NatsBroker(self._url())
        for subject, model, _ in self._routes:
            about = (model.__doc__ or "").strip()
            describe_request(broker, subject, model, about)
        doc = AsyncAPI(
            broker,
            title=title,
            version=version,
            description=(
                "NATS request-reply commands and queries. Send the JSON input on the subject "
                "with a reply inbox; the answer is a Reply: "
                '{"ok": true, "result": ...} or {"ok": false, "error": {"code", "message", "details"}}.'
            ),
        )
        result: dict[str, Any] = json.loads(doc.to_specification().to_json())
        return result

    def _url(self) -> str:
        url = self._nc.connected_url  # host and port only: a URL may carry credentials
        return f"nats://{url.hostname}:{url.port}" if url is not None else "nats://127.0.0.1:4222"

    async def start(self) -> None:
        for subject, model, handle in self._routes:
            cb = self._serve(subject, model, handle)
            self._subs.append(await self._nc.subscribe(subject, queue=f"{subject}.workers", cb=cb))

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _serve(
        self, subject: str, model: type[BaseModel], handle: Callable[[Any], Awaitable[Any]]
    ) -> Callable[[Msg], Awaitable[None]]:
        async def on_request(msg: Msg) -> None:
            await self._room.acquire()  # at the bound the subscription waits: back-pressure
            task = asyncio.create_task(self._answer(subject, model, handle, msg))
            self._running.add(task)
            task.add_done_callback(self._done)

        return on_request

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._room.release()

    async def _answer(
        self,
        subject: str,
        model: type[BaseModel],
        handle: Callable[[Any], Awaitable[Any]],
        msg: Msg,
    ) -> None:
        with _tracer.start_as_current_span(
            subject,
            context=telemetry.extract(msg.headers),
            kind=trace.SpanKind.SERVER,
            attributes={"messaging.system": "nats"},
        ) as span:
            reply = await answer(model, handle, msg.data)
            if reply.error is not None:
                span.set_attribute("aidmesh.error", reply.error.code)
        if msg.reply:
            await msg.respond(_encoded(reply, self._nc.max_payload))


def _encoded(reply: Reply, limit: int) -> bytes:
    """The reply as sent, or an error reply when it cannot be: a result JSON cannot say (a handler
    bug) or one larger than the server's ``max_payload`` would otherwise fail after the handler ran,
    leaving the client to wait out its timeout."""
    try:
        data = reply.model_dump_json().encode()
    except Exception as exc:
        data = failure(exc).model_dump_json().encode()
    if len(data) > limit:
        message = f"the answer is larger than the server's limit of {limit} bytes: ask for less"
        too_large = Reply(ok=False, error=ErrorBody(code="too_large", message=message))
        data = too_large.model_dump_json().encode()
    return data


async def answer(model: type[M], handle: Callable[[M], Awaitable[Any]], data: bytes) -> Reply:
    """Validate, handle, always answer: a consumer never dies on bad data, and a client never
    waits out a timeout for an error."""
    try:
        return Reply(ok=True, result=_plain(await handle(parse(model, data))))
    except Exception as exc:
        return failure(exc)


def _plain(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


HTTP_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": Reply,
        "description": "Refused (409, with its own code), invalid input (422), not found (404), "
        "a body that is not JSON (400): always {ok: false, error: {code, message, details}}.",
    },
    "5XX": {
        "model": Reply,
        "description": "The event store is not answering (503), or an internal error (500).",
    },
}
"""Every route's error answers, for ``FastAPI(responses=HTTP_ERRORS)``: FastAPI would describe a
422 as its own ``{"detail": [...]}``, which these APIs never send, and no other error at all."""

_FRAMEWORK_ERRORS = {
    400: ("malformed", "the body is not valid JSON"),
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "this route does not take this method"),
}


class _StrictBodyRoute(APIRoute):
    """A route whose JSON body is validated as a NATS command is, strictly (``parse``), before
    FastAPI's own validation: FastAPI validates a decoded body in pydantic's lax mode, where
    ``true`` is a household of 1 and ``"3"`` is 3, so the same command was refused over NATS and
    accepted over HTTP. Query parameters stay lax: in a URL every value is a string."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        params = self.dependant.body_params
        model = params[0].field_info.annotation if len(params) == 1 else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return handler
        checked: type[BaseModel] = model

        async def strict(request: Request) -> Response:
            try:
                parse(checked, await request.body())  # the body is kept: FastAPI reads it again
            except ValidationError as exc:
                if not any(err["type"] == "json_invalid" for err in exc.errors()):
                    raise
                # not JSON at all: FastAPI's own answer (malformed, or invalid at "body") stands
            return await handler(request)

        return strict


class _BodyLimit:
    """HTTP bodies at most ``MAX_COMMAND_BYTES``, as over NATS: refused by their declared length
    before anything is read, or as soon as a body without one passes the limit (a JSON body was
    read and parsed whole, however large, before validation refused it). ``exempt``: paths with
    a limit of their own (an attachment upload)."""

    def __init__(self, app: Any, exempt: tuple[str, ...] = ()) -> None:
        self.app, self.exempt = app, exempt

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_COMMAND_BYTES:
            body = ErrorBody(code="too_large", message=_TOO_LARGE)
            response = JSONResponse({"ok": False, "error": body.model_dump()}, status_code=409)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_COMMAND_BYTES:
                raise Refused(_TOO_LARGE, code="too_large")
            return message

        await self.app(scope, counted, send)


_TOO_LARGE = f"the body is larger than {MAX_COMMAND_BYTES} bytes"


def install_http_errors(app: FastAPI, *, body_limit_exempt: tuple[str, ...] = ()) -> None:
    """The same error bodies from a FastAPI app, for every error: a refusal, invalid input, a
    failure, and the framework's own (an unknown route, a wrong method, a body it cannot read as
    JSON), whose ``{"detail": ...}`` has no ``error`` for a page to show (the donor page failed
    with a script error on one). No path is echoed: a path can hold a donor's reference."""

    def respond(
        status: int, body: ErrorBody, headers: Mapping[str, str] | None = None
    ) -> JSONResponse:
        content = {"ok": False, "error": body.model_dump()}
        return JSONResponse(status_code=status, content=content, headers=headers)

    app.add_middleware(_BodyLimit, exempt=body_limit_exempt)
    app.router.route_class = _StrictBodyRoute  # the routes are added after this

    @app.exception_handler(HTTPException)
    async def framework(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, Refused):  # FastAPI wraps what reading the body raised
            return respond(*describe(exc.__cause__))
        code, message = _FRAMEWORK_ERRORS.get(exc.status_code, ("refused", "request refused"))
        return respond(exc.status_code, ErrorBody(code=code, message=message), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                # a body that is not JSON is located at a character position ("1"), not a field
                "field": "body"
                if err.get("type") == "json_invalid"
                else ".".join(str(p) for p in err["loc"] if p != "body"),
                "problem": err["msg"],
            }
            for err in exc.errors()
        ]
        fields = ", ".join(d["field"] or "body" for d in details[:5])
        return respond(
            422, ErrorBody(code="invalid", message=f"invalid input: {fields}", details=details)
        )

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        status, body = describe(exc)
        if status >= 500:
            route = getattr(request.scope.get("route"), "path", "?")  # the template, not the ids
            _log.error("http.failed", error=type(exc).__name__, route=route)
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


def describe_request(broker: Any, subject: str, model: type[BaseModel], about: str) -> None:
    async def request(body: Any) -> Any:  # described, never called
        raise NotImplementedError

    request.__annotations__ = {"body": model, "return": Reply}
    broker.subscriber(
        subject, queue=f"{subject}.workers", title=subject, description=about or None
    )(request)
