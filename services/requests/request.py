"""The help request aggregate: intake, one claimant at a time, and an explicit lifecycle.

open -> claimed -> in progress -> fulfilled; or signposted (referred to a specialist service), or
cancelled, or merged into the request it duplicates. A claim can be released, or expire after the
site's claim expiry while the work has not started; the request then reopens. Each time it opens
counts a round, so the alert for an urgent request nobody has claimed is raised once per round.

Nothing in a command or event asks for proof of need; the requester's contact and words live in the
site's vault, and only the pseudonymous ``contact_ref`` is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, NamedTuple

from services.requests.actors import Actor
from services.requests.events import (
    ALERTING,
    CancelReason,
    Category,
    ClaimExpired,
    ClaimOutcome,
    ClaimReleased,
    ContactForgotten,
    DirectoryKind,
    DuplicateAbsorbed,
    RequestCancelled,
    RequestClaimed,
    RequestFulfilled,
    RequestMerged,
    RequestOpened,
    RequestSignposted,
    RequestStarted,
    Urgency,
    UrgentRequestUnclaimed,
)
from shared.decider import Decider, Refused
from shared.endpoints import REUSED_ID, NotFound
from shared.envelope import EventPayload

Status = Literal[
    "new", "open", "claimed", "in_progress", "fulfilled", "signposted", "cancelled", "merged"
]
CLOSED: frozenset[Status] = frozenset({"fulfilled", "signposted", "cancelled", "merged"})


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str
    volunteer_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RequestState:
    status: Status = "new"
    request_id: str = ""
    category: Category = "other"
    urgency: Urgency = "normal"
    ward: str = ""
    area_id: str = ""
    household_size: int = 1
    contact_ref: str | None = None
    claim: Claim | None = None
    open_round: int = 0
    alerted_round: int = 0
    merged_into: str | None = None
    absorbed_refs: tuple[str, ...] = ()
    absorbed_ids: tuple[str, ...] = ()
    """The requests merged into this one: forgetting follows them to their own duplicates."""
    contact_forgotten: bool = False
    seen: frozenset[str] = frozenset()


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenRequest:
    command_id: str
    actor: Actor
    request_id: str
    category: Category
    urgency: Urgency
    ward: str
    area_id: str
    household_size: int
    contact_ref: str | None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """``command_id`` becomes the claim id; ``expires_at`` is the command's time plus the site's
    claim expiry (the edge reads both)."""

    command_id: str
    actor: Actor
    volunteer_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ReleaseClaim:
    command_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class StartRequest:
    command_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class FulfilRequest:
    command_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class SignpostRequest:
    command_id: str
    actor: Actor
    entry_id: str
    kind: DirectoryKind


@dataclass(frozen=True, slots=True)
class CancelRequest:
    command_id: str
    actor: Actor
    reason: CancelReason


@dataclass(frozen=True, slots=True)
class MergeInto:
    """This request duplicates ``survivor_id``."""

    command_id: str
    actor: Actor
    survivor_id: str


@dataclass(frozen=True, slots=True)
class AbsorbDuplicate:
    command_id: str
    actor: Actor
    duplicate_id: str
    duplicate_contact_ref: str | None


@dataclass(frozen=True, slots=True)
class ForgetContact:
    """Recorded after the vault has shredded ``contact_refs``."""

    command_id: str
    actor: Actor
    contact_refs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExpireClaim:
    """From the site's timer, once ``claim_id`` has passed its expiry."""

    claim_id: str


@dataclass(frozen=True, slots=True)
class AlertUnclaimed:
    """From the site's timer: the request has been open ``minutes`` in round ``round``."""

    round: int
    minutes: int


RequestCommand = (
    OpenRequest
    | ClaimRequest
    | ReleaseClaim
    | StartRequest
    | FulfilRequest
    | SignpostRequest
    | CancelRequest
    | MergeInto
    | AbsorbDuplicate
    | ForgetContact
    | ExpireClaim
    | AlertUnclaimed
)


# --- deciding ---------------------------------------------------------------------------------


