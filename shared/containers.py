"""The container description of the same topology ``aidmesh up`` runs: ``docker-compose.yml`` and the
nats-server configs under ``deploy/``, rendered from the same topology code, so they cannot drift
(a test re-renders them and compares). ``aidmesh deploy render`` writes them.

Passwords are never written: configs refer to environment variables (``$APP_PASSWORD``), which
compose fills from ``deploy/.env`` (see ``deploy/.env.example``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from shared import plugins, topology
from shared.natsserver import ServerSpec, render_config
from shared.subjects import HUB

NATS_IMAGE = "nats:2.15-alpine"
APP_IMAGE = "aidmesh:latest"
CLIENT, MONITOR, LEAF, LINK_CONTROL, HTTP = 4222, 8222, 7422, 7500, 8080
_ENV_REF = re.compile(r"^\$[A-Z_][A-Z0-9_]*$")


def env_name(site: str) -> str:
    return site.upper().replace("-", "_")


def server_host(site: str) -> str:
    return HUB if site == HUB else f"site-{site}"


def _keys(sites: list[str]) -> topology.Secrets:
    return topology.Secrets(
        app="$APP_PASSWORD",
        local={s: "$LOCAL_PASSWORD" for s in [HUB, *sites]},
        leaf={s: f"$LEAF_PASSWORD_{env_name(s)}" for s in sites},
    )


def server_specs(sites: list[str], sync_always: bool = False) -> dict[str, ServerSpec]:
    keys = _keys(sites)
    specs = {
        HUB: topology.hub_server(
            store_dir=Path("/data"),
            port=CLIENT,
            http_port=MONITOR,
            leaf_port=LEAF,
            sites=sites,
            keys=keys,
            sync_always=sync_always,
        )
    }
    for site in sites:
        spec = topology.site_server(
            site=site,
            store_dir=Path("/data"),
            port=CLIENT,
            http_port=MONITOR,
            hub_leaf_url=f"link-{site}:{LEAF}",
            keys=keys,
            sync_always=sync_always,
        )
        remote = dataclasses.replace(spec.leaf_remotes[0], url="$HUB_LEAF_URL")
        specs[site] = dataclasses.replace(spec, leaf_remotes=(remote,))
    return {name: dataclasses.replace(spec, host="0.0.0.0") for name, spec in specs.items()}


def nats_conf(config: dict[str, Any]) -> str:
    """NATS config syntax; a string that is exactly ``$NAME`` stays a variable reference."""
    lines = [
        "# Rendered by `aidmesh deploy render` from shared/topology.py: edit that, not this.",
        "",
    ]
    lines += _conf_block(config, 0)
    return "\n".join(lines) + "\n"


def _conf_value(value: Any, indent: int) -> list[str]:
    if isinstance(value, dict):
        return ["{", *_conf_block(value, indent + 1), "  " * indent + "}"]
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ["[" + ", ".join(_scalar(v) for v in value) + "]"]
        inner = []
        for item in value:
            rendered = _conf_value(item, indent + 1)
            inner.append("  " * (indent + 1) + rendered[0])
            inner.extend(rendered[1:])
        return ["[", *inner, "  " * indent + "]"]
    return [_scalar(value)]


def _conf_block(block: dict[str, Any], indent: int) -> list[str]:
    out = []
    for key, value in block.items():
        rendered = _conf_value(value, indent)
        out.append("  " * indent + f"{key}: {rendered[0]}")
        out.extend(rendered[1:])
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return text if _ENV_REF.fullmatch(text) else json.dumps(text)


def compose(sites: list[str], launches: list[plugins.ServiceLaunch]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for site in [HUB, *sites]:
        host = server_host(site)
        env = {
            "APP_PASSWORD": "${APP_PASSWORD:?set in deploy/.env}",
            "LOCAL_PASSWORD": f"${{LOCAL_PASSWORD_{env_name(site)}:?set in deploy/.env}}",
        }
        if site == HUB:
            env |= {
                f"LEAF_PASSWORD_{env_name(s)}": f"${{LEAF_PASSWORD_{env_name(s)}:?set in deploy/.env}}"
                for s in sites
            }
        else:
            env["HUB_LEAF_URL"] = (
                f"nats-leaf://{site}:${{LEAF_PASSWORD_{env_name(site)}}}@link-{site}:{LEAF}"
            )
        services[host] = {
            "image": NATS_IMAGE,
            "command": ["-c", f"/etc/nats/{site}.conf"],
            "volumes": [
                f"./deploy/nats/{site}.conf:/etc/nats/{site}.conf:ro",
                f"{host}-data:/data",
            ],
            "environment": env,
        }
        if site == HUB:
            services[host]["ports"] = [f"{CLIENT}:{CLIENT}", f"{MONITOR}:{MONITOR}"]
        else:
            services[host]["depends_on"] = [f"link-{site}"]
            services[f"link-{site}"] = _app(
                [
                    "python",
                    "-m",
                    "shared.linksim",
                    "--name",
                    site,
                    "--listen",
                    str(LEAF),
                    "--target-host",
                    HUB,
                    "--target-port",
                    str(LEAF),
                    "--control",
                    str(LINK_CONTROL),
                ],
                depends_on=[HUB],
            )
        services[f"sync-{site}"] = _app(
            [
                "python",
                "-m",
                "shared.sync",
                "--site",
                site,
                "--nats",
                f"nats://{host}:{CLIENT}",
                "--monitor",
                f"http://{host}:{MONITOR}",
            ],
            depends_on=[host],
        )
        volumes[f"{host}-data"] = {}
    services["bootstrap"] = _app(
        [
            "python",
            "-m",
            "shared.bootstrap",
            "--hub",
            f"nats://{HUB}:{CLIENT}",
            *[a for s in sites for a in ("--site", f"{s}=nats://{server_host(s)}:{CLIENT}")],
        ],
        depends_on=[server_host(s) for s in [HUB, *sites]],
        restart="on-failure",
    )
    for site in [HUB, *sites]:
        host = server_host(site)
        for launch in launches:
            if not launch.runs_at(site):
                continue
            name = f"{launch.name}-{site}"
            # a named volume: the vault's master key and data keys, the donor-reference secret
            # and the read models live there; an anonymous one (the image's VOLUME) is left
            # behind by `docker compose down`, and the next `up` starts with new keys, so every
            # contact and donor record sealed under the old ones is as good as shredded
            volumes[f"{name}-var"] = {}
            services[name] = _app(
                ["python", "-m", launch.module],
                depends_on=["bootstrap"],
                volumes=[f"{name}-var:/var/aidmesh"],
                environment={
                    "AIDMESH_SERVICE": launch.name,
                    "AIDMESH_SITE": site,
                    "AIDMESH_NATS_URL": f"nats://{host}:{CLIENT}",
                    "AIDMESH_LOCAL_URL": (
                        f"nats://local:${{LOCAL_PASSWORD_{env_name(site)}}}@{host}:{CLIENT}"
                    ),
                    "AIDMESH_HTTP_PORT": str(HTTP),
                    "AIDMESH_VAR": "/var/aidmesh",
                },
            )
    return {"name": "aidmesh", "services": services, "volumes": volumes}


def _app(command: list[str], **extra: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": APP_IMAGE,
        "build": {"context": ".", "dockerfile": "deploy/Dockerfile"},
    }
    service["command"] = command
    if "depends_on" in extra:
        service["depends_on"] = extra.pop("depends_on")
    service.setdefault("restart", extra.pop("restart", "unless-stopped"))
    service.update(extra)
    return service


def yaml(value: Any, indent: int = 0) -> str:
    """A small block-style YAML writer (strings double-quoted, JSON escapes): enough for compose."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {yaml(item, 0)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        return "\n".join(f"{pad}- {yaml(item, 0)}" for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def env_example(sites: list[str]) -> str:
    lines = [
        "# Copy to deploy/.env (never commit it) and put real secrets in: `aidmesh deploy secrets`",
        "# prints a fresh set. Compose reads it with `docker compose --env-file deploy/.env up`.",
        "APP_PASSWORD=",
    ]
    lines += [f"LOCAL_PASSWORD_{env_name(s)}=" for s in [HUB, *sites]]
    lines += [f"LEAF_PASSWORD_{env_name(s)}=" for s in sites]
    return "\n".join(lines) + "\n"


def render(root: Path, sites: list[str], launches: list[plugins.ServiceLaunch]) -> list[Path]:
    written = []
    durable = any(launch.durable_writes for launch in launches)
    files = {
        root / "deploy" / "nats" / f"{name}.conf": nats_conf(render_config(spec))
        for name, spec in server_specs(sites, durable).items()
    }
    header = (
        "# Rendered by `aidmesh deploy render` from shared/containers.py: edit that, not this.\n"
    )
    files[root / "docker-compose.yml"] = header + yaml(compose(sites, launches)) + "\n"
    files[root / "deploy" / ".env.example"] = env_example(sites)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
