"""What the edges accept: one pydantic model per command and query, shared by NATS, HTTP and the
CLI, so bad input gets the same clear error wherever it comes from and changes nothing.

Every command carries a client-made UUIDv7 ``command_id`` (a retry after a timeout sends the same id
and changes nothing), the acting person's pseudonymous id and the role they act in. Unknown fields
are refused: nothing here asks for proof of need, and nothing extra slips through.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from services.requests.events import (
    AreaLevel,
    CancelReason,
    Category,
    DirectoryKind,
    Id,
    Item,
    NeedMet,
    PublicText,
    Unit,
    Urgency,
)
from services.requests.zones import is_timezone
from shared.currencies import CURRENCIES
from shared.ids import UUID7_PATTERN, timestamp_ms
from shared.projection import Offset

_UUID7 = re.compile(UUID7_PATTERN)
_LATEST_ID_MS = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp() * 1000)
"""A command's time is its id's, and a claim's expiry is counted from it: past this, the dates
overflow (a UUIDv7 can say up to the year 10889)."""


def _uuid7(value: str) -> str:
    # fullmatch, not match with ``$``: ``$`` also matches before a trailing newline, and an id
    # with one got through here only to fail deeper down as an internal error.
    if not _UUID7.fullmatch(value):
        raise ValueError("must be a UUIDv7 made by the client (lowercase, with dashes)")
    if timestamp_ms(value) >= _LATEST_ID_MS:
        raise ValueError("must be a UUIDv7 made by the client with a clock set to a real date")
    return value


CommandId = Annotated[str, AfterValidator(_uuid7)]
RequestId = Annotated[str, AfterValidator(_uuid7)]
"""A request's id is the id of the command that opened it."""
EdgeRole = Literal["coordinator", "volunteer"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ()-]{4,23}$")]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
NeedText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)]


def _known_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(
            "must be an ISO 4217 code the remittance ledger knows, such as MMK, SDG or USD "
            "(a need priced in any other could never be funded)"
        )
    return value


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]


def _known_timezone(value: str) -> str:
    if not is_timezone(value):
        raise ValueError(
            "must be an IANA time zone name such as Asia/Dili, Asia/Yangon or Africa/Khartoum "
            "(or UTC)"
        )
    return value


TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_timezone)]
"""The site's zone, by name: an offset (``+09:00``) would be wrong half the year where clocks
change, and a laptop's own zone is too often wrong in the field."""
ItemName = Annotated[Item, StringConstraints(strip_whitespace=True)]
"""Trimmed: stock is kept by item name, and ``rice `` would otherwise be a second, unreachable
``rice`` (the dashboard shows it, stock-out of ``rice`` finds none)."""
Text = Annotated[
    PublicText, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")
]
"""Public text as typed: trimmed, not blank, and no control characters (a name or how to reach a
service is one line, shown to every coordinator's terminal and page)."""


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Command(Input):
    command_id: CommandId
    actor: Id
    role: EdgeRole


class Query(Input):
    pass


class ActorQuery(Query):
    actor: Id
    role: EdgeRole


# --- help requests ----------------------------------------------------------------------------


class CreateRequest(Command):
    """Intake. ``name``, ``phone``, ``address`` and ``need`` go only to the site's vault."""

    category: Category
    urgency: Urgency = "normal"
    area_id: Id
    household_size: int = Field(default=1, ge=1, le=100)
    name: Name | None = None
    phone: Phone | None = None
    address: Address | None = None
    need: NeedText | None = None


class ClaimRequest(Command):
    request_id: RequestId
    volunteer_id: Id | None = None
    """Who takes it on; defaults to the actor. Only a coordinator names someone else."""


class RequestAction(Command):
    """Release, start, fulfil, forget: the request is all they need."""

    request_id: RequestId


class SignpostRequest(Command):
    request_id: RequestId
    entry_id: Id


class CancelRequest(Command):
    request_id: RequestId
    reason: CancelReason


class MergeRequests(Command):
    duplicate_id: RequestId
    survivor_id: RequestId


class ReadContact(ActorQuery):
    request_id: RequestId


