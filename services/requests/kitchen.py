"""The solidarity kitchen aggregate: capacity, stock by item, meals planned and served, and needs
posted for donors.

Counts only, never names: a kitchen records how many meals it served, not to whom. Needs ("200 kg
rice, est. 300,000 MMK") are the contract the remittance service shows to donors as fundable; a
need stays open until the kitchen says it was funded, donated in kind, or withdrawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from services.requests.actors import Actor
from services.requests.events import (
    KitchenNeedMet,
    KitchenNeedPosted,
    KitchenOpened,
    KitchenUpdated,
    MealsPlanned,
    MealsServed,
    NeedMet,
    StockReceived,
    StockUsed,
    Unit,
)
from shared.decider import Decider, Refused
from shared.endpoints import NotFound
from shared.envelope import EventPayload

MAX_MEALS_PER_RECORD = 100_000


@dataclass(frozen=True, slots=True)
class Stock:
    unit: Unit
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OpenNeed:
    """What a need asks for, kept so that the lead who posted it is answered with the price."""

    item: str
    quantity: int
    unit: str
    estimated_cost_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class KitchenState:
    opened: bool = False
    kitchen_id: str = ""
    name: str = ""
    ward: str = ""
    area_id: str = ""
    capacity: int = 0
    leads: tuple[str, ...] = ()
    stock: Mapping[str, Stock] = field(default_factory=dict)
    open_needs: Mapping[str, OpenNeed] = field(default_factory=dict)
    """Needs posted and not yet met, by need id."""
    met_needs: frozenset[str] = frozenset()
    seen: frozenset[str] = frozenset()


# --- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenKitchen:
    command_id: str
    actor: Actor
    kitchen_id: str
    name: str
    ward: str
    area_id: str
    capacity: int
    leads: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpdateKitchen:
    """None keeps what the kitchen has: changing the capacity must not drop its leads, who would
    then no longer record stock (an empty tuple of leads does remove them all)."""

    command_id: str
    actor: Actor
    capacity: int | None = None
    leads: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReceiveStock:
    command_id: str
    actor: Actor
    item: str
    quantity: Decimal
    unit: Unit


@dataclass(frozen=True, slots=True)
class UseStock:
    command_id: str
    actor: Actor
    item: str
    quantity: Decimal
    unit: Unit


DAYS_A_YEAR = 366


@dataclass(frozen=True, slots=True)
class PlanMeals:
    """``today`` is the site's local date at the command's time (its zone, not UTC, nor the zone
    of whoever typed it): plans reach at most a year either side. ``day`` None is today."""

    command_id: str
    actor: Actor
    day: date | None
    meals: int
    today: date


@dataclass(frozen=True, slots=True)
class ServeMeals:
    """``today`` is the site's local date at the command's time: meals cannot be served on a day
    still to come there. ``day`` None is today."""

    command_id: str
    actor: Actor
    day: date | None
    meals: int
    today: date


@dataclass(frozen=True, slots=True)
class PostNeed:
    command_id: str
    actor: Actor
    need_id: str
    item: str
    quantity: int
    unit: Unit
    estimated_cost_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class MeetNeed:
    command_id: str
    actor: Actor
    need_id: str
    how: NeedMet


KitchenCommand = (
    OpenKitchen
    | UpdateKitchen
    | ReceiveStock
    | UseStock
    | PlanMeals
    | ServeMeals
    | PostNeed
    | MeetNeed
)


# --- deciding ---------------------------------------------------------------------------------


def decide(command: KitchenCommand, state: KitchenState) -> Sequence[EventPayload]:
    if command.command_id in state.seen:
        return []
    cid = command.command_id
    if isinstance(command, OpenKitchen):
        return _open(command, state)
    if not state.opened:
        raise NotFound("no such kitchen at this site")
    _coordinator_or_lead(state, command.actor, isinstance(command, UpdateKitchen))
    match command:
        case UpdateKitchen():
            capacity = state.capacity if command.capacity is None else command.capacity
            leads = state.leads if command.leads is None else command.leads
            if (capacity, leads) == (state.capacity, state.leads):
                return []
            return [KitchenUpdated(capacity_meals_per_day=capacity, leads=leads, command_id=cid)]
        case ReceiveStock(item=item, quantity=qty, unit=unit):
            _same_unit(state, item, unit)
            return [StockReceived(item=item, quantity=qty, unit=unit, command_id=cid)]
        case UseStock(item=item, quantity=qty, unit=unit):
            _same_unit(state, item, unit)
            held = state.stock.get(item)
            have = held.quantity if held else Decimal(0)
            if qty > have:
                raise Refused(
                    f"only {have.normalize():f} {unit} of {item} in stock; record what came in first",
                    code="not_enough_stock",
                )
            return [StockUsed(item=item, quantity=qty, unit=unit, command_id=cid)]
        case PlanMeals(meals=meals, today=today):
            day = command.day or today
            _within_a_year(day, today, "planned")
            return [MealsPlanned(day=day, meals=meals, command_id=cid)]
        case ServeMeals(meals=meals, today=today):
            day = command.day or today
            if day > today:
                raise Refused(
                    f"{day} is still to come at the site (today there is {today}): record meals "
                    "once served",
                    code="future",
                )
            _within_a_year(day, today, "served")
            if meals <= 0 or meals > MAX_MEALS_PER_RECORD:
                raise Refused(
                    f"meals served must be between 1 and {MAX_MEALS_PER_RECORD:,}",
                    code="bad_count",
                )
            return [MealsServed(kitchen_id=state.kitchen_id, day=day, meals=meals, command_id=cid)]
        case PostNeed():
            return _post_need(command, state)
        case MeetNeed(need_id=need_id, how=how):
            if need_id in state.met_needs:
                raise Refused(f"need {need_id} was already met", code="already_met")
            if need_id not in state.open_needs:
                raise NotFound(f"no need {need_id} at this kitchen")
            return [
                KitchenNeedMet(
                    need_id=need_id, kitchen_id=state.kitchen_id, how=how, command_id=cid
                )
            ]
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def _open(command: OpenKitchen, state: KitchenState) -> Sequence[EventPayload]:
    if not command.actor.is_coordinator:
        raise Refused("only a coordinator can open a kitchen", code="not_allowed")
    if state.opened:
        raise Refused(f"kitchen id {command.kitchen_id} is already used", code="exists")
    return [
        KitchenOpened(
            kitchen_id=command.kitchen_id,
            name=command.name,
            ward=command.ward,
            area_id=command.area_id,
            capacity_meals_per_day=command.capacity,
            leads=command.leads,
            command_id=command.command_id,
        )
    ]


def _within_a_year(day: date, today: date, what: str) -> None:
    """A day more than a year away is a typo (0001-01-01, 2062 for 2026), not a kitchen's plan or a
    late paper log; it would sit in every report of meals by day."""
    if abs((day - today).days) > DAYS_A_YEAR:
        raise Refused(
            f"{day} is more than a year from {today}: meals are {what} within a year of today",
            code="bad_day",
        )


def _post_need(command: PostNeed, state: KitchenState) -> Sequence[EventPayload]:
    if command.need_id in state.open_needs or command.need_id in state.met_needs:
        raise Refused(f"need id {command.need_id} is already used", code="exists")
    return [
        KitchenNeedPosted(
            need_id=command.need_id,
            kitchen_id=state.kitchen_id,
            item=command.item,
            quantity=command.quantity,
            unit=command.unit,
            estimated_cost_minor=command.estimated_cost_minor,
            currency=command.currency,
            ward=state.ward,
            command_id=command.command_id,
        )
    ]


def _coordinator_or_lead(state: KitchenState, actor: Actor, coordinators_only: bool) -> None:
    if actor.is_coordinator:
        return
    if not coordinators_only and actor.role == "volunteer" and actor.id in state.leads:
        return
    who = "a coordinator" if coordinators_only else "a coordinator or one of the kitchen's leads"
    raise Refused(f"only {who} can do this", code="not_allowed")


def _same_unit(state: KitchenState, item: str, unit: Unit) -> None:
    held = state.stock.get(item)
    if held is not None and held.unit != unit:
        raise Refused(f"{item} is counted in {held.unit}, not {unit}", code="unit_mismatch")


def evolve(state: KitchenState, event: EventPayload) -> KitchenState:
    cid = getattr(event, "command_id", "")
    if cid:
        state = replace(state, seen=state.seen | {cid})
    match event:
        case KitchenOpened():
            return replace(
                state,
                opened=True,
                kitchen_id=event.kitchen_id,
                name=event.name,
                ward=event.ward,
                area_id=event.area_id,
                capacity=event.capacity_meals_per_day,
                leads=event.leads,
            )
        case KitchenUpdated(capacity_meals_per_day=capacity, leads=leads):
            return replace(state, capacity=capacity, leads=leads)
        case StockReceived(item=item, quantity=qty, unit=unit):
            held = state.stock.get(item, Stock(unit, Decimal(0)))
            return replace(state, stock={**state.stock, item: Stock(unit, held.quantity + qty)})
        case StockUsed(item=item, quantity=qty, unit=unit):
            held = state.stock.get(item, Stock(unit, Decimal(0)))
            return replace(state, stock={**state.stock, item: Stock(unit, held.quantity - qty)})
        case KitchenNeedPosted(need_id=need_id):
            need = OpenNeed(
                event.item, event.quantity, event.unit, event.estimated_cost_minor, event.currency
            )
            return replace(state, open_needs={**state.open_needs, need_id: need})
        case KitchenNeedMet(need_id=need_id):
            needs = {k: v for k, v in state.open_needs.items() if k != need_id}
            return replace(state, open_needs=needs, met_needs=state.met_needs | {need_id})
    return state


kitchen_decider: Decider[KitchenCommand, KitchenState, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=KitchenState()
)
