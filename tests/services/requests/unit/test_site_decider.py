"""The site's rules: who coordinates, the area tree, the signposting directory, the settings."""

from __future__ import annotations

import pytest

from services.requests.actors import Actor
from services.requests.events import (
    AreaDefined,
    AreaRetired,
    CoordinatorAppointed,
    CoordinatorStoodDown,
    DirectoryEntryListed,
    DirectoryEntryUpdated,
    DirectoryEntryWithdrawn,
    SiteSettingsChanged,
)
from services.requests.site import (
    AppointCoordinator,
    ChangeSettings,
    DefineArea,
    ListDirectoryEntry,
    RetireArea,
    StandDownCoordinator,
    WithdrawDirectoryEntry,
    area,
    site_decider,
)
from shared.decider import Refused
from tests.services.requests.given import given

AYE = Actor("coord-aye", "coordinator")
ZAW = Actor("coord-zaw", "coordinator")
first = CoordinatorAppointed(coordinator_id="coord-aye", command_id="c-1")
ward3 = AreaDefined(area_id="w3", name="Ward 3", level="ward", parent_id=None, command_id="c-w3")
kyaik = AreaDefined(
    area_id="w3-kyaik", name="Kyaik Ka San Rd", level="street", parent_id="w3", command_id="c-k"
)


def test_the_first_coordinator_appoints_themself() -> None:
    given(site_decider).when(AppointCoordinator("c-1", AYE, "coord-aye")).then(first)


def test_nobody_can_appoint_someone_else_before_there_is_a_coordinator() -> None:
    given(site_decider).when(AppointCoordinator("c-1", AYE, "coord-zaw")).refused(
        "not_coordinator", "first one"
    )


def test_only_coordinators_appoint_more() -> None:
    given(site_decider, first).when(AppointCoordinator("c-2", ZAW, "coord-zaw")).refused(
        "not_coordinator"
    )
    given(site_decider, first).when(AppointCoordinator("c-2", AYE, "coord-zaw")).then(
        CoordinatorAppointed(coordinator_id="coord-zaw", command_id="c-2")
    )


def test_the_last_coordinator_cannot_stand_down() -> None:
    given(site_decider, first).when(StandDownCoordinator("c-3", AYE, "coord-aye")).refused(
        "last_coordinator"
    )
    second = CoordinatorAppointed(coordinator_id="coord-zaw", command_id="c-2")
    given(site_decider, first, second).when(StandDownCoordinator("c-3", AYE, "coord-aye")).then(
        CoordinatorStoodDown(coordinator_id="coord-aye", command_id="c-3")
    )


def test_wards_sit_in_the_site_and_streets_in_wards() -> None:
    given(site_decider, first).when(DefineArea("c-w3", AYE, "w3", "Ward 3", "ward", None)).then(
        ward3
    )
    state = (
        given(site_decider, first, ward3)
        .when(DefineArea("c-k", AYE, "w3-kyaik", "Kyaik Ka San Rd", "street", "w3"))
        .then(kyaik)
    )
    assert area(state, "w3-kyaik").ward == "w3"


def test_a_street_outside_a_known_ward_is_refused() -> None:
    given(site_decider, first).when(
        DefineArea("c-k", AYE, "s1", "Somewhere", "street", "w9")
    ).refused("bad_area", "ward")
    given(site_decider, first, ward3, kyaik).when(
        DefineArea("c-p", AYE, "p1", "Pod", "pod", "w3-kyaik")
    ).refused("bad_area")
    given(site_decider, first).when(DefineArea("c-w", AYE, "w4", "Ward 4", "ward", "w3")).refused(
        "bad_area"
    )


def test_an_area_id_is_used_once_but_the_same_definition_again_changes_nothing() -> None:
    given(site_decider, first, ward3).when(
        DefineArea("c-x", AYE, "w3", "Ward 3", "ward", None)
    ).then()
    given(site_decider, first, ward3).when(
        DefineArea("c-x", AYE, "w3", "Ward Three", "ward", None)
    ).refused("area_exists")


def test_only_coordinators_define_areas() -> None:
    volunteer = Actor("vol-mya", "volunteer")
    given(site_decider, first).when(DefineArea("c-w", volunteer, "w4", "W4", "ward", None)).refused(
        "not_coordinator"
    )


def test_a_retired_ward_retires_its_streets_and_refuses_new_places() -> None:
    state = (
        given(site_decider, first, ward3, kyaik)
        .when(RetireArea("c-r", AYE, "w3"))
        .then(AreaRetired(area_id="w3", command_id="c-r"))
    )
    with pytest.raises(Refused) as caught:
        area(state, "w3-kyaik")
    assert caught.value.code == "retired_area"


