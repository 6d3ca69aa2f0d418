"""Which volunteers to suggest for a request: hyperlocal first, and the load spread.

Same street (or pod) before same ward before anywhere on the site; only volunteers who can help
with the category, are available, not resting and under their limit; among equals, the one who
carries least goes first, so the most willing are not the only ones asked. Pure: the read model
feeds it, and it answers the same while the site's uplink is down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from services.requests.events import Category

Proximity = Literal["street", "ward", "site"]
_RANK: dict[Proximity, int] = {"street": 0, "ward": 1, "site": 2}


@dataclass(frozen=True, slots=True)
class Need:
    category: Category
    ward: str
    area_id: str


@dataclass(frozen=True, slots=True)
class Candidate:
    volunteer_id: str
    ward: str
    area_id: str
    skills: frozenset[str]
    available: bool
    resting: bool
    active: int
    limit: int


@dataclass(frozen=True, slots=True)
class Suggestion:
    volunteer_id: str
    proximity: Proximity
    active: int
    limit: int


def proximity(need: Need, candidate: Candidate) -> Proximity:
    if candidate.area_id == need.area_id and need.area_id != need.ward:
        return "street"
    if candidate.ward == need.ward:
        return "ward"
    return "site"


def eligible(need: Need, candidate: Candidate) -> bool:
    return (
        need.category in candidate.skills
        and candidate.available
        and not candidate.resting
        and candidate.active < candidate.limit
    )


def suggest(need: Need, candidates: Iterable[Candidate], limit: int = 5) -> list[Suggestion]:
    """The best ``limit`` volunteers for ``need``, best first; ties break on the volunteer id so the
    same inputs always give the same answer."""
    ranked = sorted(
        (
            (_RANK[proximity(need, c)], c.active, c.volunteer_id, c)
            for c in candidates
            if eligible(need, c)
        ),
        key=lambda row: row[:3],
    )
    return [
        Suggestion(c.volunteer_id, proximity(need, c), c.active, c.limit)
        for *_, c in ranked[: max(limit, 0)]
    ]
