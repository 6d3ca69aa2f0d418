"""NATS command endpoints (``cmd.<site>.comms.<command>``), the projection runners and the reactors
of one site. Everything that consumes is split by priority class, as the streams are: nothing an
emergency message needs shares a consumer with the bulk class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from pydantic import BaseModel

from services.comms.arrival import Arrival, delivery_filters
from services.comms.decider import VALVED, home_context
from services.comms.events import ALERTS, DIRECTORY, PRIORITIES, context_of, registry
from services.comms.handlers import Comms
from services.comms.inputs import (
    AckInput,
    AddressInput,
    AlertInput,
    AttachInput,
    BoardQuery,
    ChannelInput,
    FetchInput,
    InboxQuery,
    KeyInput,
    NoInput,
    OutboxQuery,
    ReadInput,
    ResendInput,
    SendInput,
    StatusQuery,
)
from services.comms.links import link_totals
from services.comms.projections import AlertsProjection, DirectoryProjection, MessagesProjection
from services.comms.relay import HubRelay, sender_lane
from shared.endpoints import Endpoints
from shared.projector import ProjectionRunner
from shared.reactor import Reactor
from shared.subjects import HUB, command_subject, stream_name

CONTEXT = "comms"


def endpoints(
    comms: Comms, var: Path
) -> dict[str, tuple[type[BaseModel], Callable[[Any], Awaitable[Any]]]]:
    """Command and query name -> (input model, handler): one table for NATS, HTTP and the CLI."""

    async def traffic(_: NoInput) -> dict[str, Any]:
        return {
            "events": comms.reads.traffic(),
            "valves": comms.valve_report(),
            "link": await link_totals(var, comms.site),
        }

    async def directory(_: NoInput) -> dict[str, Any]:
        return comms.reads.directory_listing()

    return {
        "send": (SendInput, comms.send),
        "attach": (AttachInput, comms.attach),
        "fetch_attachment": (FetchInput, comms.fetch_attachment),
        "read": (ReadInput, comms.mark_read),
        "resend": (ResendInput, comms.resend),
        "list_address": (AddressInput, comms.list_address),
        "unlist_address": (AddressInput, comms.unlist_address),
        "open_channel": (ChannelInput, comms.open_channel),
        "set_channel_sites": (ChannelInput, comms.set_channel_sites),
        "set_key": (KeyInput, comms.set_key),
        "raise_alert": (AlertInput, comms.raise_alert),
        "ack_alert": (AckInput, comms.ack_alert),
        "inbox": (InboxQuery, comms.inbox),
        "outbox": (OutboxQuery, comms.outbox),
        "status": (StatusQuery, comms.status),
        "board": (BoardQuery, comms.board),
        "traffic": (NoInput, traffic),
        "directory": (NoInput, directory),
    }


def register_endpoints(served: Endpoints, comms: Comms, var: Path) -> None:
    for name, (model, handle) in endpoints(comms, var).items():
        served.add(command_subject(comms.site, CONTEXT, name), model, handle)


def runners(nc: NATS, site: str, db_path: Path) -> list[ProjectionRunner]:
    """One runner per stream, all into one read-model file. At a field site a valved class's own
    messages are read where they are written (the held stream), so its class stream is read only
    for what the hub sent and the site's own receipts: each event is applied once."""
    out = []
    for p in PRIORITIES:
        ctx = context_of(p)
        filters: tuple[str, ...] = ()
        if p in VALVED and site != HUB:
            filters = (f"ev.{ctx}.{HUB}.>", f"ev.{ctx}.{site}.{HUB}.dlv.>")
            held = home_context(p, site)
            out.append(
                ProjectionRunner(
                    nc,
                    MessagesProjection(p, site, name=f"comms_held_{p}"),
                    registry,
                    db_path=db_path,
                    stream=stream_name(held, site),
                    site=site,
                )
            )
        out.append(
            ProjectionRunner(
                nc,
                MessagesProjection(p, site),
                registry,
                db_path=db_path,
                stream=stream_name(ctx, site),
                site=site,
                filter_subjects=filters,
            )
        )
    for projection, ctx in ((AlertsProjection(), ALERTS), (DirectoryProjection(), DIRECTORY)):
        out.append(
            ProjectionRunner(
                nc, projection, registry, db_path=db_path, stream=stream_name(ctx, site), site=site
            )
        )
    return out


def reactors(nc: NATS, comms: Comms) -> list[Reactor]:
    site = comms.site
    arrival = Arrival(comms)
    out = []
    for p in PRIORITIES:
        ctx = context_of(p)
        held = p in VALVED and site != HUB
        filters = delivery_filters(ctx, site)
        if held:  # its own new messages are read where they are written, not from the copies
            filters = filters[:1]
            own = home_context(p, site)
            out.append(
                Reactor(
                    nc,
                    f"comms_deliver_held_{p}",
                    registry,
                    arrival.messages(p),
                    stream=stream_name(own, site),
                    site=site,
                    actor=f"comms@{site}",
                    filter_subjects=(f"ev.{own}.{site}.{HUB}.msg.>",),
                    lane=sender_lane,
                )
            )
        out.append(
            Reactor(
                nc,
                f"comms_deliver_{p}",
                registry,
                arrival.messages(p),
                stream=stream_name(ctx, site),
                site=site,
                actor=f"comms@{site}",
                filter_subjects=filters,
                lane=sender_lane,
            )
        )
    out.append(
        Reactor(
            nc,
            "comms_alert_arrival",
            registry,
            arrival.alerts,
            stream=stream_name(ALERTS, site),
            site=site,
            actor=f"comms@{site}",
        )
    )
    if site == HUB:
        out += hub_reactors(nc, comms)
    return out


def hub_reactors(nc: NATS, comms: Comms) -> list[Reactor]:
    """The relay reads only what sites wrote (and the hub's own senders and recipients): new
    messages and delivery facts, ``ev.<ctx>.*.hub.{msg,dlv}.>``."""
    relay = HubRelay(comms)
    out = [
        Reactor(
            nc,
            f"comms_relay_{p}",
            registry,
            relay.messages(p),
            stream=stream_name(context_of(p), HUB),
            site=HUB,
            actor="relay@hub",
            filter_subjects=(
                f"ev.{context_of(p)}.*.{HUB}.msg.>",
                f"ev.{context_of(p)}.*.{HUB}.dlv.>",
            ),
            lane=sender_lane,
        )
        for p in PRIORITIES
    ]
    for name, plan, ctx in (
        ("comms_relay_alerts", relay.alerts, ALERTS),
        ("comms_relay_directory", relay.directory, DIRECTORY),
    ):
        out.append(
            Reactor(
                nc,
                name,
                registry,
                plan,
                stream=stream_name(ctx, HUB),
                site=HUB,
                actor="relay@hub",
                filter_subjects=(f"ev.{ctx}.*.{HUB}.>",),
            )
        )
    return out
