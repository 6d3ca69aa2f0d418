"""How services plug into the ``aidmesh`` command and the local deployment, without ``shared``
importing them: each service declares entry points in ``pyproject.toml``.

- ``aidmesh.services``: a callable returning a :class:`ServiceLaunch` (what to run, where).
- ``aidmesh.cli``: a callable taking the argparse sub-parsers, adding the service's subcommands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Literal

Placement = Literal["hub", "sites", "everywhere"]


@dataclass(frozen=True, slots=True)
class ServiceLaunch:
    name: str
    module: str
    """Run as ``python -m <module>``; the environment says the site, NATS URL, var dir, HTTP port."""
    placement: Placement
    contexts: tuple[str, ...]
    """Event contexts the service owns: the supervisor creates their streams and sourcing."""
    http: bool = False
    sync_always_contexts: tuple[str, ...] = ()

    def runs_at(self, site: str, hub: str = "hub") -> bool:
        if self.placement == "everywhere":
            return True
        return (site == hub) == (self.placement == "hub")


def services() -> list[ServiceLaunch]:
    found = []
    for ep in entry_points(group="aidmesh.services"):
        factory: Callable[[], ServiceLaunch] = ep.load()
        found.append(factory())
    return sorted(found, key=lambda s: s.name)


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for ep in entry_points(group="aidmesh.cli"):
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = ep.load()
        register(subparsers)
