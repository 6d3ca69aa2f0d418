"""How services plug into the ``aidmesh`` command and the local deployment, without ``shared``
importing them by name: every package ``services.<name>`` that has a ``plugin`` module takes part.

``services/<name>/plugin.py`` provides ``launch() -> ServiceLaunch`` (what to run, where, which
event contexts it owns) and may provide ``register_cli(subparsers)`` for its subcommands and
``demo() -> int`` for ``aidmesh demo`` / ``make demo`` (a scripted day against the running deployment).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
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
    http: bool = True
    durable_writes: bool = False
    """Money: every server of the deployment runs with ``sync_interval: always`` (an fsync per write,
    so an acknowledged event survives a power cut) when any service asks for it."""

    def runs_at(self, site: str, hub: str = "hub") -> bool:
        if self.placement == "everywhere":
            return True
        return (site == hub) == (self.placement == "hub")


def _plugin_modules() -> list[ModuleType]:
    import services

    found = []
    for info in sorted(pkgutil.iter_modules(services.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        try:
            found.append(importlib.import_module(f"services.{info.name}.plugin"))
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{info.name}.plugin":
                raise  # a plugin that exists but fails to import is a bug, not an absence
    return found


def services() -> list[ServiceLaunch]:
    return [module.launch() for module in _plugin_modules()]


def demos() -> list[tuple[str, object]]:
    return [
        (module.__name__.split(".")[1], module.demo)
        for module in _plugin_modules()
        if hasattr(module, "demo")
    ]


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for module in _plugin_modules():
        register = getattr(module, "register_cli", None)
        if register is not None:
            register(subparsers)
