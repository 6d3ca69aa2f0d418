"""The volunteer's rules: registration, the limit of active claims, resting, availability."""

from __future__ import annotations

from services.requests.actors import Actor
from services.requests.events import (
    VolunteerAvailabilityChanged,
    VolunteerClaimEnded,
    VolunteerClaimTaken,
    VolunteerRegistered,
    VolunteerRestEnded,
    VolunteerRestStarted,
    VolunteerStoodDown,
    VolunteerUpdated,
)
from services.requests.volunteer import (
    SITE_DEFAULT,
    DropClaim,
    EndRest,
    RegisterVolunteer,
    SetAvailability,
    StandDown,
    StartRest,
    TakeClaim,
    UpdateVolunteer,
    volunteer_decider,
)
from shared.endpoints import NotFound
from tests.services.requests.given import given

COORD = Actor("coord-aye", "coordinator")
MYA = Actor("vol-mya", "volunteer")
TUN = Actor("vol-tun", "volunteer")

registered = VolunteerRegistered(
    volunteer_id="vol-mya",
    ward="w3",
    area_id="w3-kyaik",
    skills=("food", "medicine"),
    max_claims=None,
    command_id="c-reg",
)


def taken(n: int) -> VolunteerClaimTaken:
    return VolunteerClaimTaken(request_id=f"r{n}", claim_id=f"claim-{n}")


def test_a_coordinator_registers_a_volunteer() -> None:
    command = RegisterVolunteer(
        "c-reg", COORD, "vol-mya", "w3", "w3-kyaik", ("food", "medicine"), None
    )
    state = given(volunteer_decider).when(command).then(registered)
    assert state.registered
    assert state.limit(3) == 3


def test_only_a_coordinator_registers_volunteers() -> None:
    command = RegisterVolunteer("c-reg", MYA, "vol-mya", "w3", "w3", ("food",), None)
    given(volunteer_decider).when(command).refused("not_allowed")


def test_registering_the_same_volunteer_again_changes_nothing_but_different_details_are_refused() -> (
    None
):
    same = RegisterVolunteer("c-2", COORD, "vol-mya", "w3", "w3-kyaik", ("food", "medicine"), None)
    given(volunteer_decider, registered).when(same).then()
    other = RegisterVolunteer("c-3", COORD, "vol-mya", "w1", "w1", ("food",), None)
    given(volunteer_decider, registered).when(other).refused("exists", "update")


def test_a_coordinator_updates_area_skills_and_limit() -> None:
    update = UpdateVolunteer("c-up", COORD, "w1", "w1", ("care",), 5)
    state = (
        given(volunteer_decider, registered)
        .when(update)
        .then(
            VolunteerUpdated(
                ward="w1", area_id="w1", skills=("care",), max_claims=5, command_id="c-up"
            )
        )
    )
    assert state.limit(3) == 5


def test_an_update_keeps_what_it_leaves_out() -> None:
    """``volunteers update V --area A --skills S`` without ``--max-claims`` put the volunteer back
    on the site's default; and area and skills had to be restated to change either."""
    own = registered.model_copy(update={"max_claims": 5})
    state = (
        given(volunteer_decider, own)
        .when(UpdateVolunteer("c-up", COORD, skills=("care",)))
        .then(
            VolunteerUpdated(
                ward="w3", area_id="w3-kyaik", skills=("care",), max_claims=5, command_id="c-up"
            )
        )
    )
    assert state.limit(3) == 5
    given(volunteer_decider, own).when(
        UpdateVolunteer("c-up", COORD, ward="w1", area_id="w1-a")
    ).then(
        VolunteerUpdated(
            ward="w1",
            area_id="w1-a",
            skills=("food", "medicine"),
            max_claims=5,
            command_id="c-up",
        )
    )
    given(volunteer_decider, registered).when(UpdateVolunteer("c-up", COORD, max_claims=2)).then(
        VolunteerUpdated(
            ward="w3",
            area_id="w3-kyaik",
            skills=("food", "medicine"),
            max_claims=2,
            command_id="c-up",
        )
    )
    given(volunteer_decider, own).when(UpdateVolunteer("c-up", COORD)).then()  # nothing to change
    given(volunteer_decider, own).when(UpdateVolunteer("c-up", COORD, max_claims=5)).then()


