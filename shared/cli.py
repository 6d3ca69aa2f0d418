"""The ``aidmesh`` command: ``up``, ``status``, ``link`` and ``site`` here; services add their own."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from shared import linksim, plugins
from shared.cliclient import ExactParser
from shared.deployment import Deployment, DeploymentFileError, var_dir
from shared.subjects import HUB, InvalidName, site_id

DEFAULT_SITES = ["yangon-north", "dili"]
MAX_BASE_PORT = 65535 - 4100  # the plan's highest offset is 4000 plus one per site


def build_parser() -> argparse.ArgumentParser:
    parser = ExactParser(
        prog="aidmesh", description="Mutual-aid coordination across intermittent links."
    )
    sub = parser.commands(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the hub, the field sites and every service locally")
    up.add_argument("--var", type=Path, default=None, help="data directory (default ./var)")
    up.add_argument("--base-port", type=_base_port, default=4222, help="first port (0: free ports)")
    up.add_argument(
        "--sites",
        type=_sites_arg,
        default=",".join(DEFAULT_SITES),
        help="field sites, comma separated",
    )
    up.set_defaults(handler=_up)

    status = sub.add_parser("status", help="servers, links, backlogs, dead letters, services")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--watch", type=_seconds, metavar="SECONDS", help="repeat every SECONDS")
    status.set_defaults(handler=_status)

    _link_commands(sub)
    _site_and_deploy_commands(sub)
    plugins.register_cli(sub)
    return parser


def _link_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    link = sub.add_parser("link", help="control a site's simulated link to the hub")
    link_sub = link.add_subparsers(dest="link_command", required=True, metavar="ACTION")
    down = link_sub.add_parser("down", help="cut the link")
    down.add_argument("site")
    down.add_argument(
        "--freeze",
        action="store_true",
        help="freeze silently (connections stay open, nothing moves) instead of refusing",
    )
    down.set_defaults(handler=_link_down)
    link_up = link_sub.add_parser("up", help="restore the link")
    link_up.add_argument("site")
    link_up.set_defaults(handler=_link_op("up"))
    link_status = link_sub.add_parser("status", help="state and byte counts of every link")
    link_status.add_argument("site", nargs="?")
    link_status.set_defaults(handler=_link_status)
    shape = link_sub.add_parser("shape", help="added latency and a bandwidth cap")
    shape.add_argument("site")
    shape.add_argument("--latency-ms", type=_at_least_zero, default=None)
    shape.add_argument(
        "--bandwidth", type=_bytes_per_second, default=None, help="bytes per second, 0 = none"
    )
    shape.set_defaults(handler=_link_shape)
    starlink = link_sub.add_parser("starlink", help="alternate up and down windows")
    starlink.add_argument("site")
    starlink.add_argument("--up", type=_seconds, default=20.0, help="seconds up (default 20)")
    starlink.add_argument("--down", type=_seconds, default=40.0, help="seconds down (default 40)")
    starlink.set_defaults(handler=_link_starlink)


def _site_and_deploy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    site = sub.add_parser("site", help="field sites of the running deployment")
    site_sub = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    add = site_sub.add_parser("add", help="add a site without restarting anything")
    add.add_argument("name")
    add.set_defaults(handler=_site_add)

    demo = sub.add_parser("demo", help="a scripted day at the sites, against `make up`")
    demo.add_argument("services", nargs="*", help="which services' demos (default: all)")
    demo.set_defaults(handler=_demo)

    deploy = sub.add_parser("deploy", help="container description of the topology")
    deploy_sub = deploy.add_subparsers(dest="deploy_command", required=True, metavar="ACTION")
    render = deploy_sub.add_parser("render", help="write docker-compose.yml and deploy/nats/*.conf")
    render.add_argument("--out", type=Path, default=Path("."), help="repository root to write into")
    render.add_argument("--sites", type=_sites_arg, default=",".join(DEFAULT_SITES))
    render.set_defaults(handler=_deploy_render)
    secrets = deploy_sub.add_parser("secrets", help="print fresh secrets for deploy/.env")
    secrets.add_argument("--sites", type=_sites_arg, default=",".join(DEFAULT_SITES))
    secrets.set_defaults(handler=_deploy_secrets)


def _demo(args: argparse.Namespace) -> int:
    code = 0
    for name, run in plugins.demos():
        if args.services and name not in args.services:
            continue
        print(f"== {name} ==", flush=True)
        code = max(code, run())  # type: ignore[operator]
    return code


def _sites_arg(value: str) -> list[str]:
    """Checked here, before a file is written or a server started: a site id becomes a JetStream
    domain, a subject token and a host name, and ``hub`` or a repeated site would overwrite another
    server's configuration."""
    sites = [s.strip() for s in value.split(",") if s.strip()]
    for site in sites:
        try:
            site_id(site)
        except InvalidName as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if site == HUB:
            raise argparse.ArgumentTypeError("'hub' is the hub, not a field site")
        if sites.count(site) > 1:
            raise argparse.ArgumentTypeError(f"site {site!r} is listed twice")
    return sites


def _at_least_zero(value: str) -> float:
    """A finite number >= 0 (an infinite latency would hold every byte on the link for ever)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {value!r}")
    return number


def _base_port(value: str) -> int:
    """0, or a port that leaves room above it: the plan puts sites' monitoring ports 4,000 and more
    above the first (``Deployment.plan``), and a port past 65535 fails only once servers start."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if port != 0 and not 1 <= port <= MAX_BASE_PORT:
        raise argparse.ArgumentTypeError(f"must be 0 (free ports) or 1 to {MAX_BASE_PORT}")
    return port


