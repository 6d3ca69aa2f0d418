"""How comms plugs into ``aidmesh``: it runs everywhere (every site delivers and sends, the hub also
relays), owns one event context per priority class plus alerts and the directory, and adds the
``aidmesh msg`` and ``aidmesh alert`` commands."""

from __future__ import annotations

import argparse

from services.comms.events import CONTEXTS
from shared.plugins import ServiceLaunch


def launch() -> ServiceLaunch:
    return ServiceLaunch(
        name="comms", module="services.comms", placement="everywhere", contexts=CONTEXTS
    )


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from services.comms.cli import register

    register(subparsers)


def demo() -> int:
    from services.comms.demo import run

    return run()
