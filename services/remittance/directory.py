"""The directory of groups that can receive money, owned by the hub and broadcast to every site.

A pledge can only name a registered group, so a typo cannot send money to an account nobody reads;
the registration says at which site the group's treasurer confirms receipts, which is where its
transfers are addressed. Labels are public names of groups, never of people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.remittance.events import GroupRegistered
from shared.decider import Decider, Refused
from shared.envelope import EventPayload


@dataclass(frozen=True, slots=True)
class RegisterGroup:
    group_id: str
    site: str
    label: str


@dataclass(frozen=True, slots=True)
class Group:
    site: str | None = None
    label: str = ""


def decide(command: RegisterGroup, state: Group) -> Sequence[EventPayload]:
    if state.site is not None:
        if (state.site, state.label) == (command.site, command.label):
            return []
        raise Refused(
            f"group {command.group_id} is already registered at {state.site} as "
            f"{state.label!r}; a registration is never changed (a group at another site, or "
            "under another name, is registered under a new group id)",
            code="conflict",
        )
    return [GroupRegistered(group_id=command.group_id, site=command.site, label=command.label)]


def evolve(state: Group, event: EventPayload) -> Group:
    match event:
        case GroupRegistered():
            return Group(site=event.site, label=event.label)
    return state


groups: Decider[RegisterGroup, Group, EventPayload] = Decider(
    decide=decide, evolve=evolve, initial_state=Group()
)