def _seconds(value: str) -> float:
    """A finite number of seconds > 0 (0 would toggle a link or repeat a report in a busy loop)."""
    number = _at_least_zero(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return number


def _bytes_per_second(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no cap) or more, got {value!r}")
    return number


def _deploy_render(args: argparse.Namespace) -> int:
    from shared import containers

    for path in containers.render(args.out, args.sites, plugins.services()):
        print(f"wrote {path}")
    return 0


def _deploy_secrets(args: argparse.Namespace) -> int:
    import secrets as random

    from shared import containers

    for line in containers.env_example(args.sites).splitlines():
        fresh = line.endswith("=") and not line.startswith("#")
        print(line + random.token_urlsafe(18) if fresh else line)
    return 0


def _up(args: argparse.Namespace) -> int:
    from shared.supervisor import up

    return up((args.var or var_dir()).resolve(), args.sites, args.base_port)


def _status(args: argparse.Namespace) -> int:
    from shared import status

    while True:
        dep = Deployment.load()
        result = asyncio.run(status.gather(dep))
        if args.json:
            print(json.dumps(status.as_dict(result), indent=2, default=str))
        else:
            print(status.render(result), flush=True)
        if not args.watch:
            return 0 if all(s.reachable for s in result) else 1
        time.sleep(args.watch)
        print()


def _link(site: str, body: dict[str, Any]) -> dict[str, Any]:
    dep = Deployment.load()
    end = dep.endpoint(site)
    if not end.link_control_port:
        raise KeyError(f"{site} has no link to control (the hub is the other end of every link)")
    return _ask(f"the link simulator of {site}", linksim.request(end.link_control_port, body))


def _ask(who: str, request: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """One answer from a control port, or a ConnectionError that says in a sentence why not: the
    deployment file outlives a killed ``aidmesh up``, and a wedged or crashed peer answers with
    silence (a TimeoutError, whose text is empty) or a closed connection (no JSON to parse)."""
    try:
        return asyncio.run(request)
    except ConnectionRefusedError:
        raise ConnectionError(
            f"{who} is not running: start the deployment with 'make up'"
        ) from None
    except TimeoutError:
        raise ConnectionError(f"{who} did not answer in time") from None
    except (ValueError, ConnectionResetError):
        raise ConnectionError(f"{who} hung up without answering") from None


def _refusal(answer: dict[str, Any]) -> str | None:
    """The sentence of an error answer, ``{"ok": false, "error": {"code", "message"}}`` as the
    link simulators and the supervisor answer (the reply shape of ``shared.endpoints``)."""
    error = answer.get("error")
    if error is None:
        return None
    return str(error.get("message", error) if isinstance(error, dict) else error)


def _print_link(answer: dict[str, Any]) -> int:
    if (refusal := _refusal(answer)) is not None:
        print(f"aidmesh: {refusal}", file=sys.stderr)
        return 2
    state = answer["state"] if answer["state"] == "up" else f"down ({answer['mode']})"
    extra = ""
    if answer.get("latency_ms") or answer.get("bandwidth_bps"):
        extra = f"  latency {answer['latency_ms']:.0f} ms, cap {answer['bandwidth_bps']} B/s"
    if answer.get("schedule"):
        up_s, down_s = answer["schedule"]
        extra += f"  starlink {up_s:g}s up / {down_s:g}s down"
    print(
        f"{answer['name']:<14} {state:<15} up {answer['bytes_up']:>12,} B  "
        f"down {answer['bytes_down']:>12,} B  outages {answer['outages']}{extra}"
    )
    return 0


def _link_down(args: argparse.Namespace) -> int:
    return _print_link(
        _link(args.site, {"op": "down", "mode": "freeze" if args.freeze else "refuse"})
    )


def _link_op(op: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        return _print_link(_link(args.site, {"op": op}))

    return handler


def _link_status(args: argparse.Namespace) -> int:
    dep = Deployment.load()
    sites = [args.site] if args.site else [s.site for s in dep.sites]
    return max((_print_link(_link(s, {"op": "status"})) for s in sites), default=0)


def _link_shape(args: argparse.Namespace) -> int:
    body = {"op": "shape", "latency_ms": args.latency_ms, "bandwidth_bps": args.bandwidth}
    return _print_link(_link(args.site, body))


def _link_starlink(args: argparse.Namespace) -> int:
    return _print_link(_link(args.site, {"op": "starlink", "up_s": args.up, "down_s": args.down}))


def _site_add(args: argparse.Namespace) -> int:
    dep = Deployment.load()

    adding = linksim.request(dep.control_port, {"op": "add_site", "site": args.name}, 120)
    answer = _ask("the supervisor ('aidmesh up')", adding)
    if (refusal := _refusal(answer)) is not None:
        print(f"aidmesh: {refusal}", file=sys.stderr)
        return 2
    print(f"site {answer['site']} added: nats {answer['nats']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyError as exc:  # str() of a KeyError is the repr of its message, quotes and all
        print(f"aidmesh: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ConnectionError, OSError, DeploymentFileError) as exc:
        print(f"aidmesh: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
