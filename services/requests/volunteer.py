"""The volunteer aggregate: where they are, what they can help with, and how much they carry.

The aggregate is the one place a volunteer's active claims are counted, so a claim first takes a
place here (refused at the limit, while resting or unavailable) and only then on the request. The
limit protects people: mutual-aid groups burn out their most willing members first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from services.requests.actors import Actor
from services.requests.events import (
    Category,
    ClaimOutcome,
    VolunteerAvailabilityChanged,
    VolunteerClaimEnded,
    VolunteerClaimTaken,
    VolunteerRegistered,
    VolunteerRestEnded,
    VolunteerRestStarted,
    VolunteerStoodDown,
    VolunteerUpdated,
)
from shared.decider import Decider, Refused
from shared.endpoints import NotFound
from shared.envelope import EventPayload


@dataclass(frozen=True, slots=True)
class VolunteerState:
    registered: bool = False
    volunteer_id: str = ""
    ward: str = ""
    area_id: str = ""
    skills: tuple[Category, ...] = ()
    max_claims: int | None = None
    available: bool = True
    resting: bool = False
    stood_down: bool = False
    active: Mapping[str, str] = field(default_factory=dict)
    """Active claims: claim id -> request id."""
    ended: frozenset[str] = frozenset()
    fulfilled: int = 0
    seen: frozenset[str] = frozenset()

    def limit(self, site_default: int) -> int:
        return self.max_claims if self.max_claims is not None else site_default


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterVolunteer:
    command_id: str
    actor: Actor
    volunteer_id: str
    ward: str
    area_id: str
    skills: tuple[Category, ...]
    max_claims: int | None


SiteDefault = Literal["site_default"]
SITE_DEFAULT: SiteDefault = "site_default"
"""An update's ``max_claims`` that puts the volunteer back on the site's default limit."""


@dataclass(frozen=True, slots=True)
class UpdateVolunteer:
    """None keeps what the volunteer has: an update of their skills put them back on the site's
    default limit. ``ward`` and ``area_id`` go together; ``SITE_DEFAULT`` drops their own limit."""

    command_id: str
    actor: Actor
    ward: str | None = None
    area_id: str | None = None
    skills: tuple[Category, ...] | None = None
    max_claims: int | SiteDefault | None = None


@dataclass(frozen=True, slots=True)
class SetAvailability:
    command_id: str
    actor: Actor
    available: bool


@dataclass(frozen=True, slots=True)
class StartRest:
    command_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class EndRest:
    command_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class StandDown:
    command_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class TakeClaim:
    """The first step of a claim; ``site_default`` is the site's default limit."""

    claim_id: str
    request_id: str
    site_default: int


@dataclass(frozen=True, slots=True)
class DropClaim:
    claim_id: str
    request_id: str
    outcome: ClaimOutcome


VolunteerCommand = (
    RegisterVolunteer
    | UpdateVolunteer
    | SetAvailability
    | StartRest
    | EndRest
    | StandDown
    | TakeClaim
    | DropClaim
)


# --- deciding ---------------------------------------------------------------------------------


def decide(command: VolunteerCommand, state: VolunteerState) -> Sequence[EventPayload]:
    if getattr(command, "command_id", None) in state.seen:
        return []
    match command:
        case RegisterVolunteer():
            return _register(command, state)
        case DropClaim(claim_id=claim_id, request_id=request_id, outcome=outcome):
            if claim_id not in state.active:
                return []  # already ended, or never taken
            return [VolunteerClaimEnded(request_id=request_id, claim_id=claim_id, outcome=outcome)]
        case TakeClaim():
            return _take(command, state)
    _registered(state)
    match command:
        case UpdateVolunteer(actor=actor):
            _coordinator(actor, "change a volunteer's area, skills or limit")
            return _update(command, state)
        case SetAvailability(command_id=cid, actor=actor, available=available):
            _self_or_coordinator(state, actor)
            if state.available == available:
                return []
            return [VolunteerAvailabilityChanged(available=available, command_id=cid)]
        case StartRest(command_id=cid, actor=actor):
            _self_or_coordinator(state, actor)
            return [] if state.resting else [VolunteerRestStarted(command_id=cid)]
        case EndRest(command_id=cid, actor=actor):
            _self_or_coordinator(state, actor)
            return [VolunteerRestEnded(command_id=cid)] if state.resting else []
        case StandDown(command_id=cid, actor=actor):
            _coordinator(actor, "stand a volunteer down")
            if state.active:
                raise Refused(
                    f"{state.volunteer_id} still holds {len(state.active)} active claim(s): "
                    "release or finish them first",
                    code="has_claims",
                )
            return [VolunteerStoodDown(command_id=cid)]
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def _register(command: RegisterVolunteer, state: VolunteerState) -> Sequence[EventPayload]:
    _coordinator(command.actor, "register a volunteer")
    if state.registered and not state.stood_down:
        same = (state.ward, state.area_id, state.skills, state.max_claims) == (
            command.ward,
            command.area_id,
            command.skills,
            command.max_claims,
        )
        if same:
            return []
        raise Refused(
            f"{command.volunteer_id} is already registered; update them instead", code="exists"
        )
    return [
        VolunteerRegistered(
            volunteer_id=command.volunteer_id,
            ward=command.ward,
            area_id=command.area_id,
            skills=command.skills,
            max_claims=command.max_claims,
            command_id=command.command_id,
        )
    ]


