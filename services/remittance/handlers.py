"""Load, decide, append: one command handler per aggregate kind, and the look-ups the edges need before
a decision (which site a group or a transfer belongs to, whether a kitchen need exists).

Look-ups read the event store itself where the answer must be exact (a group's registration, a
transfer's subject), and the read model only for other services' facts (kitchen needs).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from nats.aio.client import Client as NATS

from services.remittance import reports
from services.remittance.account import accounts
from services.remittance.directory import Group, groups
from services.remittance.events import CONTEXT, registry
from services.remittance.transfer import transfers
from shared.commands import CommandHandler
from shared.decider import Refused
from shared.endpoints import NotFound
from shared.envelope import EventPayload
from shared.eventstore import EventStore, StoreUnavailable
from shared.ids import timestamp_ms
from shared.projection import open_db
from shared.subjects import ALL, HUB, AggregateRef, InvalidName, stream_name

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=EventPayload)
FUTURE_SLACK = timedelta(days=1)
"""How far ahead of this server's clock a field device's clock may run before its time is refused."""


def at(explicit: datetime | None, command_id: str) -> datetime:
    """When it happened: the time given, else the time inside the client's UUIDv7 id (made when the
    record was captured, perhaps offline days ago), in UTC. The id's time is checked as a number
    before it becomes a datetime: a well-formed id can carry a time past year 9999, which no
    datetime holds."""
    limit = datetime.now(UTC) + FUTURE_SLACK
    if explicit is None:
        ms = timestamp_ms(command_id)
        if ms > limit.timestamp() * 1000:
            raise _future()
        return datetime.fromtimestamp(ms / 1000, UTC)
    if explicit > limit:
        raise _future()
    return utc(explicit)


def _future() -> Refused:
    return Refused(
        "that time is more than a day in the future: check the device's clock",
        code="future_time",
    )


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC, or a refusal when UTC has no such time (year 1 east of Greenwich, year
    9999 west of it): only a wrong clock or a typo gives one, and it is bad input, not a crash."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise Refused(
            "that time is out of range: check the date and the device's clock",
            code="invalid_time",
        ) from None


def group_ref(group_id: str) -> AggregateRef:
    return AggregateRef(CONTEXT, "group", group_id, HUB, audience=ALL)


def account_ref(group_id: str, site: str) -> AggregateRef:
    return AggregateRef(CONTEXT, "account", group_id, site)


def transfer_ref(transfer_id: str, site: str) -> AggregateRef:
    return AggregateRef(CONTEXT, "transfer", transfer_id, HUB, audience=site)


class Handlers:
    """Everything a command needs at one site: the store, a handler per aggregate, the read model."""

    def __init__(self, nc: NATS, site: str, db_path: Path | str) -> None:
        self.nc = nc
        self.site = site
        self.db_path = str(db_path)
        self.store = EventStore(nc, registry, site)
        self.transfers = CommandHandler(self.store, transfers)
        self.accounts = CommandHandler(self.store, accounts)
        self.groups = CommandHandler(self.store, groups)
        self._known_groups: dict[str, Group] = {}
        self._db: sqlite3.Connection | None = None
        self._transfer_sites: OrderedDict[str, AggregateRef] = OrderedDict()

    async def linked(self, site: str) -> bool:
        """Whether the site is a field site whose events reach this hub: its stream is a source of
        the hub's ledger stream (the topology adds one per site). A group registered at a site
        that is not, at a typo of one, or at the hub itself (no treasurer's commands are served
        there), could never confirm a receipt: the money would sit in transit for ever."""
        if site == HUB:
            return False
        try:
            wanted = stream_name(CONTEXT, site)
        except InvalidName:  # "all" is a site's shape but names every site, not one
            return False
        info = await self.nc.jetstream().stream_info(stream_name(CONTEXT, HUB))
        return wanted in {s.name for s in info.config.sources or ()}

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The read models, through one long-lived read-only connection (a new connection parses
        the whole schema on its first statement: that was most of the cost of a small query)."""
        if self._db is None:
            try:
                self._db = open_db(self.db_path, readonly=True)
            except sqlite3.OperationalError:
                raise StoreUnavailable("the read models are not ready yet") from None
        try:
            yield self._db
        except sqlite3.OperationalError as exc:
            self.close()
            if "no such table" in str(exc):
                raise StoreUnavailable("the read models are not ready yet") from None
            raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def group(self, group_id: str) -> Group:
        """A registered group, read from the store (registrations never change, so they are kept)."""
        known = self._known_groups.get(group_id)
        if known is not None:
            return known
        loaded = await self.store.load(group_ref(group_id))
        found = groups.fold(e.envelope.payload for e in loaded.events)
        if found.site is None:
            raise NotFound(f"no group {group_id} is registered", code="unknown_group")
        self._known_groups[group_id] = found
        return found

    async def group_here(self, group_id: str) -> Group:
        found = await self.group(group_id)
        if found.site != self.site:
            raise Refused(
                f"group {group_id} keeps its accounts at {found.site}, not {self.site}",
                code="wrong_site",
            )
        return found

    async def transfer(self, transfer_id: str) -> AggregateRef:
        """The transfer's aggregate: its subject names the group's site, found in the hub's stream
        by a direct get on a wildcard subject (exact, not a read model that may lag)."""
        found = await self.find_transfer(transfer_id)
        if found is None:
            raise NotFound("no transfer with this id has been pledged", code="unknown_transfer")
        return found

    async def find_transfer(self, transfer_id: str) -> AggregateRef | None:
        known = self._transfer_sites.get(transfer_id)
        if known is not None:
            return known
        subject = await self.store.last_subject(
            stream_name(CONTEXT, HUB), f"ev.{CONTEXT}.{HUB}.*.transfer.{transfer_id}"
        )
        if subject is None:
            return None
        ref = AggregateRef.from_subject(subject)
        self._transfer_sites[transfer_id] = ref
        while len(self._transfer_sites) > 10_000:
            self._transfer_sites.popitem(last=False)
        return ref

    def remember(self, ref: AggregateRef) -> None:
        """A transfer just pledged here: its subject is known without asking the stream."""
        self._transfer_sites[ref.id] = ref

    def need(self, need_id: str, site: str) -> reports.Json:
        """A kitchen need posted at ``site`` (the group's): a need elsewhere is refused by name."""
        with self.read() as db:
            found = reports.need(db, need_id, site)
            elsewhere = reports.sites_with_need(db, need_id) if found is None else []
        if found is None and elsewhere:
            raise Refused(
                f"kitchen need {need_id} is at {', '.join(elsewhere)}, not at {site}",
                code="need_elsewhere",
            )
        if found is None:
            raise NotFound(f"no kitchen need {need_id} is known here (yet)", code="unknown_need")
        return found
