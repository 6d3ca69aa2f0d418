"""The facts the requests service publishes: its public contract.

The events other services consume are marked "contract": remittance reads kitchen needs and meals
served (to show donors what is fundable and what their money did), comms reads unclaimed urgent
requests (to raise alerts). Their names and fields are fixed; new optional fields may be added.
No event carries personal data: a requester is a pseudonymous reference into the site's vault, and
the free-text need stays in the vault too (it often names a street, an illness or a relative).

``command_id`` on an event is the client id of the command that decided it: the aggregate keeps the
ids it has seen, so a command retried after the store's dedup window still changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.envelope import EventPayload, EventRegistry

CONTEXT = "requests"

Category = Literal[
    "food", "medicine", "shelter", "transport", "evacuation", "cash", "care", "other"
]
CATEGORIES: tuple[Category, ...] = (
    "food",
    "medicine",
    "shelter",
    "transport",
    "evacuation",
    "cash",
    "care",
    "other",
)
Urgency = Literal["low", "normal", "urgent", "critical"]
URGENCIES: tuple[Urgency, ...] = ("low", "normal", "urgent", "critical")
ALERTING: frozenset[str] = frozenset({"urgent", "critical"})
"""Urgencies that raise an alert when nobody has claimed the request in time."""
AreaLevel = Literal["ward", "street", "pod"]
DirectoryKind = Literal[
    "clinic", "legal_aid", "dv_support", "shelter", "mental_health", "food_bank", "other"
]
Unit = Literal["kg", "litres", "units"]
CancelReason = Literal["withdrawn", "no_longer_needed", "unreachable", "entered_in_error"]
ClaimOutcome = Literal[
    "released", "expired", "fulfilled", "signposted", "cancelled", "merged", "lost"
]
"""How a volunteer's claim ended; ``lost``: the claim never took hold (another volunteer won)."""
NeedMet = Literal["funded", "donated_in_kind", "withdrawn"]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""An id that is also a NATS subject token."""
CommandId = Annotated[str, StringConstraints(max_length=36)]
Item = Annotated[str, StringConstraints(pattern=r"^[\w][\w .()/-]{0,39}$")]
"""A stock item such as ``rice`` or ``cooking oil``."""
PublicText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""Text that is public by nature: a place name, an organisation and how to reach it."""


class KitchenNeedPosted(EventPayload):
    """Contract (remittance): a kitchen needs something donors can fund, e.g. 200 kg rice ~300,000 MMK
    (``estimated_cost_minor`` is in ISO 4217 minor units: 30000000 for MMK, which has 2 decimals)."""

    event_type = "KitchenNeedPosted"
    need_id: str
    kitchen_id: str
    item: str
    quantity: int = Field(gt=0)
    unit: str
    estimated_cost_minor: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    ward: str
    command_id: CommandId = ""


class KitchenNeedMet(EventPayload):
    """Contract (remittance): the need was met (bought, donated in kind, or withdrawn)."""

    event_type = "KitchenNeedMet"
    need_id: str
    kitchen_id: str
    how: str  # "funded" | "donated_in_kind" | "withdrawn"
    command_id: CommandId = ""


class MealsServed(EventPayload):
    """Contract (remittance): counts only, never names. ``meals`` adds to the day's count (a kitchen
    records each service: breakfast, lunch, dinner)."""

    event_type = "MealsServed"
    kitchen_id: str
    day: date
    meals: int = Field(ge=0)
    command_id: CommandId = ""


class UrgentRequestUnclaimed(EventPayload):
    """Contract (comms): an urgent request has had no volunteer for ``minutes``; ward-level only."""

    event_type = "UrgentRequestUnclaimed"
    request_id: str
    category: str
    urgency: str
    ward: str
    minutes: int = Field(ge=0)


# --- the site: coordinators, area tree, signposting directory, settings -----------------------


class CoordinatorAppointed(EventPayload):
    event_type = "CoordinatorAppointed"
    coordinator_id: Id
    command_id: CommandId


class CoordinatorStoodDown(EventPayload):
    event_type = "CoordinatorStoodDown"
    coordinator_id: Id
    command_id: CommandId