class ListRequests(Query):
    area_id: Id | None = None
    category: Category | None = None
    urgency: Urgency | None = None
    status: (
        Literal["open", "claimed", "in_progress", "fulfilled", "signposted", "cancelled", "merged"]
        | None
    ) = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: Offset = 0


class ShowRequest(Query):
    request_id: RequestId


class MatchRequest(Query):
    request_id: RequestId
    limit: int = Field(default=5, ge=1, le=50)


# --- volunteers -------------------------------------------------------------------------------


class RegisterVolunteer(Command):
    volunteer_id: Id
    area_id: Id
    skills: list[Category] = Field(min_length=1, max_length=8)
    max_claims: int | None = Field(default=None, ge=1, le=50)


class UpdateVolunteer(Command):
    """What is left out (or null) stays as it is; ``max_claims: "site_default"`` puts the
    volunteer back on the site's default limit (null keeps their own, as with every field)."""

    volunteer_id: Id
    area_id: Id | None = None
    skills: list[Category] | None = Field(default=None, min_length=1, max_length=8)
    max_claims: Annotated[int, Field(ge=1, le=50)] | Literal["site_default"] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateVolunteer:
        if self.area_id is None and self.skills is None and self.max_claims is None:
            raise ValueError("give the area_id, skills or max_claims to change (one or more)")
        return self


class VolunteerAction(Command):
    """Rest, end a rest, stand down."""

    volunteer_id: Id


class SetAvailability(Command):
    volunteer_id: Id
    available: bool


class ListVolunteers(Query):
    area_id: Id | None = None
    limit: int = Field(default=200, ge=1, le=1000)
    offset: Offset = 0
    """Load changes as
    claims come and go, so a page is a view of that moment: read it again for the current order."""


# --- kitchens ---------------------------------------------------------------------------------


class OpenKitchen(Command):
    kitchen_id: Id
    name: Text
    area_id: Id
    capacity: int = Field(ge=1, le=100_000)
    leads: list[Id] = Field(default_factory=list, max_length=20)


class UpdateKitchen(Command):
    """What is left out (or null) stays as it is; ``leads: []`` removes every lead."""

    kitchen_id: Id
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    leads: list[Id] | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateKitchen:
        if self.capacity is None and self.leads is None:
            raise ValueError("give the capacity or leads (or both) to change")
        return self


class StockChange(Command):
    kitchen_id: Id
    item: ItemName
    quantity: Quantity
    unit: Unit


class PlanMeals(Command):
    """``day`` left out (or null) is the site's today, in its time zone, when the command was made."""

    kitchen_id: Id
    day: date | None = None
    meals: int = Field(ge=0, le=100_000)


class ServeMeals(Command):
    """``day`` left out (or null) is the site's today, in its time zone, when the command was made."""

    kitchen_id: Id
    day: date | None = None
    meals: int = Field(ge=1, le=100_000)


class PostNeed(Command):
    kitchen_id: Id
    need_id: Id | None = None
    """Defaults to the command id."""
    item: ItemName
    quantity: int = Field(gt=0, le=10_000_000)
    unit: Unit
    estimated_cost_minor: int = Field(ge=0, le=10**15)
    currency: Currency


class MeetNeed(Command):
    kitchen_id: Id
    need_id: Id
    how: NeedMet


class KitchenDashboard(Query):
    kitchen_id: Id | None = None
    days: int = Field(default=7, ge=1, le=90)


# --- the site ---------------------------------------------------------------------------------


class AppointCoordinator(Command):
    coordinator_id: Id


class DefineArea(Command):
    area_id: Id
    name: Text
    level: AreaLevel
    parent_id: Id | None = None


class RetireArea(Command):
    area_id: Id


class ListDirectoryEntry(Command):
    entry_id: Id
    name: Text
    kind: DirectoryKind
    how_to_reach: Text


class WithdrawDirectoryEntry(Command):
    entry_id: Id


class ChangeSettings(Command):
    """A setting left out (or null) stays as it is."""

    default_max_claims: int | None = Field(default=None, ge=1, le=50)
    claim_expiry_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)
    urgent_alert_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    timezone: TimeZone | None = None


class SiteSummary(Query):
    site: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")] | None = None
