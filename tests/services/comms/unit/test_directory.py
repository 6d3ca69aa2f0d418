"""The directory: a site's book, the hub's copies, channels."""

from __future__ import annotations

from services.comms.directory import (
    ListAddress,
    OpenChannel,
    Publish,
    SetChannelSites,
    UnlistAddress,
    Withdraw,
    book,
    channel,
    published,
)
from services.comms.events import (
    AddressListed,
    AddressPublished,
    AddressUnlisted,
    AddressWithdrawn,
    ChannelOpened,
    ChannelSitesChanged,
)
from tests.services.comms.unit.scenario import given

KNOWN = frozenset({"dili", "yangon-north"})


def test_a_site_lists_its_own_addresses_once() -> None:
    listed = AddressListed(address="role:medic@dili")
    given(book).when(ListAddress("dili", "role:medic@dili")).then(listed)
    given(book, listed).when(ListAddress("dili", "role:medic@dili")).then()
    given(book).when(ListAddress("dili", "site:dili")).then(AddressListed(address="site:dili"))


def test_a_site_cannot_list_another_sites_address_or_a_broadcast() -> None:
    given(book).when(ListAddress("dili", "role:medic@hub")).refused("not_here")
    given(book).when(ListAddress("dili", "all")).refused("not_here")
    given(book).when(ListAddress("dili", "channel:ops")).refused("not_here")


def test_unlisting_removes_once_and_never_the_site_itself() -> None:
    listed = AddressListed(address="role:medic@dili")
    given(book, listed).when(UnlistAddress("dili", "role:medic@dili")).then(
        AddressUnlisted(address="role:medic@dili")
    )
    given(book).when(UnlistAddress("dili", "role:medic@dili")).then()
    given(book).when(UnlistAddress("dili", "site:dili")).refused("invalid")


def test_the_hub_publishes_and_withdraws_once() -> None:
    pub = AddressPublished(site="dili", address="site:dili")
    given(published).when(Publish("dili", "site:dili")).then(pub)
    given(published, pub).when(Publish("dili", "site:dili")).then()
    given(published, pub).when(Withdraw("dili", "site:dili")).then(
        AddressWithdrawn(site="dili", address="site:dili")
    )
    given(published).when(Withdraw("dili", "site:dili")).then()


def test_a_channel_opens_once() -> None:
    opened = ChannelOpened(name="ops", public=False, sites=("dili", "yangon-north"))
    command = OpenChannel("ops", False, ("yangon-north", "dili"), KNOWN)
    given(channel).when(command).then(opened)
    given(channel, opened).when(command).then()
    given(channel, opened).when(OpenChannel("ops", True, (), KNOWN)).refused("exists")


def test_a_channel_of_unknown_sites_is_refused() -> None:
    given(channel).when(OpenChannel("ops", False, ("atlantis",), KNOWN)).refused("unknown_site")


def test_a_channels_sites_change() -> None:
    opened = ChannelOpened(name="ops", public=False, sites=())
    given(channel, opened).when(SetChannelSites(("dili",), KNOWN)).then(
        ChannelSitesChanged(sites=("dili",))
    )
    given(channel, opened).when(SetChannelSites((), KNOWN)).then()
    given(channel).when(SetChannelSites(("dili",), KNOWN)).refused("not_found")
