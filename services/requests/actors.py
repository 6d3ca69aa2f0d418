"""Who is acting, and in which role: the rules about personal data and work depend on it.

Edges accept a claimed role only after checking it against the site's own records (a coordinator
must be appointed at the site, a volunteer registered and not stood down), so a decider may trust
``Actor.role``. ``system`` is the service's own timer and compensations; no edge accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["coordinator", "volunteer", "system"]
SYSTEM_ACTOR = "requests-timer"


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    role: Role

    @property
    def is_coordinator(self) -> bool:
        return self.role == "coordinator"

    @property
    def is_system(self) -> bool:
        return self.role == "system"

    def is_volunteer(self, volunteer_id: str | None) -> bool:
        """Acting as this very volunteer."""
        return self.role == "volunteer" and volunteer_id is not None and self.id == volunteer_id


SYSTEM = Actor(SYSTEM_ACTOR, "system")