class AreaDefined(EventPayload):
    """A ward (``parent_id`` None: the site is its parent), or a street or pod inside a ward."""

    event_type = "AreaDefined"
    area_id: Id
    name: PublicText
    level: AreaLevel
    parent_id: Id | None
    command_id: CommandId


class AreaRetired(EventPayload):
    """No new requests, volunteers or kitchens there; what already refers to it keeps working."""

    event_type = "AreaRetired"
    area_id: Id
    command_id: CommandId


class DirectoryEntryListed(EventPayload):
    """A specialist service the site refers people to, and how to reach it (an organisation's
    public contact, never a person's)."""

    event_type = "DirectoryEntryListed"
    entry_id: Id
    name: PublicText
    kind: DirectoryKind
    how_to_reach: PublicText
    command_id: CommandId


class DirectoryEntryUpdated(EventPayload):
    event_type = "DirectoryEntryUpdated"
    entry_id: Id
    name: PublicText
    kind: DirectoryKind
    how_to_reach: PublicText
    command_id: CommandId


class DirectoryEntryWithdrawn(EventPayload):
    event_type = "DirectoryEntryWithdrawn"
    entry_id: Id
    command_id: CommandId


class SiteSettingsChanged(EventPayload):
    event_type = "SiteSettingsChanged"
    default_max_claims: int = Field(ge=1, le=50)
    claim_expiry_minutes: int = Field(ge=5, le=7 * 24 * 60)
    urgent_alert_minutes: int = Field(ge=1, le=24 * 60)
    command_id: CommandId
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    """The site's IANA time zone (``Asia/Dili``): its "today" is its date there. None in events
    from before sites had a zone, which were all UTC. Not checked against a zone database here:
    the hub's may be older than the site's, and the event must still decode."""


# --- help requests ----------------------------------------------------------------------------


class RequestOpened(EventPayload):
    """Intake. ``area_id`` is the most precise area known (a street or pod, or the ward itself).
    Nothing here asks for proof of need."""

    event_type = "RequestOpened"
    request_id: Id
    category: Category
    urgency: Urgency
    ward: Id
    area_id: Id
    household_size: int = Field(ge=1, le=100)
    contact_ref: Id | None
    command_id: CommandId


class RequestClaimed(EventPayload):
    """One volunteer took it on; ``claim_id`` is the claiming command's id."""

    event_type = "RequestClaimed"
    claim_id: CommandId
    volunteer_id: Id
    expires_at: datetime
    assigned: bool = False
    """A coordinator assigned it rather than the volunteer claiming it."""


class ClaimReleased(EventPayload):
    event_type = "ClaimReleased"
    claim_id: CommandId
    volunteer_id: Id
    command_id: CommandId


class ClaimExpired(EventPayload):
    """The site's claim expiry passed with the work not started: the request reopens."""

    event_type = "ClaimExpired"
    claim_id: CommandId
    volunteer_id: Id


class RequestStarted(EventPayload):
    event_type = "RequestStarted"
    claim_id: CommandId
    volunteer_id: Id
    command_id: CommandId


class RequestFulfilled(EventPayload):
    event_type = "RequestFulfilled"
    claim_id: CommandId
    volunteer_id: Id
    command_id: CommandId


class RequestSignposted(EventPayload):
    """Referred to a specialist service: records where the request was sent, not who was sent."""

    event_type = "RequestSignposted"
    entry_id: Id
    kind: DirectoryKind
    claim_id: CommandId | None
    volunteer_id: Id | None
    command_id: CommandId


class RequestCancelled(EventPayload):
    event_type = "RequestCancelled"
    reason: CancelReason
    claim_id: CommandId | None
    volunteer_id: Id | None
    command_id: CommandId


class RequestMerged(EventPayload):
    """This request was a duplicate intake of ``into_request_id`` and is closed."""

    event_type = "RequestMerged"
    into_request_id: Id
    command_id: CommandId


class DuplicateAbsorbed(EventPayload):
    """The surviving request of a merge; forgetting its requester forgets the duplicate's too."""

    event_type = "DuplicateAbsorbed"
    duplicate_id: Id
    duplicate_contact_ref: Id | None
    command_id: CommandId


