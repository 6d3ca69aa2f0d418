"""NATS command endpoints: every operation on ``cmd.<site>.requests.<name>``, request-reply, one
reply format (``shared.endpoints``), refusals as typed errors with a sentence."""

from __future__ import annotations

from faststream.nats import NatsBroker

from services.requests.events import CONTEXT
from services.requests.operations import Operation
from shared.endpoints import command_endpoint
from shared.subjects import command_subject


def subject(site: str, operation: str) -> str:
    return command_subject(site, CONTEXT, operation)


def install(broker: NatsBroker, site: str, operations: list[Operation]) -> None:
    for op in operations:
        command_endpoint(broker, subject(site, op.name), op.model, op.run)
