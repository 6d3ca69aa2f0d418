"""Hub and field sites: every server's config, its accounts and leaf link, and which streams source
which. One place, used by ``aidmesh up``, the tests, the benchmarks and the container files.

- Each server has two accounts. ``APP`` holds events and crosses the leaf link. ``LOCAL`` holds
  personal data; no leaf connection binds it, so nothing in it can reach the hub, by construction.
- Single ownership is enforced by permissions, not convention: a site's leaf remote refuses to import
  publishes on its own event subjects (so a hub client cannot write into a site's aggregates), and
  the hub's user for each site may not publish on the hub's event subjects.
- Site streams are sourced by the hub's stream of the same context; a site sources from the hub only
  what concerns it (``ev.<ctx>.hub.<site>.>``) and broadcasts (``ev.<ctx>.hub.all.>``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nats.js import JetStreamContext

from shared import subjects
from shared.natsserver import Account, LeafRemote, ServerSpec, User
from shared.streams import (
    SourceSpec,
    StreamSpec,
    add_sources,
    dead_letter_stream,
    ensure_stream,
    event_stream,
)
from shared.subjects import HUB

# The link is the scarce resource: S2 at its best ratio (s2_auto picks no compression below 10 ms
# RTT, so a local deployment would measure nothing; measured in bench/RESULTS.md).
LINK_COMPRESSION = "s2_best"
APP = "APP"
LOCAL = "LOCAL"
APP_USER = "app"
LOCAL_USER = "local"


@dataclass
class Secrets:
    """Passwords of one deployment, made once and kept in ``var/secrets.json`` (mode 600)."""

    app: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    local: dict[str, str] = field(default_factory=dict)
    leaf: dict[str, str] = field(default_factory=dict)

    def for_site(self, site: str) -> Secrets:
        self.local.setdefault(site, secrets.token_urlsafe(18))
        if site != HUB:
            self.leaf.setdefault(site, secrets.token_urlsafe(18))
        return self

    @classmethod
    def load_or_create(cls, path: Path) -> Secrets:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            made = cls()
            made.save(path)
            return made

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)


def hub_server(
    *,
    store_dir: Path,
    port: int,
    http_port: int,
    leaf_port: int,
    sites: list[str],
    keys: Secrets,
    sync_always: bool = False,
    compression: str = LINK_COMPRESSION,
) -> ServerSpec:
    leaf_users = tuple(
        User(site, keys.for_site(site).leaf[site], publish_deny=hub_guarded_subjects())
        for site in sites
    )
    return ServerSpec(
        name=HUB,
        domain=HUB,
        store_dir=store_dir,
        port=port,
        http_port=http_port,
        leafnode_port=leaf_port,
        leafnode_compression=compression,
        sync_always=sync_always,
        accounts=_accounts(HUB, keys, leaf_users),
        default_user=APP_USER,
    )


def site_server(
    *,
    site: str,
    store_dir: Path,
    port: int,
    http_port: int,
    hub_leaf_url: str,
    keys: Secrets,
    sync_always: bool = False,
    compression: str = LINK_COMPRESSION,
) -> ServerSpec:
    """``hub_leaf_url`` is host:port of the hub's leaf listener as this site reaches it (through the
    link simulator locally, through the dish in the field)."""
    keys.for_site(site)
    remote = LeafRemote(
        url=f"nats-leaf://{site}:{keys.leaf[site]}@{hub_leaf_url}",
        account=APP,
        deny_imports=site_guarded_subjects(site),
        deny_exports=(f"{subjects.LOCAL_PREFIX}.>",),
        compression=compression,
    )
    return ServerSpec(
        name=site,
        domain=site,
        store_dir=store_dir,
        port=port,
        http_port=http_port,
        sync_always=sync_always,
        leaf_remotes=(remote,),
        accounts=_accounts(site, keys),
        default_user=APP_USER,
    )


def _accounts(
    site: str, keys: Secrets, extra_app_users: tuple[User, ...] = ()
) -> tuple[Account, ...]:
    keys.for_site(site)
    return (
        Account(APP, (User(APP_USER, keys.app), *extra_app_users)),
        Account(LOCAL, (User(LOCAL_USER, keys.local[site]),)),
    )


def hub_guarded_subjects() -> tuple[str, ...]:
    """What a site's leaf connection may not publish at the hub: the hub's own aggregates."""
    return (f"ev.*.{HUB}.>", f"{subjects.LOCAL_PREFIX}.>")


def site_guarded_subjects(site: str) -> tuple[str, ...]:
    """What a site never accepts from the hub side: writes to its own aggregates."""
    return (f"ev.*.{site}.>", f"{subjects.LOCAL_PREFIX}.>")


def local_url(spec: ServerSpec, keys: Secrets) -> str:
    """Where a service at this server reaches its site-local (personal data) account."""
    return spec.url_for(LOCAL_USER, keys.for_site(spec.name).local[spec.name])


# --- streams ----------------------------------------------------------------------------------


def site_source(context: str, site: str) -> SourceSpec:
    """The hub's source for one site: only what the site owns (not what it got from the hub)."""
    return SourceSpec(
        name=subjects.stream_name(context, site),
        filter_subject=subjects.owned_subjects(context, site),
        domain=site,
    )


def hub_sources_for(context: str, site: str) -> tuple[SourceSpec, ...]:
    return tuple(
        SourceSpec(name=subjects.stream_name(context, HUB), filter_subject=f, domain=HUB)
        for f in subjects.events_for_site(context, site)
    )


def hub_stream(context: str, sites: list[str]) -> StreamSpec:
    return event_stream(context, HUB, sources=tuple(site_source(context, s) for s in sites))


def site_stream(context: str, site: str) -> StreamSpec:
    return event_stream(context, site, sources=hub_sources_for(context, site))


async def ensure_hub_streams(js: JetStreamContext, contexts: list[str]) -> None:
    for ctx in contexts:
        await ensure_stream(js, event_stream(ctx, HUB))
    await ensure_stream(js, dead_letter_stream(HUB))


async def ensure_site_streams(js: JetStreamContext, site: str, contexts: list[str]) -> None:
    """A site's streams, which source from the hub's (create the hub's first)."""
    for ctx in contexts:
        await ensure_stream(js, site_stream(ctx, site))
    await ensure_stream(js, dead_letter_stream(site))


async def source_site(hub_js: JetStreamContext, site: str, contexts: list[str]) -> None:
    """Point the hub's streams at a site's (create the site's first): no restart, nothing else
    touched."""
    for ctx in contexts:
        await add_sources(hub_js, subjects.stream_name(ctx, HUB), (site_source(ctx, site),))
