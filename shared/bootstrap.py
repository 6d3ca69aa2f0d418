"""Create every stream and source of a deployment whose servers something else runs (containers):
``python -m shared.bootstrap --hub nats://hub:4222 --site dili=nats://site-dili:4222``.

The same topology functions as ``aidmesh up``; safe to run again (it never removes a source)."""

from __future__ import annotations

import argparse
import asyncio

import nats

from shared import plugins, topology


async def bootstrap(hub_url: str, sites: dict[str, str], contexts: list[str]) -> None:
    hub = await nats.connect(hub_url, max_reconnect_attempts=-1)
    try:
        await topology.ensure_hub_streams(hub.jetstream(), contexts)
        for site, url in sites.items():
            nc = await nats.connect(url, max_reconnect_attempts=-1)
            try:
                await topology.ensure_site_streams(nc.jetstream(), site, contexts)
            finally:
                await nc.close()
            await topology.source_site(hub.jetstream(), site, contexts)
    finally:
        await hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.bootstrap")
    parser.add_argument("--hub", required=True, help="the hub's NATS URL")
    parser.add_argument("--site", action="append", default=[], metavar="NAME=URL")
    parser.add_argument("--context", action="append", default=[], help="default: every service's")
    args = parser.parse_args()
    sites = dict(s.split("=", 1) for s in args.site)
    contexts = args.context or [c for launch in plugins.services() for c in launch.contexts]
    asyncio.run(bootstrap(args.hub, sites, list(dict.fromkeys(contexts))))


if __name__ == "__main__":
    main()
