"""``python -m services.comms``: the comms service at the site named by ``AIDMESH_SITE``."""

from __future__ import annotations

from services.comms.assembly import build
from shared.service import Service, main


async def _build(service: Service) -> None:
    await build(service)


if __name__ == "__main__":
    main("comms", _build)
