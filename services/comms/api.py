"""The HTTP JSON API (OpenAPI at ``/docs``) for the web pages of a later issue: the same inputs, the
same handlers and the same reply and error format as the NATS commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response

from services.comms.events import MAX_ATTACHMENT_BYTES, ChannelName
from services.comms.handlers import Comms
from services.comms.inputs import (
    AckInput,
    AddressInput,
    AlertInput,
    BoardQuery,
    ChannelInput,
    FetchInput,
    InboxQuery,
    KeyInput,
    MediaType,
    NoInput,
    OutboxQuery,
    ReadInput,
    ResendInput,
    SendInput,
    Sha256,
    StatusQuery,
    Uuid7,
)
from services.comms.subscribers import endpoints
from shared.decider import Refused
from shared.endpoints import HTTP_ERRORS, Reply, install_http_errors

UPLOAD: dict[str, Any] = {
    "required": True,
    "description": f"The file's bytes as they are, at most {MAX_ATTACHMENT_BYTES // 2**20} MB; "
    "its type goes in media_type.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
"""The upload is read from the raw body, so FastAPI would leave it out of the document."""


def create_app(comms: Comms, var: Path) -> FastAPI:
    app = FastAPI(
        title=f"aidmesh comms at {comms.site}",
        description="Store-and-forward messaging and alerts across intermittent links.",
        version="1",
        responses=HTTP_ERRORS,
    )
    install_http_errors(app, body_limit_exempt=("/attachments",))  # its own limit, below
    table = endpoints(comms, var)

    async def call(name: str, value: Any) -> Reply:
        _, handle = table[name]
        return Reply(ok=True, result=await handle(value))

    @app.post("/messages", tags=["messages"], summary="send a message (retry-safe by message_id)")
    async def send(body: SendInput) -> Reply:
        return await call("send", body)

    @app.get("/messages/{message_id}", tags=["messages"], summary="one message's delivery state")
    async def status(message_id: Uuid7) -> Reply:
        return await call("status", StatusQuery(message_id=message_id))

    @app.put(
        "/attachments",
        tags=["attachments"],
        summary="store a file at this site, sealed with the channel's key; returns its reference",
        openapi_extra={"requestBody": UPLOAD},
    )
    async def attach(
        request: Request,
        channel: Annotated[ChannelName, Query()],
        media_type: Annotated[MediaType, Query()] = "application/octet-stream",
    ) -> Reply:
        # read as it arrives and stop past the limit: reading it all first held a whole video
        # in the field node's memory only to refuse it
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_ATTACHMENT_BYTES:
                raise Refused(
                    f"an attachment is at most {MAX_ATTACHMENT_BYTES // 2**20} MB",
                    code="too_large",
                )
        return Reply(ok=True, result=await comms.store_file(channel, bytes(body), media_type))

    @app.get(
        "/attachments/{message_id}/{sha256}",
        tags=["attachments"],
        summary="an attachment of a message, fetched from the site holding it on first ask",
        response_class=Response,
    )
    async def fetch(message_id: Uuid7, sha256: Sha256) -> Response:
        data, media_type = await comms.fetch_file(FetchInput(message_id=message_id, sha256=sha256))
        return Response(content=data, media_type=media_type)

    @app.post("/messages/read", tags=["messages"], summary="a recipient has read a message")
    async def read(body: ReadInput) -> Reply:
        return await call("read", body)

    @app.post("/messages/resend", tags=["messages"], summary="resend to who it has not reached")
    async def resend(body: ResendInput) -> Reply:
        return await call("resend", body)

    @app.get("/inbox", tags=["messages"], summary="a person's or role's inbox at this site")
    async def inbox(q: Annotated[InboxQuery, Query()]) -> Reply:
        return await call("inbox", q)

    @app.get("/outbox", tags=["messages"], summary="this site's messages, per destination state")
    async def outbox(q: Annotated[OutboxQuery, Query()]) -> Reply:
        return await call("outbox", q)

    @app.post("/alerts", tags=["alerts"], summary="raise an alert for every site or an area")
    async def raise_alert(body: AlertInput) -> Reply:
        return await call("raise_alert", body)

    @app.post("/alerts/ack", tags=["alerts"], summary="acknowledge an alert at this site")
    async def ack(body: AckInput) -> Reply:
        return await call("ack_alert", body)

    @app.get("/alerts", tags=["alerts"], summary="the acknowledgement board")
    async def alerts(q: Annotated[BoardQuery, Query()]) -> Reply:
        return await call("board", q)

    @app.get("/traffic", tags=["links"], summary="bytes per priority class over each link")
    async def traffic() -> Reply:
        return await call("traffic", NoInput())

    @app.get("/directory", tags=["directory"], summary="sites, addresses and channels known here")
    async def directory() -> Reply:
        return await call("directory", NoInput())

    @app.post("/directory/addresses", tags=["directory"], summary="list an address of this site")
    async def list_address(body: AddressInput) -> Reply:
        return await call("list_address", body)

    @app.post("/directory/addresses/unlist", tags=["directory"], summary="unlist an address")
    async def unlist_address(body: AddressInput) -> Reply:
        return await call("unlist_address", body)

    @app.post("/channels", tags=["directory"], summary="open a channel (hub only)")
    async def open_channel(body: ChannelInput) -> Reply:
        return await call("open_channel", body)

    @app.post("/channels/sites", tags=["directory"], summary="change a channel's sites (hub)")
    async def channel_sites(body: ChannelInput) -> Reply:
        return await call("set_channel_sites", body)

    @app.put("/keys", tags=["keys"], summary="store (or generate) this site's key for a channel")
    async def set_key(body: KeyInput) -> Reply:
        return await call("set_key", body)

    return app