def decide(command: RequestCommand, state: RequestState) -> Sequence[EventPayload]:
    if isinstance(command, OpenRequest):  # compared with the request it would repeat, if any
        return _open(command, state)
    if getattr(command, "command_id", None) in state.seen:
        return []  # a retry of a command already decided
    match command:
        case ExpireClaim(claim_id=claim_id):
            claim = state.claim
            if state.status != "claimed" or claim is None or claim.claim_id != claim_id:
                return []  # released, started or finished meanwhile: nothing to expire
            return [ClaimExpired(claim_id=claim_id, volunteer_id=claim.volunteer_id)]
        case AlertUnclaimed(round=round_, minutes=minutes):
            if state.status != "open" or state.urgency not in ALERTING:
                return []
            if round_ != state.open_round or state.alerted_round >= round_:
                return []
            return [
                UrgentRequestUnclaimed(
                    request_id=state.request_id,
                    category=state.category,
                    urgency=state.urgency,
                    ward=state.ward,
                    minutes=minutes,
                )
            ]
        case AbsorbDuplicate(command_id=cid, duplicate_id=dup, duplicate_contact_ref=ref):
            _exists(state)  # a record-keeping fact: accepted in any state
            return [DuplicateAbsorbed(duplicate_id=dup, duplicate_contact_ref=ref, command_id=cid)]
        case ForgetContact(command_id=cid, actor=actor, contact_refs=refs):
            _exists(state)
            if not actor.is_coordinator:
                raise Refused("only a coordinator can forget a person", code="not_allowed")
            if state.contact_forgotten and set(refs) <= set(_refs(state)):
                return []
            return [ContactForgotten(contact_refs=refs, command_id=cid)]
    _open_for_work(state)
    match command:
        case ClaimRequest():
            return _claim(command, state)
        case ReleaseClaim(command_id=cid, actor=actor):
            claim = _claimant_or_coordinator(state, actor, "release")
            return [
                ClaimReleased(
                    claim_id=claim.claim_id, volunteer_id=claim.volunteer_id, command_id=cid
                )
            ]
        case StartRequest(command_id=cid, actor=actor):
            claim = _claimant_or_coordinator(state, actor, "start")
            if state.status == "in_progress":
                raise Refused("the work on this request has already started", code="started")
            return [
                RequestStarted(
                    claim_id=claim.claim_id, volunteer_id=claim.volunteer_id, command_id=cid
                )
            ]
        case FulfilRequest(command_id=cid, actor=actor):
            claim = _claimant_or_coordinator(state, actor, "fulfil")
            return [
                RequestFulfilled(
                    claim_id=claim.claim_id, volunteer_id=claim.volunteer_id, command_id=cid
                )
            ]
        case SignpostRequest(command_id=cid, actor=actor, entry_id=entry_id, kind=kind):
            claim = state.claim
            if claim is None:
                _coordinator(actor, "signpost an unclaimed request")
            else:
                _claimant_or_coordinator(state, actor, "signpost")
            return [
                RequestSignposted(
                    entry_id=entry_id,
                    kind=kind,
                    claim_id=claim.claim_id if claim else None,
                    volunteer_id=claim.volunteer_id if claim else None,
                    command_id=cid,
                )
            ]
        case CancelRequest(command_id=cid, actor=actor, reason=reason):
            _coordinator(actor, "cancel a request")
            claim = state.claim
            return [
                RequestCancelled(
                    reason=reason,
                    claim_id=claim.claim_id if claim else None,
                    volunteer_id=claim.volunteer_id if claim else None,
                    command_id=cid,
                )
            ]
        case MergeInto(command_id=cid, actor=actor, survivor_id=survivor):
            _coordinator(actor, "merge duplicate requests")
            if survivor == state.request_id:
                raise Refused("a request cannot be merged into itself", code="bad_merge")
            if state.claim is not None:
                raise Refused(
                    f"this duplicate is claimed by {state.claim.volunteer_id}: release it first",
                    code="claimed",
                )
            return [RequestMerged(into_request_id=survivor, command_id=cid)]
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def _open(command: OpenRequest, state: RequestState) -> Sequence[EventPayload]:
    if state.status != "new":
        if command.command_id not in state.seen:
            raise Refused(f"request id {command.request_id} is already taken", code="exists")
        # The intake again: a retry changes nothing, whatever became of the request since. Its id
        # used for another intake is refused: answering with the first dropped the second unseen.
        if _intake(state) != _intake(command):
            raise Refused(REUSED_ID, code="conflict")
        return []
    if command.actor.is_system:
        raise Refused("requests come from people", code="not_allowed")
    return [
        RequestOpened(
            request_id=command.request_id,
            category=command.category,
            urgency=command.urgency,
            ward=command.ward,
            area_id=command.area_id,
            household_size=command.household_size,
            contact_ref=command.contact_ref,
            command_id=command.command_id,
        )
    ]


def _intake(intake: OpenRequest | RequestState) -> tuple[object, ...]:
    """What an intake said, which nothing after it changes."""
    return (
        intake.category,
        intake.urgency,
        intake.ward,
        intake.area_id,
        intake.household_size,
        intake.contact_ref,
    )


def _claim(command: ClaimRequest, state: RequestState) -> Sequence[EventPayload]:
    check_claimable(state, command.volunteer_id)
    actor = command.actor
    if not (actor.is_coordinator or actor.is_volunteer(command.volunteer_id)):
        raise Refused(
            "a volunteer claims for themself; only a coordinator assigns a request to someone else",
            code="not_allowed",
        )
    return [
        RequestClaimed(
            claim_id=command.command_id,
            volunteer_id=command.volunteer_id,
            expires_at=command.expires_at,
            assigned=actor.is_coordinator,
        )
    ]


