"""The HTTP JSON API (for the web pages a later issue adds): the same operations as over NATS, the
same input models (so the OpenAPI document describes them), the same error bodies."""

from typing import Annotated, Any

from fastapi import FastAPI, Query

from services.requests.operations import Operation
from shared.endpoints import HTTP_ERRORS, Reply, install_http_errors


def make_app(site: str, operations: list[Operation]) -> FastAPI:
    app = FastAPI(
        title=f"aidmesh requests at {site}",
        description="Help requests, volunteers, solidarity kitchens and signposting. Every command "
        "carries a client-made UUIDv7 command_id; a retry with the same id changes nothing.",
        version="1",
        responses=HTTP_ERRORS,
    )
    install_http_errors(app)
    for op in operations:
        app.add_api_route(
            op.path,
            _endpoint(op),
            methods=[op.method],
            name=op.name,
            summary=op.summary or op.name.replace("_", " "),
            response_model=Reply,
        )
    return app


def _endpoint(op: Operation) -> Any:
    """A route function whose signature FastAPI reads: the body model for POST, query parameters
    from the same model for GET."""

    async def endpoint(body: Any) -> Reply:
        result = await op.run(body)
        return Reply(ok=True, result=result)

    where = op.model if op.method == "POST" else Annotated[op.model, Query()]
    endpoint.__annotations__ = {"body": where, "return": Reply}
    return endpoint
