"""The local deployment: which servers and services run, on which ports, with data under ``var/``.

``aidmesh up`` builds one from the command line and saves it as ``var/deployment.json``; every other
command (``aidmesh status``, the service CLIs) reads that file to find the servers.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.natsserver import ServerSpec, free_port
from shared.subjects import HUB


class DeploymentFileError(ValueError):
    """``deployment.json`` is there but cannot be read: cut short by hand, or written by another
    version of aidmesh whose ``aidmesh up`` was killed before it could remove the file."""


def var_dir() -> Path:
    return Path(os.environ.get("AIDMESH_VAR") or "var").resolve()


@dataclass
class SiteEndpoint:
    """Where one server (the hub or a site) and its services answer."""

    site: str
    client_port: int
    http_port: int
    api_port: int
    leaf_port: int = 0
    link_port: int = 0
    link_control_port: int = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


@dataclass
class ServiceEndpoint:
    service: str
    site: str
    http_port: int
    pid: int = 0
    log: str = ""


@dataclass
class Deployment:
    var: Path
    hub: SiteEndpoint
    sites: list[SiteEndpoint] = field(default_factory=list)
    services: dict[str, ServiceEndpoint] = field(default_factory=dict)
    control_port: int = 0

    @classmethod
    def plan(cls, var: Path, sites: list[str], base_port: int = 4222) -> Deployment:
        """Fixed, guessable ports from ``base_port`` (4222 as usual for NATS), or free ones for 0."""

        def port(offset: int) -> int:
            return free_port() if base_port == 0 else base_port + offset

        hub = SiteEndpoint(
            HUB,
            client_port=port(0),
            http_port=port(4000),
            api_port=port(3858),
            leaf_port=port(3200),
        )
        ends = [
            SiteEndpoint(
                site,
                client_port=port(i),
                http_port=port(4000 + i),
                api_port=port(3858 + i),
                link_port=port(3200 + i),
                link_control_port=port(3300 + i),
            )
            for i, site in enumerate(sites, start=1)
        ]
        return cls(var=var, hub=hub, sites=ends, control_port=port(3400))

    def add_site(self, site: str) -> SiteEndpoint:
        """Ports for a site joining a running deployment (free ones: the fixed plan is taken)."""
        end = SiteEndpoint(
            site,
            client_port=free_port(),
            http_port=free_port(),
            api_port=free_port(),
            link_port=free_port(),
            link_control_port=free_port(),
        )
        self.sites.append(end)
        return end

    def endpoint(self, site: str) -> SiteEndpoint:
        for end in [self.hub, *self.sites]:
            if end.site == site:
                return end
        known = ", ".join(e.site for e in [self.hub, *self.sites])
        raise KeyError(f"no site {site!r} in this deployment (known: {known})")

    def all_sites(self) -> list[SiteEndpoint]:
        return [self.hub, *self.sites]

    def server_spec(self, end: SiteEndpoint, **extra: object) -> ServerSpec:
        return ServerSpec(
            name=end.site,
            domain=end.site,
            store_dir=self.var / "nats" / end.site,
            port=end.client_port,
            http_port=end.http_port,
            leafnode_port=end.leaf_port or None,
            **extra,  # type: ignore[arg-type]
        )

    @property
    def run_dir(self) -> Path:
        return self.var / "run"

    @property
    def state_path(self) -> Path:
        return self.var / "deployment.json"

    def save(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["var"] = str(self.var)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_path)

    @classmethod
    def load(cls, var: Path | None = None) -> Deployment:
        path = (var or var_dir()) / "deployment.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no running deployment found ({path} is missing): start one with 'make up'"
            ) from None
        except ValueError as exc:  # not JSON, not UTF-8
            raise _unreadable(path, exc) from None
        try:
            return cls(
                var=Path(data["var"]),
                hub=SiteEndpoint(**data["hub"]),
                sites=[SiteEndpoint(**s) for s in data["sites"]],
                services={k: ServiceEndpoint(**v) for k, v in data.get("services", {}).items()},
                control_port=data.get("control_port", 0),
            )
        except (KeyError, TypeError, AttributeError) as exc:  # a field missing, unknown or mistyped
            raise _unreadable(path, exc) from None

    def service_url(self, service: str, site: str) -> str:
        key = f"{service}@{site}"
        if key not in self.services:
            raise KeyError(f"{service} does not run at {site} in this deployment")
        return f"http://127.0.0.1:{self.services[key].http_port}"

    def forget(self) -> None:
        self.state_path.unlink(missing_ok=True)


def _unreadable(path: Path, exc: Exception) -> DeploymentFileError:
    return DeploymentFileError(
        f"{path} is not a deployment file this aidmesh reads ({type(exc).__name__}): if no"
        " 'aidmesh up' is running, remove it and start again with 'make up'"
    )
