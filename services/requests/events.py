"""The facts the requests service publishes: its public contract.

The events other services consume are marked "contract": remittance reads kitchen needs and meals
served (to show donors what is fundable and what their money did), comms reads unclaimed urgent
requests (to raise alerts). Their names and fields are fixed; new optional fields may be added.
No event carries personal data: a requester is a pseudonymous reference into the site's vault.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.envelope import EventPayload

CONTEXT = "requests"


class KitchenNeedPosted(EventPayload):
    """Contract (remittance): a kitchen needs something donors can fund, e.g. 200 kg rice ~300,000 MMK."""

    event_type = "KitchenNeedPosted"
    need_id: str
    kitchen_id: str
    item: str
    quantity: int = Field(gt=0)
    unit: str
    estimated_cost_minor: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    ward: str


class KitchenNeedMet(EventPayload):
    """Contract (remittance): the need was met (bought, donated in kind, or withdrawn)."""

    event_type = "KitchenNeedMet"
    need_id: str
    kitchen_id: str
    how: str  # "funded" | "donated_in_kind" | "withdrawn"


class MealsServed(EventPayload):
    """Contract (remittance): counts only, never names."""

    event_type = "MealsServed"
    kitchen_id: str
    day: date
    meals: int = Field(ge=0)


class UrgentRequestUnclaimed(EventPayload):
    """Contract (comms): an urgent request has had no volunteer for ``minutes``; ward-level only."""

    event_type = "UrgentRequestUnclaimed"
    request_id: str
    category: str
    urgency: str
    ward: str
    minutes: int = Field(ge=0)
