"""The site aggregate: what a site's coordinators define for everyone else there.

Its coordinators, the area tree (site > ward > street or pod), the signposting directory, the
settings for claims and alerts, and the site's time zone (its "today" is its local date). One
aggregate per site, owned by that site: it changes rarely, and every command at the site reads it
(is this area known? is this actor a coordinator?), so one small cached history is cheaper than
many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from services.requests.actors import Actor
from services.requests.events import (
    AreaDefined,
    AreaLevel,
    AreaRetired,
    CoordinatorAppointed,
    CoordinatorStoodDown,
    DirectoryEntryListed,
    DirectoryEntryUpdated,
    DirectoryEntryWithdrawn,
    DirectoryKind,
    SiteSettingsChanged,
)
from services.requests.zones import DEFAULT_TIMEZONE, is_timezone
from shared.decider import Decider, Refused
from shared.endpoints import NotFound
from shared.envelope import EventPayload

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Area:
    area_id: str
    name: str
    level: AreaLevel
    parent_id: str | None
    retired: bool = False

    @property
    def ward(self) -> str:
        return self.area_id if self.parent_id is None else self.parent_id


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    name: str
    kind: DirectoryKind
    how_to_reach: str
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    default_max_claims: int = 3
    claim_expiry_minutes: int = 120
    urgent_alert_minutes: int = 30
    timezone: str = DEFAULT_TIMEZONE
    """The site's IANA zone: meals are dated, and "today" is counted, in the site's local day."""


@dataclass(frozen=True, slots=True)
class SiteState:
    coordinators: frozenset[str] = frozenset()
    areas: Mapping[str, Area] = field(default_factory=dict)
    directory: Mapping[str, Entry] = field(default_factory=dict)
    settings: Settings = Settings()
    seen: frozenset[str] = frozenset()


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppointCoordinator:
    command_id: str
    actor: Actor
    coordinator_id: str


@dataclass(frozen=True, slots=True)
class StandDownCoordinator:
    command_id: str
    actor: Actor
    coordinator_id: str


@dataclass(frozen=True, slots=True)
class DefineArea:
    command_id: str
    actor: Actor
    area_id: str
    name: str
    level: AreaLevel
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class RetireArea:
    command_id: str
    actor: Actor
    area_id: str


@dataclass(frozen=True, slots=True)
class ListDirectoryEntry:
    """Adds the entry, or updates it when the id is known."""

    command_id: str
    actor: Actor
    entry_id: str
    name: str
    kind: DirectoryKind
    how_to_reach: str


@dataclass(frozen=True, slots=True)
class WithdrawDirectoryEntry:
    command_id: str
    actor: Actor
    entry_id: str


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    """None keeps a setting as it is: a coordinator changing one need not restate the others."""

    command_id: str
    actor: Actor
    default_max_claims: int | None = None
    claim_expiry_minutes: int | None = None
    urgent_alert_minutes: int | None = None
    timezone: str | None = None


SiteCommand = (
    AppointCoordinator
    | StandDownCoordinator
    | DefineArea
    | RetireArea
    | ListDirectoryEntry
    | WithdrawDirectoryEntry
    | ChangeSettings
)


# --- reading the state (pure; the edges use these to check what a command refers to) ----------


def area(state: SiteState, area_id: str) -> Area:
    """The area a new request, volunteer or kitchen is placed in: known and not retired."""
    found = state.areas.get(area_id)
    if found is None:
        raise Refused(
            f"unknown area {area_id!r}: a coordinator defines the site's wards and streets first",
            code="unknown_area",
        )
    if found.retired:
        raise Refused(f"area {area_id!r} ({found.name}) was retired", code="retired_area")
    return found


def entry(state: SiteState, entry_id: str) -> Entry:
    found = state.directory.get(entry_id)
    if found is None or found.withdrawn:
        raise NotFound(f"no service {entry_id!r} in this site's signposting directory")
    return found


def check_role(state: SiteState, actor: Actor) -> None:
    if actor.is_coordinator and actor.id not in state.coordinators:
        raise Refused(f"{actor.id} is not a coordinator at this site", code="not_coordinator")


# --- deciding ---------------------------------------------------------------------------------


def decide(command: SiteCommand, state: SiteState) -> Sequence[EventPayload]:
    if command.command_id in state.seen:
        return []
    _only_coordinators(command, state)
    match command:
        case AppointCoordinator(command_id=cid, coordinator_id=who):
            if who in state.coordinators:
                return []
            return [CoordinatorAppointed(coordinator_id=who, command_id=cid)]
        case StandDownCoordinator(command_id=cid, coordinator_id=who):
            if who not in state.coordinators:
                raise NotFound(f"{who} is not a coordinator at this site")
            if state.coordinators == {who}:
                raise Refused(
                    "the last coordinator cannot stand down: appoint another first",
                    code="last_coordinator",
                )
            return [CoordinatorStoodDown(coordinator_id=who, command_id=cid)]
        case DefineArea():
            return _define_area(command, state)
        case RetireArea(command_id=cid, area_id=area_id):
            found = state.areas.get(area_id)
            if found is None:
                raise NotFound(f"unknown area {area_id!r}")
            if found.retired:
                return []
            return [AreaRetired(area_id=area_id, command_id=cid)]
        case ListDirectoryEntry():
            return _list_entry(command, state)
        case WithdrawDirectoryEntry(command_id=cid, entry_id=entry_id):
            entry(state, entry_id)
            return [DirectoryEntryWithdrawn(entry_id=entry_id, command_id=cid)]
        case ChangeSettings():
            return _change_settings(command, state.settings)


def _change_settings(command: ChangeSettings, now: Settings) -> Sequence[EventPayload]:
    """Every event carries every setting, the zone included, so that the last one says them all."""
    if command.timezone is not None and not is_timezone(command.timezone):
        raise Refused(
            "that time zone is unknown: give an IANA name such as Asia/Dili, Asia/Yangon or "
            "Africa/Khartoum (or UTC)",
            code="unknown_timezone",
        )
    changed = Settings(
        _or(command.default_max_claims, now.default_max_claims),
        _or(command.claim_expiry_minutes, now.claim_expiry_minutes),
        _or(command.urgent_alert_minutes, now.urgent_alert_minutes),
        _or(command.timezone, now.timezone),
    )
    if changed == now:
        return []
    return [
        SiteSettingsChanged(
            default_max_claims=changed.default_max_claims,
            claim_expiry_minutes=changed.claim_expiry_minutes,
            urgent_alert_minutes=changed.urgent_alert_minutes,
            command_id=command.command_id,
            timezone=changed.timezone,
        )
    ]


def _or(given: _T | None, current: _T) -> _T:
    return current if given is None else given


def _only_coordinators(command: SiteCommand, state: SiteState) -> None:
    """Only coordinators shape the site; the very first coordinator appoints themself."""
    if isinstance(command, AppointCoordinator) and not state.coordinators:
        if command.actor.id != command.coordinator_id:
            raise Refused(
                "the site has no coordinator yet: the first one appoints themself",
                code="not_coordinator",
            )
        return
    if not command.actor.is_coordinator or command.actor.id not in state.coordinators:
        raise Refused("only the site's coordinators may do this", code="not_coordinator")


def _define_area(command: DefineArea, state: SiteState) -> Sequence[EventPayload]:
    wanted = Area(command.area_id, command.name, command.level, command.parent_id)
    known = state.areas.get(command.area_id)
    if known is not None:
        if replace(known, retired=False) == wanted and not known.retired:
            return []  # the same definition again
        raise Refused(
            f"area id {command.area_id!r} is already used ({known.name}); pick another id",
            code="area_exists",
        )
    if command.level == "ward":
        if command.parent_id is not None:
            raise Refused("a ward belongs to the site itself: give it no parent", code="bad_area")
    else:
        parent = state.areas.get(command.parent_id or "")
        if parent is None or parent.level != "ward":
            raise Refused(
                f"a {command.level} must sit inside a known ward; {command.parent_id!r} is not one",
                code="bad_area",
            )
        if parent.retired:
            raise Refused(f"ward {parent.area_id!r} was retired", code="retired_area")
    return [
        AreaDefined(
            area_id=command.area_id,
            name=command.name,
            level=command.level,
            parent_id=command.parent_id,
            command_id=command.command_id,
        )
    ]


def _list_entry(command: ListDirectoryEntry, state: SiteState) -> Sequence[EventPayload]:
    fields = {
        "entry_id": command.entry_id,
        "name": command.name,
        "kind": command.kind,
        "how_to_reach": command.how_to_reach,
        "command_id": command.command_id,
    }
    known = state.directory.get(command.entry_id)
    if known is None or known.withdrawn:
        return [DirectoryEntryListed(**fields)]
    if (known.name, known.kind, known.how_to_reach) == (
        command.name,
        command.kind,
        command.how_to_reach,
    ):
        return []
    return [DirectoryEntryUpdated(**fields)]


def evolve(state: SiteState, event: EventPayload) -> SiteState:
    cid = getattr(event, "command_id", "")
    if cid:
        state = replace(state, seen=state.seen | {cid})
    match event:
        case CoordinatorAppointed(coordinator_id=who):
            return replace(state, coordinators=state.coordinators | {who})
        case CoordinatorStoodDown(coordinator_id=who):
            return replace(state, coordinators=state.coordinators - {who})
        case AreaDefined(area_id=area_id, name=name, level=level, parent_id=parent):
            return replace(
                state, areas={**state.areas, area_id: Area(area_id, name, level, parent)}
            )
        case AreaRetired(area_id=area_id):
            retired = {
                a.area_id: replace(a, retired=True)
                for a in state.areas.values()
                if area_id in (a.area_id, a.parent_id)
            }
            return replace(state, areas={**state.areas, **retired})
        case DirectoryEntryListed() | DirectoryEntryUpdated():
            listed = Entry(event.entry_id, event.name, event.kind, event.how_to_reach)
            return replace(state, directory={**state.directory, event.entry_id: listed})
        case DirectoryEntryWithdrawn(entry_id=entry_id):
            gone = replace(state.directory[entry_id], withdrawn=True)
            return replace(state, directory={**state.directory, entry_id: gone})
        case SiteSettingsChanged():
            settings = Settings(
                event.default_max_claims,
                event.claim_expiry_minutes,
                event.urgent_alert_minutes,
                event.timezone or DEFAULT_TIMEZONE,
            )
            return replace(state, settings=settings)
    return state


site_decider: Decider[SiteCommand, SiteState, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=SiteState()
)
