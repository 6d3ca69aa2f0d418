"""A projection process for the crash test: ``python -m tests.projection_worker URL DB``."""

from __future__ import annotations

import asyncio
import sys

import nats

from shared.projector import ProjectionRunner, RunnerConfig
from tests.tally import TallyProjection, registry


async def main(url: str, db: str) -> None:
    nc = await nats.connect(url)
    runner = ProjectionRunner(
        nc,
        TallyProjection(),
        registry,
        db_path=db,
        stream="TALLY_HUB",
        site="hub",
        config=RunnerConfig(batch=100),
    )
    await runner.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
