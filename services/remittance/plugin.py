"""How the remittance service plugs into ``aidmesh``: it runs everywhere (the hub for donors and
collectors, every site for its groups' treasurers), owns the ``remit`` event context, and asks every
server to fsync each write: an acknowledged payment must survive a power cut."""

from __future__ import annotations

import argparse

from shared.plugins import ServiceLaunch


def launch() -> ServiceLaunch:
    return ServiceLaunch(
        name="remittance",
        module="services.remittance",
        placement="everywhere",
        contexts=("remit",),
        durable_writes=True,
    )


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from services.remittance.cli import register

    register(subparsers)


def demo() -> int:
    from services.remittance.demo import run

    return run()
