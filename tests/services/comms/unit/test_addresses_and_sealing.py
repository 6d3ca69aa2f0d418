"""Routing rules and sealed bodies."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.comms import addresses
from services.comms.addresses import Channel, Directory
from services.comms.sealing import SealError, open_sealed, seal, sealed_size

DIRECTORY = Directory(
    sites=frozenset({"dili", "yangon-north", "hub"}),
    addresses=frozenset({"person:amy@dili"}),
    channels={"ops": Channel("ops", False, frozenset({"dili", "hub"}))},
)
SITES = st.sampled_from(["dili", "yangon-north", "hub"])
ADDRESSES = st.one_of(
    st.just("all"),
    st.just("channel:ops"),
    SITES.map(lambda s: f"site:{s}"),
    SITES.map(lambda s: f"role:medic@{s}"),
)


def test_addresses_parse_into_kind_name_and_site() -> None:
    assert addresses.parse("person:amy@dili") == addresses.Parsed("person", "amy", "dili")
    assert addresses.parse("site:dili") == addresses.Parsed("site", "dili", "dili")
    assert addresses.parse("channel:ops") == addresses.Parsed("channel", "ops")
    assert addresses.parse("all") == addresses.Parsed("all", "all")
    for bad in ("amy", "person:amy", "person:Amy@dili", "site:", "channel:a.b", "all:x"):
        with pytest.raises(ValueError, match="not an address"):
            addresses.parse(bad)


@given(st.lists(ADDRESSES, min_size=1, max_size=6), SITES)
def test_a_site_holds_recipients_exactly_when_it_is_addressed(to: list[str], site: str) -> None:
    here = addresses.recipients_at(to, site, DIRECTORY)
    assert bool(here) == (site in addresses.sites_addressed(to, DIRECTORY))


def test_a_channel_reaches_its_member_sites_only() -> None:
    assert addresses.sites_addressed(["channel:ops"], DIRECTORY) == {"dili", "hub"}
    assert addresses.recipients_at(["channel:ops"], "yangon-north", DIRECTORY) == ()


def test_everyone_at_a_site_reads_what_was_sent_to_the_site() -> None:
    assert addresses.covers(["site:dili"], "person:amy@dili", "dili")
    assert addresses.covers(["all"], "role:medic@dili", "dili")
    assert not addresses.covers(["role:medic@dili"], "person:amy@dili", "dili")
    assert not addresses.covers(["site:dili"], "person:amy@hub", "dili")


def test_a_sealed_body_opens_with_its_key_only() -> None:
    key = os.urandom(32)
    sealed = seal(key, "insulin at ward 4", "m1", "ops")
    assert "insulin" not in sealed
    assert open_sealed(key, sealed, "m1", "ops") == "insulin at ward 4"
    with pytest.raises(SealError):
        open_sealed(os.urandom(32), sealed, "m1", "ops")


def test_a_sealed_body_cannot_be_moved_to_another_message_or_channel() -> None:
    key = os.urandom(32)
    sealed = seal(key, "insulin at ward 4", "m1", "ops")
    with pytest.raises(SealError):
        open_sealed(key, sealed, "m2", "ops")
    with pytest.raises(SealError):
        open_sealed(key, sealed, "m1", "main")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealError):
        open_sealed(key, tampered, "m1", "ops")


@settings(max_examples=50)
@given(st.text(max_size=300))
def test_sealing_is_deterministic_and_reversible(text: str) -> None:
    key = bytes(range(32))
    sealed = seal(key, text, "m1", "ops")
    assert seal(key, text, "m1", "ops") == sealed  # a retried send decides the same events
    assert open_sealed(key, sealed, "m1", "ops") == text
    assert len(sealed) == sealed_size(len(text.encode()))