def test_an_update_puts_a_volunteer_back_on_the_sites_default_only_when_asked() -> None:
    own = registered.model_copy(update={"max_claims": 5})
    state = (
        given(volunteer_decider, own)
        .when(UpdateVolunteer("c-up", COORD, max_claims=SITE_DEFAULT))
        .then(
            VolunteerUpdated(
                ward="w3",
                area_id="w3-kyaik",
                skills=("food", "medicine"),
                max_claims=None,
                command_id="c-up",
            )
        )
    )
    assert state.limit(3) == 3
    given(volunteer_decider, registered).when(
        UpdateVolunteer("c-up", COORD, max_claims=SITE_DEFAULT)
    ).then()  # on it already


def test_only_a_coordinator_updates_a_volunteer() -> None:
    given(volunteer_decider, registered).when(
        UpdateVolunteer("c-up", MYA, skills=("care",))
    ).refused("not_allowed")


def test_a_claim_takes_a_place_under_the_limit() -> None:
    state = (
        given(volunteer_decider, registered, taken(1))
        .when(TakeClaim("claim-2", "r2", site_default=3))
        .then(taken(2))
    )
    assert len(state.active) == 2


def test_a_volunteer_at_the_site_default_limit_is_refused() -> None:
    given(volunteer_decider, registered, taken(1), taken(2), taken(3)).when(
        TakeClaim("claim-4", "r4", site_default=3)
    ).refused("at_limit", "vol-mya", "limit of 3")


def test_a_volunteer_at_their_own_limit_is_refused() -> None:
    own = registered.model_copy(update={"max_claims": 1})
    given(volunteer_decider, own, taken(1)).when(
        TakeClaim("claim-2", "r2", site_default=3)
    ).refused("at_limit", "limit of 1")


def test_a_resting_volunteer_gets_no_new_work() -> None:
    rest = VolunteerRestStarted(command_id="c-rest")
    given(volunteer_decider, registered, rest).when(TakeClaim("claim-1", "r1", 3)).refused(
        "resting", "vol-mya"
    )


def test_an_unavailable_volunteer_gets_no_new_work() -> None:
    away = VolunteerAvailabilityChanged(available=False, command_id="c-away")
    given(volunteer_decider, registered, away).when(TakeClaim("claim-1", "r1", 3)).refused(
        "volunteer_unavailable"
    )


def test_an_unknown_volunteer_cannot_claim() -> None:
    scenario = given(volunteer_decider).when(TakeClaim("claim-1", "r1", 3))
    assert isinstance(scenario.refused("not_found"), NotFound)


def test_a_stood_down_volunteer_cannot_claim() -> None:
    given(volunteer_decider, registered, VolunteerStoodDown(command_id="c-sd")).when(
        TakeClaim("claim-1", "r1", 3)
    ).refused("stood_down")


def test_an_ended_claim_gives_the_place_back_and_counts_fulfilment() -> None:
    ended = VolunteerClaimEnded(request_id="r1", claim_id="claim-1", outcome="fulfilled")
    state = (
        given(volunteer_decider, registered, taken(1))
        .when(DropClaim("claim-1", "r1", "fulfilled"))
        .then(ended)
    )
    assert not state.active
    assert state.fulfilled == 1


def test_dropping_a_claim_that_is_not_held_changes_nothing() -> None:
    given(volunteer_decider, registered).when(DropClaim("claim-9", "r9", "lost")).then()


def test_a_claim_taken_again_after_it_ended_changes_nothing() -> None:
    ended = VolunteerClaimEnded(request_id="r1", claim_id="claim-1", outcome="lost")
    given(volunteer_decider, registered, taken(1), ended).when(TakeClaim("claim-1", "r1", 3)).then()


def test_a_volunteer_rests_and_comes_back() -> None:
    given(volunteer_decider, registered).when(StartRest("c-rest", MYA)).then(
        VolunteerRestStarted(command_id="c-rest")
    )
    given(volunteer_decider, registered, VolunteerRestStarted(command_id="c-rest")).when(
        EndRest("c-back", COORD)
    ).then(VolunteerRestEnded(command_id="c-back"))


def test_another_volunteer_cannot_send_someone_to_rest() -> None:
    given(volunteer_decider, registered).when(StartRest("c-rest", TUN)).refused("not_allowed")


def test_availability_changes_only_when_it_changes() -> None:
    given(volunteer_decider, registered).when(SetAvailability("c-a", MYA, True)).then()
    given(volunteer_decider, registered).when(SetAvailability("c-a", MYA, False)).then(
        VolunteerAvailabilityChanged(available=False, command_id="c-a")
    )


def test_standing_down_with_active_claims_is_refused() -> None:
    given(volunteer_decider, registered, taken(1)).when(StandDown("c-sd", COORD)).refused(
        "has_claims", "1 active"
    )
    given(volunteer_decider, registered).when(StandDown("c-sd", COORD)).then(
        VolunteerStoodDown(command_id="c-sd")
    )