def check_claimable(state: RequestState, volunteer_id: str) -> None:
    """Why ``volunteer_id`` cannot claim the request now, as a refusal; the claim flow asks before
    reserving the volunteer's capacity, and the decider asks again on the latest state."""
    _open_for_work(state)
    claim = state.claim
    if claim is not None:
        if claim.volunteer_id == volunteer_id:
            raise Refused(f"{volunteer_id} already holds this request", code="already_yours")
        raise Refused(
            f"request {state.request_id} is already claimed by {claim.volunteer_id}; "
            "a coordinator can release it if it is stuck",
            code="already_claimed",
        )


def _exists(state: RequestState) -> None:
    if state.status == "new":
        raise NotFound("no such request at this site")


def _open_for_work(state: RequestState) -> None:
    _exists(state)
    if state.status == "merged":
        raise Refused(
            f"this request was merged into {state.merged_into}; work on that one",
            code="closed",
        )
    if state.status in CLOSED:
        raise Refused(f"this request is already {state.status}", code="closed")


def _coordinator(actor: Actor, what: str) -> None:
    if not actor.is_coordinator:
        raise Refused(f"only a coordinator can {what}", code="not_allowed")


def _claimant_or_coordinator(state: RequestState, actor: Actor, what: str) -> Claim:
    claim = state.claim
    if claim is None:
        raise Refused(f"nobody has claimed this request: there is nothing to {what}", code="open")
    if not (actor.is_coordinator or actor.is_volunteer(claim.volunteer_id)):
        raise Refused(
            f"only {claim.volunteer_id}, who claimed it, or a coordinator can {what} this request",
            code="not_allowed",
        )
    return claim


def _refs(state: RequestState) -> tuple[str, ...]:
    own = (state.contact_ref,) if state.contact_ref else ()
    return own + state.absorbed_refs


def contact_refs(state: RequestState) -> tuple[str, ...]:
    """Every vault entry this request's requester has: their own, and their duplicates'."""
    return _refs(state)


def may_read_contact(state: RequestState, actor: Actor) -> bool:
    """Coordinators, and the volunteer who holds the claim, while they hold it."""
    if actor.is_coordinator:
        return True
    return state.claim is not None and actor.is_volunteer(state.claim.volunteer_id)


class EndedClaim(NamedTuple):
    claim_id: str
    volunteer_id: str
    outcome: ClaimOutcome


def claim_outcome(event: EventPayload) -> EndedClaim | None:
    """The claim ``event`` ends, if it ends one: the volunteer's place is then given back."""
    match event:
        case ClaimReleased(claim_id=c, volunteer_id=v):
            return EndedClaim(c, v, "released")
        case ClaimExpired(claim_id=c, volunteer_id=v):
            return EndedClaim(c, v, "expired")
        case RequestFulfilled(claim_id=c, volunteer_id=v):
            return EndedClaim(c, v, "fulfilled")
        case RequestSignposted(claim_id=str() as c, volunteer_id=str() as v):
            return EndedClaim(c, v, "signposted")
        case RequestCancelled(claim_id=str() as c, volunteer_id=str() as v):
            return EndedClaim(c, v, "cancelled")
    return None


def evolve(state: RequestState, event: EventPayload) -> RequestState:
    cid = getattr(event, "command_id", "") or getattr(event, "claim_id", "")
    if cid:
        state = replace(state, seen=state.seen | {cid})
    match event:
        case RequestOpened():
            return replace(
                state,
                status="open",
                request_id=event.request_id,
                category=event.category,
                urgency=event.urgency,
                ward=event.ward,
                area_id=event.area_id,
                household_size=event.household_size,
                contact_ref=event.contact_ref,
                open_round=1,
            )
        case RequestClaimed(claim_id=c, volunteer_id=v, expires_at=until):
            return replace(state, status="claimed", claim=Claim(c, v, until))
        case ClaimReleased() | ClaimExpired():
            return replace(state, status="open", claim=None, open_round=state.open_round + 1)
        case RequestStarted():
            return replace(state, status="in_progress")
        case RequestFulfilled():
            return replace(state, status="fulfilled", claim=None)
        case RequestSignposted():
            return replace(state, status="signposted", claim=None)
        case RequestCancelled():
            return replace(state, status="cancelled", claim=None)
        case RequestMerged(into_request_id=into):
            return replace(state, status="merged", merged_into=into)
        case DuplicateAbsorbed(duplicate_id=dup, duplicate_contact_ref=ref):
            refs = (*state.absorbed_refs, ref) if ref else state.absorbed_refs
            return replace(state, absorbed_refs=refs, absorbed_ids=(*state.absorbed_ids, dup))
        case ContactForgotten():
            return replace(state, contact_forgotten=True)
        case UrgentRequestUnclaimed():
            return replace(state, alerted_round=state.open_round)
    return state


request_decider: Decider[RequestCommand, RequestState, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=RequestState()
)