def _update(command: UpdateVolunteer, state: VolunteerState) -> Sequence[EventPayload]:
    """The event states the volunteer in full, as it always has: what the command left out is
    taken from the state (the event's ``max_claims`` None is the site's default)."""
    ward, area_id = state.ward, state.area_id
    if command.ward is not None and command.area_id is not None:
        ward, area_id = command.ward, command.area_id
    skills = state.skills if command.skills is None else command.skills
    match command.max_claims:
        case None:
            max_claims = state.max_claims
        case "site_default":
            max_claims = None
        case int() as own:
            max_claims = own
    if (ward, area_id, skills, max_claims) == (
        state.ward,
        state.area_id,
        state.skills,
        state.max_claims,
    ):
        return []
    return [
        VolunteerUpdated(
            ward=ward,
            area_id=area_id,
            skills=skills,
            max_claims=max_claims,
            command_id=command.command_id,
        )
    ]


def _take(command: TakeClaim, state: VolunteerState) -> Sequence[EventPayload]:
    if command.claim_id in state.active or command.claim_id in state.ended:
        return []
    _registered(state)
    who = state.volunteer_id
    if state.resting:
        raise Refused(f"{who} is resting; a coordinator or {who} can end the rest", code="resting")
    if not state.available:
        # Not plain "unavailable": that is the code of a service or store that does not answer
        # (retry later), and a script would have retried a refusal that stands.
        raise Refused(f"{who} has marked themself unavailable", code="volunteer_unavailable")
    limit = state.limit(command.site_default)
    if len(state.active) >= limit:
        raise Refused(
            f"{who} is at the limit of {limit} active claims; finish or release one first",
            code="at_limit",
        )
    return [VolunteerClaimTaken(request_id=command.request_id, claim_id=command.claim_id)]


def _registered(state: VolunteerState) -> None:
    if not state.registered:
        raise NotFound("no such volunteer at this site")
    if state.stood_down:
        raise Refused(f"{state.volunteer_id} has stood down", code="stood_down")


def _coordinator(actor: Actor, what: str) -> None:
    if not actor.is_coordinator:
        raise Refused(f"only a coordinator can {what}", code="not_allowed")


def _self_or_coordinator(state: VolunteerState, actor: Actor) -> None:
    if not (actor.is_coordinator or actor.is_volunteer(state.volunteer_id)):
        raise Refused(
            f"only {state.volunteer_id} or a coordinator can change this", code="not_allowed"
        )


def evolve(state: VolunteerState, event: EventPayload) -> VolunteerState:
    cid = getattr(event, "command_id", "")
    if cid:
        state = replace(state, seen=state.seen | {cid})
    match event:
        case VolunteerRegistered():
            return replace(
                state,
                registered=True,
                stood_down=False,
                volunteer_id=event.volunteer_id,
                ward=event.ward,
                area_id=event.area_id,
                skills=event.skills,
                max_claims=event.max_claims,
            )
        case VolunteerUpdated():
            return replace(
                state,
                ward=event.ward,
                area_id=event.area_id,
                skills=event.skills,
                max_claims=event.max_claims,
            )
        case VolunteerAvailabilityChanged(available=available):
            return replace(state, available=available)
        case VolunteerRestStarted():
            return replace(state, resting=True)
        case VolunteerRestEnded():
            return replace(state, resting=False)
        case VolunteerStoodDown():
            return replace(state, stood_down=True)
        case VolunteerClaimTaken(claim_id=claim_id, request_id=request_id):
            return replace(state, active={**state.active, claim_id: request_id})
        case VolunteerClaimEnded(claim_id=claim_id, outcome=outcome):
            active = {k: v for k, v in state.active.items() if k != claim_id}
            fulfilled = state.fulfilled + (outcome == "fulfilled")
            return replace(
                state, active=active, ended=state.ended | {claim_id}, fulfilled=fulfilled
            )
    return state


volunteer_decider: Decider[VolunteerCommand, VolunteerState, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=VolunteerState()
)
