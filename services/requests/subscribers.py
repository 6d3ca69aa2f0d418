"""NATS command endpoints: every operation on ``cmd.<site>.requests.<name>``, request-reply, served
by ``shared.endpoints.Endpoints`` with its reply format and error mapping."""

from __future__ import annotations

from services.requests.events import CONTEXT
from services.requests.operations import Operation
from shared.endpoints import Endpoints
from shared.subjects import command_subject


def subject(site: str, operation: str) -> str:
    return command_subject(site, CONTEXT, operation)


def serve(endpoints: Endpoints, site: str, operations: list[Operation]) -> None:
    for op in operations:
        endpoints.add(subject(site, op.name), op.model, op.run)
