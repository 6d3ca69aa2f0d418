"""A tiny domain used to test the spine: a tally that can be incremented up to a limit."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.decider import Decider, Refused
from shared.envelope import Envelope, EventPayload, EventRegistry, make_envelope
from shared.ids import uuid7
from shared.subjects import AggregateRef


class Incremented(EventPayload):
    event_type = "Incremented"
    by: int
    note_ref: str = ""


class Reset(EventPayload):
    event_type = "Reset"


@dataclass(frozen=True)
class Increment:
    by: int
    limit: int = 1_000_000


@dataclass(frozen=True)
class DoReset:
    pass


@dataclass(frozen=True)
class Tally:
    total: int = 0
    increments: int = 0


def decide(command: Increment | DoReset, state: Tally) -> Sequence[EventPayload]:
    match command:
        case Increment(by=by, limit=limit):
            if by <= 0:
                raise Refused("increment must be positive", code="not_positive")
            if state.total + by > limit:
                raise Refused(f"would pass the limit of {limit}", code="over_limit")
            return [Incremented(by=by)]
        case DoReset():
            return [Reset()] if state.total else []


def evolve(state: Tally, event: EventPayload) -> Tally:
    match event:
        case Incremented(by=by):
            return Tally(state.total + by, state.increments + 1)
        case Reset():
            return Tally()
    return state


tally = Decider(decide=decide, evolve=evolve, initial_state=Tally())


def incremented(ref: AggregateRef, by: int = 1) -> Envelope[EventPayload]:
    """One ``Incremented`` event on ``ref``, as a writer would store it."""
    return make_envelope(
        Incremented(by=by),
        event_id=uuid7(),
        aggregate=ref,
        occurred_at=datetime.now(UTC),
        actor="tester",
        correlation_id=uuid7(),
    )


registry = EventRegistry(Incremented, Reset)


class TallyProjection:
    """Totals per aggregate, plus every applied event id (UNIQUE: a double apply would raise)."""

    version = 1

    def __init__(self, name: str = "tally_totals", poison: int | None = None) -> None:
        self.name = name
        self.poison = poison

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS tally_totals (aggregate TEXT PRIMARY KEY, total INTEGER)"
        )
        db.execute("CREATE TABLE IF NOT EXISTS tally_applied (event_id TEXT PRIMARY KEY, seq INT)")

    def drop(self, db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE IF EXISTS tally_totals")
        db.execute("DROP TABLE IF EXISTS tally_applied")

    def apply(self, db: sqlite3.Connection, event: Envelope[EventPayload], seq: int) -> None:
        db.execute("INSERT INTO tally_applied VALUES (?, ?)", (event.event_id, seq))
        match event.payload:
            case Incremented(by=by):
                if by == self.poison:
                    raise ValueError(f"poisoned increment {by}")
                db.execute(
                    "INSERT INTO tally_totals VALUES (?, ?) ON CONFLICT(aggregate) "
                    "DO UPDATE SET total = total + excluded.total",
                    (event.aggregate_id, by),
                )
            case Reset():
                db.execute("DELETE FROM tally_totals WHERE aggregate = ?", (event.aggregate_id,))
