"""What a read model is: SQLite tables and a fold that applies one event to them.

A projection's ``apply`` must be deterministic in the event alone (no clock, no randomness, no reads
of other stores): that is what makes a rebuild from zero give identical results.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Protocol, TypeVar

from pydantic import Field

from shared.envelope import Envelope, EventPayload

Row = TypeVar("Row")
Offset = Annotated[int, Field(ge=0, le=10_000_000)]
"""Rows of a read-model list to skip: the next page starts at the previous offset plus its limit."""


class Projection(Protocol):
    name: str
    """Durable consumer name and position key: one token, unique per stream."""
    version: int
    """Bump when ``apply`` changes meaning: the runner rebuilds the read model from zero."""

    def create(self, db: sqlite3.Connection) -> None: ...

    def drop(self, db: sqlite3.Connection) -> None: ...

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None: ...


def open_db(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A read-model database: WAL so pages and the API read while the runner writes.

    ``synchronous=NORMAL`` is enough: a WAL commit is atomic, so data and position always agree, and
    if a power cut loses the last commits the runner restarts its consumer from the older stored
    position and applies those events again. Durability lives in JetStream, not here."""
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.row_factory = sqlite3.Row
    return db


def page(rows: list[Row], limit: int, offset: int) -> tuple[list[Row], int | None]:
    """A page of a list read with ``LIMIT limit + 1``: the extra row only says there is more (a full
    page alone cannot), and the next page's offset comes back, ``None`` after the last."""
    return rows[:limit], offset + limit if len(rows) > limit else None
