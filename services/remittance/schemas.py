"""What the edges accept (NATS commands, HTTP bodies, the CLI): one pydantic model per request.

Ids are UUIDv7 made by the client and kept before sending: a retry carries the same id, and the
time inside the id is when the thing happened in the field, which is the default for every ``*_at``.
Amounts are decimal strings in major units; their rules (currency, decimals, sign, size) are checked
by ``money`` so each refusal has its own code and sentence. Nothing here echoes input in errors.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from services.remittance.account import Purpose
from services.remittance.events import NeedId, Ref
from services.remittance.reports import LIMIT
from shared.envelope import ActorStr
from shared.projection import Offset

Id = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
    ),
    AfterValidator(str.lower),
]
"""A UUIDv7 made by the client before sending, in the lower case ids are kept in. A UUID is the
same in either case (RFC 9562), and a treasurer may type one off a printed slip in capitals: kept as
typed, the same transfer confirmed in capitals was a second, unrelated receipt, and the group held
the same cash twice."""
GroupId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A group's reference: a ``Ref`` without dots, because it is a token of the group's and its
account's subjects (a dot would split the subject and fail deep in the store, as a server error)."""


def _addressable(ref: str) -> str:
    if ref in (".", ".."):
        raise ValueError(
            "a donor reference cannot be . or .. alone: a web address reads those as a folder, "
            "so the donor's report could never be fetched; use letters or digits too"
        )
    return ref


DonorRef = Annotated[
    Ref,
    AfterValidator(_addressable),
    Field(description='Not "." or "..": the report\'s web address could not carry them.'),
]
"""A ``Ref`` that is also a URL path segment (``/v1/donors/{donor_ref}/report``): "." and ".." are
dot-segments, which browsers and HTTP clients remove from a path before sending it (RFC 3986)."""
AmountText = Annotated[str, Field(min_length=1, max_length=40)]
CurrencyText = Annotated[str, Field(min_length=1, max_length=8)]
Site = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
Label = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f<>]{1,80}$")]
ReceiptRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./#:-]{1,64}$")]
Channel = Literal["agent", "mobile_money", "bank", "hand_carry"]
RailName = Literal["manual", "sandbox"]


class Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterGroupRequest(Request):
    registration_id: Id
    group_id: GroupId
    site: Site
    label: Label
    actor: ActorStr = "coordinator"


class DonorRequest(Request):
    """Personal data: kept only in the hub's site-local vault, never in events or logs.

    ``registration_id`` is required, as every other record's id is: a registration whose answer was
    lost and that is sent again must find the first one, or the first record (the donor's e-mail)
    stays in the vault under a reference nobody knows and can never be forgotten. Optional, it
    would leave exactly that gap open, silently, for every client that leaves it out; required, an
    old client is told which field is missing (``invalid``) and changes nothing. Every client in
    this repository sends one (the CLI and the demo; the donor page does not register donors).
    The content a retry must repeat is ``email`` and ``display_name``."""

    registration_id: Id
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}$")] | None = None
    display_name: Annotated[str, Field(max_length=120)] | None = None


class PledgeRequest(Request):
    transfer_id: Id
    donor_ref: DonorRef
    group_id: GroupId
    need_id: NeedId | None = None
    amount: AmountText
    currency: CurrencyText
    expires_at: AwareDatetime | None = None
    expires_in_hours: Annotated[int, Field(ge=1, le=24 * 366)] = 72
    rail: RailName = "manual"
    actor: ActorStr = "donor"


class FundRequest(Request):
    funding_id: Id
    transfer_id: Id
    collector_ref: Ref
    amount: AmountText
    currency: CurrencyText
    funded_at: AwareDatetime | None = None
    rail: RailName = "manual"
    rail_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/#-]{1,128}$")] | None = None
    actor: ActorStr = "collector"


class DispatchRequest(Request):
    dispatch_id: Id
    transfer_id: Id
    channel: Channel
    agent_ref: Ref
    fee: AmountText = "0"
    rate: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    """Receiving units per sending unit, exact. Left out only when nothing is converted."""
    to_currency: CurrencyText | None = None
    """What arrives; left out, the pledge's currency (a dispatch without conversion)."""
    delivered: AmountText | None = None
    """What the agent said would arrive: checked against the rate, refused if it disagrees."""
    dispatched_at: AwareDatetime | None = None
    actor: ActorStr = "collector"


class CancelRequest(Request):
    cancellation_id: Id
    transfer_id: Id
    reason: Literal["donor_request", "duplicate", "collector_unavailable", "other"]
    actor: ActorStr = "coordinator"


class ResolveRequest(Request):
    resolution_id: Id
    transfer_id: Id
    resolution: Literal["write_off", "agent_owes"]
    actor: ActorStr = "coordinator"


class ConfirmReceiptRequest(Request):
    confirmation_id: Id
    group_id: GroupId
    transfer_id: Id
    amount: AmountText
    currency: CurrencyText
    received_at: AwareDatetime | None = None
    additional: bool = False
    actor: ActorStr = "treasurer"


class CorrectReceiptRequest(Request):
    correction_id: Id
    group_id: GroupId
    confirmation_id: Id
    amount: AmountText
    corrected_at: AwareDatetime | None = None
    actor: ActorStr = "treasurer"


class DisburseRequest(Request):
    disbursement_id: Id
    group_id: GroupId
    amount: AmountText
    currency: CurrencyText
    purpose: Purpose
    need_id: NeedId | None = None
    receipt_ref: ReceiptRef
    disbursed_at: AwareDatetime | None = None
    transfer_id: Id | None = None
    actor: ActorStr = "treasurer"


class DisputeRequest(Request):
    dispute_id: Id
    group_id: GroupId
    transfer_id: Id
    reason: Literal["less_than_sent", "nothing_arrived", "other"]
    reported_at: AwareDatetime | None = None
    actor: ActorStr = "treasurer"


class TransferQuery(Request):
    transfer_id: Id


class DonorQuery(Request):
    donor_ref: Ref


class GroupQuery(Request):
    group_id: Ref


class Page(Request):
    """A page of a list that grows with the ledger (as the requests service's lists): the reply's
    ``next_offset`` is where the next page starts, ``null`` after the last."""

    limit: int = Field(default=LIMIT, ge=1, le=1000)
    offset: Offset = 0


class DonorPage(Page):
    # a Ref, not a DonorRef: whoever pledged as "." or ".." before those were refused still reads
    # the report over NATS and the CLI, where no web address is involved
    donor_ref: Ref


class GroupPage(Page):
    group_id: Ref