class ContactForgotten(EventPayload):
    """The requester's personal data was crypto-shredded from the site's vault."""

    event_type = "ContactForgotten"
    contact_refs: tuple[Id, ...]
    command_id: CommandId


# --- volunteers -------------------------------------------------------------------------------


class VolunteerRegistered(EventPayload):
    event_type = "VolunteerRegistered"
    volunteer_id: Id
    ward: Id
    area_id: Id
    skills: tuple[Category, ...]
    max_claims: int | None = Field(default=None, ge=1, le=50)
    """None: the site's default."""
    command_id: CommandId


class VolunteerUpdated(EventPayload):
    event_type = "VolunteerUpdated"
    ward: Id
    area_id: Id
    skills: tuple[Category, ...]
    max_claims: int | None = Field(default=None, ge=1, le=50)
    command_id: CommandId


class VolunteerAvailabilityChanged(EventPayload):
    event_type = "VolunteerAvailabilityChanged"
    available: bool
    command_id: CommandId


class VolunteerRestStarted(EventPayload):
    """Protecting people from burnout: no new work is handed to a resting volunteer."""

    event_type = "VolunteerRestStarted"
    command_id: CommandId


class VolunteerRestEnded(EventPayload):
    event_type = "VolunteerRestEnded"
    command_id: CommandId


class VolunteerStoodDown(EventPayload):
    event_type = "VolunteerStoodDown"
    command_id: CommandId


class VolunteerClaimTaken(EventPayload):
    event_type = "VolunteerClaimTaken"
    request_id: Id
    claim_id: CommandId


class VolunteerClaimEnded(EventPayload):
    event_type = "VolunteerClaimEnded"
    request_id: Id
    claim_id: CommandId
    outcome: ClaimOutcome


# --- solidarity kitchens ----------------------------------------------------------------------


class KitchenOpened(EventPayload):
    event_type = "KitchenOpened"
    kitchen_id: Id
    name: PublicText
    ward: Id
    area_id: Id
    capacity_meals_per_day: int = Field(ge=1, le=100_000)
    leads: tuple[Id, ...] = ()
    """Volunteers who may record stock, meals and needs besides the site's coordinators."""
    command_id: CommandId


class KitchenUpdated(EventPayload):
    event_type = "KitchenUpdated"
    capacity_meals_per_day: int = Field(ge=1, le=100_000)
    leads: tuple[Id, ...] = ()
    command_id: CommandId


class StockReceived(EventPayload):
    event_type = "StockReceived"
    item: Item
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit: Unit
    command_id: CommandId


class StockUsed(EventPayload):
    event_type = "StockUsed"
    item: Item
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit: Unit
    command_id: CommandId


class MealsPlanned(EventPayload):
    """The day's plan (replaces an earlier plan for the same day)."""

    event_type = "MealsPlanned"
    day: date
    meals: int = Field(ge=0, le=100_000)
    command_id: CommandId


registry = EventRegistry(
    KitchenNeedPosted,
    KitchenNeedMet,
    MealsServed,
    UrgentRequestUnclaimed,
    CoordinatorAppointed,
    CoordinatorStoodDown,
    AreaDefined,
    AreaRetired,
    DirectoryEntryListed,
    DirectoryEntryUpdated,
    DirectoryEntryWithdrawn,
    SiteSettingsChanged,
    RequestOpened,
    RequestClaimed,
    ClaimReleased,
    ClaimExpired,
    RequestStarted,
    RequestFulfilled,
    RequestSignposted,
    RequestCancelled,
    RequestMerged,
    DuplicateAbsorbed,
    ContactForgotten,
    VolunteerRegistered,
    VolunteerUpdated,
    VolunteerAvailabilityChanged,
    VolunteerRestStarted,
    VolunteerRestEnded,
    VolunteerStoodDown,
    VolunteerClaimTaken,
    VolunteerClaimEnded,
    KitchenOpened,
    KitchenUpdated,
    StockReceived,
    StockUsed,
    MealsPlanned,
)