def test_an_unknown_area_is_refused_with_a_sentence() -> None:
    with pytest.raises(Refused) as caught:
        area(site_decider.initial_state, "nowhere")
    assert caught.value.code == "unknown_area"
    assert "defines" in caught.value.message


def test_the_directory_lists_updates_and_withdraws_services() -> None:
    listed = DirectoryEntryListed(
        entry_id="legal-1",
        name="Legal Clinic",
        kind="legal_aid",
        how_to_reach="Tue/Thu 9-12 at the parish hall",
        command_id="c-l",
    )
    command = ListDirectoryEntry(
        "c-l", AYE, "legal-1", "Legal Clinic", "legal_aid", "Tue/Thu 9-12 at the parish hall"
    )
    given(site_decider, first).when(command).then(listed)
    changed = ListDirectoryEntry("c-u", AYE, "legal-1", "Legal Clinic", "legal_aid", "Mondays")
    given(site_decider, first, listed).when(changed).then(
        DirectoryEntryUpdated(
            entry_id="legal-1",
            name="Legal Clinic",
            kind="legal_aid",
            how_to_reach="Mondays",
            command_id="c-u",
        )
    )
    given(site_decider, first, listed).when(WithdrawDirectoryEntry("c-w", AYE, "legal-1")).then(
        DirectoryEntryWithdrawn(entry_id="legal-1", command_id="c-w")
    )
    given(site_decider, first).when(WithdrawDirectoryEntry("c-w", AYE, "legal-9")).refused(
        "not_found"
    )


def test_a_setting_left_out_stays_as_it_is() -> None:
    """A coordinator changing one setting need not restate the others (all three were required)."""
    given(site_decider, first).when(ChangeSettings("c-s", AYE, claim_expiry_minutes=45)).then(
        SiteSettingsChanged(
            default_max_claims=3,
            claim_expiry_minutes=45,
            urgent_alert_minutes=30,
            command_id="c-s",
            timezone="UTC",
        )
    )
    given(site_decider, first).when(ChangeSettings("c-s", AYE)).then()  # nothing to change


def test_coordinators_set_claim_limits_expiry_and_alert_delay() -> None:
    state = (
        given(site_decider, first)
        .when(ChangeSettings("c-s", AYE, 2, 60, 15))
        .then(
            SiteSettingsChanged(
                default_max_claims=2,
                claim_expiry_minutes=60,
                urgent_alert_minutes=15,
                command_id="c-s",
                timezone="UTC",
            )
        )
    )
    assert state.settings.default_max_claims == 2


in_dili = SiteSettingsChanged(
    default_max_claims=3,
    claim_expiry_minutes=120,
    urgent_alert_minutes=30,
    command_id="c-tz",
    timezone="Asia/Dili",
)


def test_a_site_that_never_set_its_zone_is_on_utc() -> None:
    assert given(site_decider, first).state.settings.timezone == "UTC"
    before_zones = SiteSettingsChanged(
        default_max_claims=2, claim_expiry_minutes=60, urgent_alert_minutes=15, command_id="c-old"
    )
    assert given(site_decider, first, before_zones).state.settings.timezone == "UTC"


def test_coordinators_set_the_sites_time_zone() -> None:
    state = given(site_decider, first).when(ChangeSettings("c-tz", AYE, timezone="Asia/Dili"))
    assert state.then(in_dili).settings.timezone == "Asia/Dili"
    given(site_decider, first, in_dili).when(
        ChangeSettings("c-again", AYE, timezone="Asia/Dili")
    ).then()  # the zone it has: nothing to change


def test_a_settings_change_that_leaves_the_zone_out_keeps_it() -> None:
    """As with every other setting: changing the alert delay must not put Dili back on UTC."""
    state = (
        given(site_decider, first, in_dili)
        .when(ChangeSettings("c-s", AYE, urgent_alert_minutes=10))
        .then(
            SiteSettingsChanged(
                default_max_claims=3,
                claim_expiry_minutes=120,
                urgent_alert_minutes=10,
                command_id="c-s",
                timezone="Asia/Dili",
            )
        )
    )
    assert state.settings.timezone == "Asia/Dili"


@pytest.mark.parametrize(
    "name",
    ["Asia/Dilly", "asia/dili", "Dili", "+09:00", "UTC+9", "localtime", "../../etc/passwd", ""],
)
def test_a_time_zone_the_zone_database_does_not_know_is_refused(name: str) -> None:
    given(site_decider, first).when(ChangeSettings("c-tz", AYE, timezone=name)).refused(
        "unknown_timezone", "IANA name", "Asia/Dili"
    )


def test_only_coordinators_set_the_time_zone() -> None:
    volunteer = Actor("vol-mya", "volunteer")
    given(site_decider, first).when(
        ChangeSettings("c-tz", volunteer, timezone="Asia/Dili")
    ).refused("not_coordinator")
