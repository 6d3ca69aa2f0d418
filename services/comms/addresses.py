"""Addresses and routing: who a message is for, at which sites, and who may read it there.

Pure functions over a :class:`Directory` snapshot, so the rules are the same in a decider, a test and
the hub's relay. Routing is by site: the hub needs to know only which sites hold a recipient, never
who the people are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from services.comms.events import ADDRESS_PATTERN
from shared.decider import Refused

Kind = Literal["all", "site", "channel", "person", "role"]
_ADDRESS = re.compile(ADDRESS_PATTERN)


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: Kind
    name: str
    site: str | None = None


def parse(address: str) -> Parsed:
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"not an address: {address!r}")
    if address == "all":
        return Parsed("all", "all")
    kind, rest = address.split(":", 1)
    if kind == "site":
        return Parsed("site", rest, rest)
    if kind == "channel":
        return Parsed("channel", rest)
    handle, site = rest.rsplit("@", 1)
    return Parsed("person" if kind == "person" else "role", handle, site)


def is_address(address: str) -> bool:
    return bool(_ADDRESS.fullmatch(address))


def site_of(address: str) -> str | None:
    """The one site a person, role or site address lives at; None for broadcasts and channels."""
    return parse(address).site


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    public: bool
    sites: frozenset[str] = frozenset()
    """Member sites; empty means every site."""


@dataclass(frozen=True, slots=True)
class Directory:
    """What one site knows of the sites, their listed addresses and the channels, at one moment."""

    sites: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()
    channels: Mapping[str, Channel] = field(default_factory=dict)

    def channel_sites(self, name: str) -> frozenset[str]:
        channel = self.channels.get(name)
        if channel is None:
            return frozenset()
        return channel.sites or self.sites


def unknown_recipients(to: Iterable[str], directory: Directory, here: str) -> list[str]:
    """Recipients this site cannot route: unknown sites, unlisted people or roles, unknown channels."""
    unknown = []
    for address in to:
        parsed = parse(address)
        match parsed.kind:
            case "all":
                continue
            case "site":
                known = parsed.name in directory.sites or parsed.name == here
            case "channel":
                known = parsed.name in directory.channels
            case _:
                known = address in directory.addresses
        if not known:
            unknown.append(address)
    return unknown


def sites_addressed(to: Iterable[str], directory: Directory) -> frozenset[str]:
    """Every site that holds a recipient: broadcasts reach every known site, channels their members."""
    out: set[str] = set()
    for address in to:
        parsed = parse(address)
        match parsed.kind:
            case "all":
                out |= directory.sites
            case "channel":
                out |= directory.channel_sites(parsed.name)
            case _:
                assert parsed.site is not None
                out.add(parsed.site)
    return frozenset(out)


def recipients_at(to: Iterable[str], site: str, directory: Directory) -> tuple[str, ...]:
    """The recipients of a message that live at ``site`` (a broadcast or channel counts as one)."""
    out = []
    for address in to:
        parsed = parse(address)
        match parsed.kind:
            case "all":
                out.append(address)
            case "channel":
                if site in directory.channel_sites(parsed.name):
                    out.append(address)
            case _:
                if parsed.site == site:
                    out.append(address)
    return tuple(out)


def covers(recipients: Iterable[str], reader: str, site: str) -> bool:
    """Whether ``reader`` (a person or role at ``site``) is among, or under, the recipients: a
    message to the site, to everyone, or to a channel delivered here is for everyone here."""
    if site_of(reader) != site or parse(reader).kind not in ("person", "role"):
        return False
    for address in recipients:
        if address in (reader, "all", f"site:{site}") or address.startswith("channel:"):
            return True
    return False


def unknown_channel(name: str) -> Refused:
    """Said with what to do: a fresh deployment has no channel yet, and ``main`` is the CLI's
    default, so a first message met this refusal with no hint of how channels come to be."""
    return Refused(
        f"unknown channel {name!r}: a coordinator opens it at the hub ('aidmesh msg channel open "
        f"{name}') and gives each site its key ('aidmesh msg key {name} --site SITE')",
        code="unknown_channel",
    )
