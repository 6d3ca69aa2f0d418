"""The ``aidmesh`` command: ``up`` and ``status`` here; services add their own subcommands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from shared import plugins
from shared.deployment import Deployment, var_dir

DEFAULT_SITES = ["yangon-north", "dili"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aidmesh",
        description="Mutual-aid coordination across intermittent links.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the hub, the sites and every service locally")
    up.add_argument("--var", type=Path, default=None, help="data directory (default ./var)")
    up.add_argument("--base-port", type=int, default=4222, help="first port (0: pick free ports)")
    up.set_defaults(handler=_up)

    status = sub.add_parser("status", help="servers, streams, backlogs, dead letters, services")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    plugins.register_cli(sub)
    return parser


def _up(args: argparse.Namespace) -> int:
    from shared.supervisor import up

    return up((args.var or var_dir()).resolve(), [], args.base_port)


def _status(args: argparse.Namespace) -> int:
    from shared import status

    dep = Deployment.load()
    result = asyncio.run(status.gather(dep))
    if args.json:
        print(json.dumps(status.as_dict(result), indent=2, default=str))
    else:
        print(status.render(result))
    return 0 if all(s.reachable for s in result) else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except FileNotFoundError as exc:
        print(f"aidmesh: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
