"""How the requests service plugs into ``aidmesh``: everywhere (field sites take commands, the hub
serves the overview), its event context, its CLI and its demo."""

from __future__ import annotations

import argparse

from shared.plugins import ServiceLaunch


def launch() -> ServiceLaunch:
    return ServiceLaunch(
        name="requests",
        module="services.requests",
        placement="everywhere",
        contexts=("requests",),
    )


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from services.requests.cli import register

    register(subparsers)


def demo() -> int:
    from services.requests.demo import run

    return run()
