"""The help request's rules, given events / when a command / then events or a refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.requests.actors import SYSTEM, Actor
from services.requests.events import (
    ClaimExpired,
    ClaimReleased,
    ContactForgotten,
    DuplicateAbsorbed,
    RequestCancelled,
    RequestClaimed,
    RequestFulfilled,
    RequestMerged,
    RequestOpened,
    RequestSignposted,
    RequestStarted,
    UrgentRequestUnclaimed,
)
from services.requests.request import (
    AbsorbDuplicate,
    AlertUnclaimed,
    CancelRequest,
    ClaimRequest,
    ExpireClaim,
    ForgetContact,
    FulfilRequest,
    MergeInto,
    OpenRequest,
    ReleaseClaim,
    SignpostRequest,
    StartRequest,
    request_decider,
)
from shared.endpoints import REUSED_ID, NotFound
from tests.services.requests.given import given

COORD = Actor("coord-aye", "coordinator")
MYA = Actor("vol-mya", "volunteer")
TUN = Actor("vol-tun", "volunteer")
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
UNTIL = AT + timedelta(hours=2)
RID = "0195f3a0-0000-7000-8000-000000000001"

opened = RequestOpened(
    request_id=RID,
    category="food",
    urgency="urgent",
    ward="w3",
    area_id="w3-kyaik",
    household_size=5,
    contact_ref="ref-1",
    command_id="c-open",
)
claimed_by_mya = RequestClaimed(claim_id="c-claim", volunteer_id="vol-mya", expires_at=UNTIL)
started = RequestStarted(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-start")


def test_intake_opens_a_request_with_no_proof_of_need() -> None:
    command = OpenRequest("c-open", COORD, RID, "food", "urgent", "w3", "w3-kyaik", 5, "ref-1")
    state = given(request_decider).when(command).then(opened)
    assert state.status == "open"
    assert state.open_round == 1
    assert not {"income", "proof", "documents"} & set(RequestOpened.model_fields)


def test_a_taken_request_id_is_refused() -> None:
    command = OpenRequest("c-other", COORD, RID, "food", "low", "w3", "w3", 1, None)
    given(request_decider, opened).when(command).refused("exists", RID)


def test_an_intake_sent_again_changes_nothing_but_its_id_reused_for_another_is_refused() -> None:
    """The same command id with other content answered ok with the first request, and the second
    (a critical medicine request) was silently dropped."""
    again = OpenRequest("c-open", COORD, RID, "food", "urgent", "w3", "w3-kyaik", 5, "ref-1")
    given(request_decider, opened).when(again).then()
    claimed = given(request_decider, opened, claimed_by_mya)
    claimed.when(again).then()  # a retry long after: the request as it is now
    for other in (
        OpenRequest("c-open", COORD, RID, "medicine", "critical", "w3", "w3-kyaik", 5, "ref-1"),
        OpenRequest("c-open", COORD, RID, "food", "urgent", "w3", "w3-kyaik", 2, "ref-1"),
        OpenRequest("c-open", COORD, RID, "food", "urgent", "w1", "w1-a", 5, "ref-1"),
        OpenRequest("c-open", COORD, RID, "food", "urgent", "w3", "w3-kyaik", 5, None),
    ):
        refusal = given(request_decider, opened).when(other).refused("conflict")
        assert refusal.message == REUSED_ID
        given(request_decider, opened, claimed_by_mya).when(other).refused("conflict")


def test_a_volunteer_claims_an_open_request() -> None:
    state = (
        given(request_decider, opened)
        .when(ClaimRequest("c-claim", MYA, "vol-mya", UNTIL))
        .then(claimed_by_mya)
    )
    assert state.status == "claimed"
    assert state.claim.volunteer_id == "vol-mya"


def test_second_claim_is_refused() -> None:
    given(request_decider, opened, claimed_by_mya).when(
        ClaimRequest("c-claim-2", TUN, "vol-tun", UNTIL)
    ).refused("already_claimed", "vol-mya")


def test_claiming_again_what_you_hold_is_refused() -> None:
    given(request_decider, opened, claimed_by_mya).when(
        ClaimRequest("c-claim-2", MYA, "vol-mya", UNTIL)
    ).refused("already_yours")


def test_a_coordinator_assigns_a_volunteer() -> None:
    assigned = RequestClaimed(
        claim_id="c-assign", volunteer_id="vol-tun", expires_at=UNTIL, assigned=True
    )
    given(request_decider, opened).when(ClaimRequest("c-assign", COORD, "vol-tun", UNTIL)).then(
        assigned
    )


def test_a_volunteer_cannot_claim_for_someone_else() -> None:
    given(request_decider, opened).when(ClaimRequest("c-x", MYA, "vol-tun", UNTIL)).refused(
        "not_allowed"
    )


def test_an_unknown_request_is_not_found() -> None:
    with pytest.raises(NotFound):
        request_decider.decide(
            ClaimRequest("c-x", MYA, "vol-mya", UNTIL), request_decider.initial_state
        )


def test_the_claimant_releases_and_the_request_reopens() -> None:
    released = ClaimReleased(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-rel")
    state = (
        given(request_decider, opened, claimed_by_mya)
        .when(ReleaseClaim("c-rel", MYA))
        .then(released)
    )
    assert state.status == "open"
    assert state.claim is None
    assert state.open_round == 2


def test_another_volunteer_cannot_release_the_claim() -> None:
    given(request_decider, opened, claimed_by_mya).when(ReleaseClaim("c-rel", TUN)).refused(
        "not_allowed", "vol-mya"
    )


def test_a_coordinator_releases_a_stuck_claim() -> None:
    released = ClaimReleased(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-rel")
    given(request_decider, opened, claimed_by_mya).when(ReleaseClaim("c-rel", COORD)).then(released)


def test_releasing_an_unclaimed_request_is_refused() -> None:
    given(request_decider, opened).when(ReleaseClaim("c-rel", COORD)).refused("open")


def test_an_unstarted_claim_expires_and_the_request_reopens() -> None:
    expired = ClaimExpired(claim_id="c-claim", volunteer_id="vol-mya")
    state = (
        given(request_decider, opened, claimed_by_mya).when(ExpireClaim("c-claim")).then(expired)
    )
    assert state.status == "open"


def test_expiry_no_longer_applies_once_work_started_or_the_claim_changed() -> None:
    given(request_decider, opened, claimed_by_mya, started).when(ExpireClaim("c-claim")).then()
    given(request_decider, opened, claimed_by_mya).when(ExpireClaim("c-older")).then()


def test_the_claimant_starts_work() -> None:
    state = (
        given(request_decider, opened, claimed_by_mya)
        .when(StartRequest("c-start", MYA))
        .then(started)
    )
    assert state.status == "in_progress"


def test_starting_twice_is_refused() -> None:
    given(request_decider, opened, claimed_by_mya, started).when(
        StartRequest("c-start-2", MYA)
    ).refused("started")


def test_the_claimant_fulfils_from_in_progress_or_claimed() -> None:
    done = RequestFulfilled(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-done")
    state = (
        given(request_decider, opened, claimed_by_mya, started)
        .when(FulfilRequest("c-done", MYA))
        .then(done)
    )
    assert state.status == "fulfilled"
    given(request_decider, opened, claimed_by_mya).when(FulfilRequest("c-done", MYA)).then(done)


def test_fulfilling_an_unclaimed_request_is_refused() -> None:
    given(request_decider, opened).when(FulfilRequest("c-done", COORD)).refused("open")


def test_a_closed_request_refuses_more_work() -> None:
    done = RequestFulfilled(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-done")
    given(request_decider, opened, claimed_by_mya, done).when(
        ClaimRequest("c-2", TUN, "vol-tun", UNTIL)
    ).refused("closed", "fulfilled")


def test_a_coordinator_signposts_an_open_request_to_the_directory() -> None:
    sent = RequestSignposted(
        entry_id="legal-1", kind="legal_aid", claim_id=None, volunteer_id=None, command_id="c-sp"
    )
    state = (
        given(request_decider, opened)
        .when(SignpostRequest("c-sp", COORD, "legal-1", "legal_aid"))
        .then(sent)
    )
    assert state.status == "signposted"


def test_the_claimant_signposts_their_request() -> None:
    sent = RequestSignposted(
        entry_id="clinic-1",
        kind="clinic",
        claim_id="c-claim",
        volunteer_id="vol-mya",
        command_id="c-sp",
    )
    given(request_decider, opened, claimed_by_mya).when(
        SignpostRequest("c-sp", MYA, "clinic-1", "clinic")
    ).then(sent)


def test_a_volunteer_cannot_signpost_an_unclaimed_request() -> None:
    given(request_decider, opened).when(SignpostRequest("c-sp", MYA, "clinic-1", "clinic")).refused(
        "not_allowed"
    )


def test_a_coordinator_cancels_and_the_claim_ends() -> None:
    cancelled = RequestCancelled(
        reason="withdrawn", claim_id="c-claim", volunteer_id="vol-mya", command_id="c-cancel"
    )
    given(request_decider, opened, claimed_by_mya).when(
        CancelRequest("c-cancel", COORD, "withdrawn")
    ).then(cancelled)


def test_a_volunteer_cannot_cancel() -> None:
    given(request_decider, opened, claimed_by_mya).when(
        CancelRequest("c-cancel", MYA, "withdrawn")
    ).refused("not_allowed")


def test_a_duplicate_intake_is_merged_into_the_survivor() -> None:
    survivor = "0195f3a0-0000-7000-8000-000000000002"
    state = (
        given(request_decider, opened)
        .when(MergeInto("c-merge", COORD, survivor))
        .then(RequestMerged(into_request_id=survivor, command_id="c-merge"))
    )
    assert state.status == "merged"
    given(
        request_decider, opened, RequestMerged(into_request_id=survivor, command_id="c-merge")
    ).when(ClaimRequest("c-late", MYA, "vol-mya", UNTIL)).refused("closed", survivor)


def test_merging_into_itself_or_a_claimed_duplicate_is_refused() -> None:
    given(request_decider, opened).when(MergeInto("c-m", COORD, RID)).refused("bad_merge")
    given(request_decider, opened, claimed_by_mya).when(
        MergeInto("c-m", COORD, "0195f3a0-0000-7000-8000-000000000002")
    ).refused("claimed", "vol-mya")


def test_the_survivor_keeps_the_duplicates_contact_reference() -> None:
    absorbed = DuplicateAbsorbed(
        duplicate_id="dup-1", duplicate_contact_ref="ref-2", command_id="c-abs"
    )
    state = (
        given(request_decider, opened)
        .when(AbsorbDuplicate("c-abs", COORD, "dup-1", "ref-2"))
        .then(absorbed)
    )
    assert state.absorbed_refs == ("ref-2",)


def test_a_coordinator_forgets_the_requester_and_the_request_lives_on() -> None:
    forgotten = ContactForgotten(contact_refs=("ref-1",), command_id="c-forget")
    state = (
        given(request_decider, opened, claimed_by_mya)
        .when(ForgetContact("c-forget", COORD, ("ref-1",)))
        .then(forgotten)
    )
    assert state.contact_forgotten
    assert state.status == "claimed"


def test_a_volunteer_cannot_forget_a_person() -> None:
    given(request_decider, opened).when(ForgetContact("c-f", MYA, ("ref-1",))).refused(
        "not_allowed"
    )


def test_an_urgent_request_nobody_claimed_raises_one_alert_per_round() -> None:
    alert = UrgentRequestUnclaimed(
        request_id=RID, category="food", urgency="urgent", ward="w3", minutes=30
    )
    state = given(request_decider, opened).when(AlertUnclaimed(1, 30)).then(alert)
    assert state.alerted_round == 1
    released = ClaimReleased(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-rel")
    history = (opened, alert, claimed_by_mya, released)
    given(request_decider, *history).when(AlertUnclaimed(1, 30)).then()
    given(request_decider, *history).when(AlertUnclaimed(2, 30)).then(alert)


def test_no_alert_for_a_claimed_or_not_urgent_request() -> None:
    given(request_decider, opened, claimed_by_mya).when(AlertUnclaimed(1, 30)).then()
    calm = opened.model_copy(update={"urgency": "normal"})
    given(request_decider, calm).when(AlertUnclaimed(1, 30)).then()


def test_the_timer_cannot_open_requests() -> None:
    command = OpenRequest("c-open", SYSTEM, RID, "food", "urgent", "w3", "w3", 5, None)
    given(request_decider).when(command).refused("not_allowed")


def test_a_retried_command_changes_nothing_even_after_later_commands() -> None:
    released = ClaimReleased(claim_id="c-claim", volunteer_id="vol-mya", command_id="c-rel")
    claimed_again = RequestClaimed(claim_id="c-claim-2", volunteer_id="vol-tun", expires_at=UNTIL)
    given(request_decider, opened, claimed_by_mya, released, claimed_again).when(
        ReleaseClaim("c-rel", COORD)
    ).then()
