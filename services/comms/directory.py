"""The directory: each site lists its own addresses (kind "book", id "book"), the hub republishes
them for every site (kind "book", id = site, audience all), and channels are opened at the hub (kind
"channel", id = name, audience all).

A site can only route to what it has heard of, so an address listed at another site becomes usable
once the hub's copy has reached this one. Only pseudonymous handles are listed, never who they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.comms import addresses
from services.comms.events import (
    AddressListed,
    AddressPublished,
    AddressUnlisted,
    AddressWithdrawn,
    ChannelOpened,
    ChannelSitesChanged,
)
from services.comms.message import not_found
from shared.decider import Decider, Refused
from shared.envelope import EventPayload

# --- a site's own book ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListAddress:
    site: str
    address: str


@dataclass(frozen=True, slots=True)
class UnlistAddress:
    site: str
    address: str


BookCommand = ListAddress | UnlistAddress
BookEvent = AddressListed | AddressUnlisted


@dataclass(frozen=True, slots=True)
class BookState:
    listed: frozenset[str] = frozenset()


def decide_book(command: BookCommand, state: BookState) -> Sequence[BookEvent]:
    match command:
        case ListAddress(site=site, address=address):
            parsed = addresses.parse(address)
            if parsed.kind in ("all", "channel") or parsed.site != site:
                raise Refused(
                    f"a site lists only its own people, roles and itself ({site})",
                    code="not_here",
                )
            return [] if address in state.listed else [AddressListed(address=address)]
        case UnlistAddress(site=site, address=address):
            if address == f"site:{site}":
                raise Refused("a site cannot unlist itself", code="invalid")
            return [AddressUnlisted(address=address)] if address in state.listed else []


def evolve_book(state: BookState, event: EventPayload) -> BookState:
    match event:
        case AddressListed(address=address):
            return BookState(state.listed | {address})
        case AddressUnlisted(address=address):
            return BookState(state.listed - {address})
    return state


book = Decider(decide=decide_book, evolve=evolve_book, initial_state=BookState())

# --- the hub's copy of one site's book -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    site: str
    address: str


@dataclass(frozen=True, slots=True)
class Withdraw:
    site: str
    address: str


def decide_published(
    command: Publish | Withdraw, state: BookState
) -> Sequence[AddressPublished | AddressWithdrawn]:
    match command:
        case Publish(site=site, address=address):
            if address in state.listed:
                return []
            return [AddressPublished(site=site, address=address)]
        case Withdraw(site=site, address=address):
            if address not in state.listed:
                return []
            return [AddressWithdrawn(site=site, address=address)]


def evolve_published(state: BookState, event: EventPayload) -> BookState:
    match event:
        case AddressPublished(address=address):
            return BookState(state.listed | {address})
        case AddressWithdrawn(address=address):
            return BookState(state.listed - {address})
    return state


published = Decider(decide=decide_published, evolve=evolve_published, initial_state=BookState())

# --- channels --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenChannel:
    name: str
    public: bool
    sites: tuple[str, ...]
    known_sites: frozenset[str]


@dataclass(frozen=True, slots=True)
class SetChannelSites:
    sites: tuple[str, ...]
    known_sites: frozenset[str]


ChannelEvent = ChannelOpened | ChannelSitesChanged


@dataclass(frozen=True, slots=True)
class ChannelState:
    opened: ChannelOpened | None = None
    sites: tuple[str, ...] = ()


def decide_channel(
    command: OpenChannel | SetChannelSites, state: ChannelState
) -> Sequence[ChannelEvent]:
    match command:
        case OpenChannel(name=name, public=public, sites=sites, known_sites=known):
            sites = _known(sites, known)
            if state.opened is not None:
                if state.opened.public == public and state.sites == sites:
                    return []
                raise Refused(f"channel {name!r} exists already", code="exists")
            return [ChannelOpened(name=name, public=public, sites=sites)]
        case SetChannelSites(sites=sites, known_sites=known):
            if state.opened is None:
                raise not_found("no such channel")
            sites = _known(sites, known)
            return [] if sites == state.sites else [ChannelSitesChanged(sites=sites)]


def _known(sites: tuple[str, ...], known: frozenset[str]) -> tuple[str, ...]:
    unknown = [s for s in sites if s not in known]
    if unknown:
        raise Refused(f"unknown site: {', '.join(unknown)}", code="unknown_site")
    return tuple(sorted(set(sites)))


def evolve_channel(state: ChannelState, event: EventPayload) -> ChannelState:
    match event:
        case ChannelOpened(sites=sites):
            return ChannelState(opened=event, sites=sites)
        case ChannelSitesChanged(sites=sites):
            return replace(state, sites=sites)
    return state


channel = Decider(decide=decide_channel, evolve=evolve_channel, initial_state=ChannelState())
