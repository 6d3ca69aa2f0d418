"""Matching suggests hyperlocal, able, available volunteers, least loaded first: properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.requests.events import CATEGORIES
from services.requests.matching import Candidate, Need, eligible, proximity, suggest

WARDS = ("w1", "w2", "w3")
STREETS = {"w1": ("w1-a", "w1-b"), "w2": ("w2-a",), "w3": ("w3-a", "w3-b")}


@st.composite
def places(draw: st.DrawFn) -> tuple[str, str]:
    ward = draw(st.sampled_from(WARDS))
    return ward, draw(st.sampled_from((ward, *STREETS[ward])))


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 25))
    out = []
    for i in range(count):
        ward, area = draw(places())
        limit = draw(st.integers(1, 4))
        out.append(
            Candidate(
                volunteer_id=f"v{i:02d}",
                ward=ward,
                area_id=area,
                skills=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), min_size=1))),
                available=draw(st.booleans()),
                resting=draw(st.booleans()),
                active=draw(st.integers(0, limit)),
                limit=limit,
            )
        )
    return out


@st.composite
def needs(draw: st.DrawFn) -> Need:
    ward, area = draw(places())
    return Need(draw(st.sampled_from(CATEGORIES)), ward, area)


@settings(max_examples=150, deadline=None)
@given(needs(), candidates(), st.integers(1, 10))
def test_only_able_available_rested_volunteers_under_their_limit_are_suggested(
    need: Need, pool: list[Candidate], limit: int
) -> None:
    suggested = suggest(need, pool, limit)
    by_id = {c.volunteer_id: c for c in pool}
    assert len(suggested) == min(limit, sum(eligible(need, c) for c in pool))
    for s in suggested:
        c = by_id[s.volunteer_id]
        assert need.category in c.skills
        assert c.available
        assert not c.resting
        assert c.active < c.limit


@settings(max_examples=150, deadline=None)
@given(needs(), candidates())
def test_street_before_ward_before_site_then_fewest_active_claims(
    need: Need, pool: list[Candidate]
) -> None:
    suggested = suggest(need, pool, limit=len(pool))
    rank = {"street": 0, "ward": 1, "site": 2}
    keys = [(rank[s.proximity], s.active) for s in suggested]
    assert keys == sorted(keys)


@settings(max_examples=100, deadline=None)
@given(needs(), candidates(), st.randoms())
def test_the_order_of_the_pool_does_not_change_the_answer(
    need: Need, pool: list[Candidate], rnd: object
) -> None:
    shuffled = list(pool)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert suggest(need, pool) == suggest(need, shuffled)


def test_a_neighbour_on_the_same_street_comes_first_even_if_busier() -> None:
    need = Need("food", "w3", "w3-a")
    street = Candidate("v-street", "w3", "w3-a", frozenset({"food"}), True, False, 2, 3)
    ward = Candidate("v-ward", "w3", "w3-b", frozenset({"food"}), True, False, 0, 3)
    far = Candidate("v-far", "w1", "w1-a", frozenset({"food"}), True, False, 0, 3)
    assert [s.volunteer_id for s in suggest(need, [far, ward, street])] == [
        "v-street",
        "v-ward",
        "v-far",
    ]
    assert proximity(need, street) == "street"


def test_among_equals_the_load_is_spread() -> None:
    need = Need("medicine", "w2", "w2")
    busy = Candidate("v-busy", "w2", "w2-a", frozenset({"medicine"}), True, False, 2, 3)
    idle = Candidate("v-idle", "w2", "w2-a", frozenset({"medicine"}), True, False, 0, 3)
    assert [s.volunteer_id for s in suggest(need, [busy, idle])] == ["v-idle", "v-busy"]


def test_a_request_placed_at_ward_level_has_no_street_neighbours() -> None:
    need = Need("food", "w3", "w3")
    same_ward = Candidate("v", "w3", "w3", frozenset({"food"}), True, False, 0, 3)
    assert proximity(need, same_ward) == "ward"
