"""The site's timer: the rules that depend on time passing, run as ordinary commands.

Every few seconds it reads the request board and issues: an expiry for each claim past the site's
claim expiry (the request reopens), an alert for each urgent request nobody has claimed within the
site's alert delay, and a reconciliation for each place a volunteer still holds for a claim that
ended (or never took hold) because a crash cut a two-step command short.

Its command ids derive from what they are about (``child_id(claim_id, n)``, ``child_id(request_id,
round)``) and their times from the rule (the expiry moment, the alert moment), so two timers, or one
restarted, decide byte-identical events that the store takes once; the deciders ignore what no longer
applies. The clock is read here, never in a decider.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.requests import queries
from services.requests.actors import SYSTEM_ACTOR
from services.requests.events import ClaimOutcome
from services.requests.handlers import Handlers
from services.requests.projections import stamp
from services.requests.request import AlertUnclaimed, ExpireClaim, claim_outcome
from services.requests.volunteer import DropClaim
from shared import telemetry
from shared.commands import CommandMeta
from shared.decider import Refused
from shared.eventstore import EventConflict
from shared.ids import child_id

_log = telemetry.get_logger("aidmesh.requests.timer")
EXPIRY, RECONCILIATION, ALERT_ROUND = 101, 104, 1000
"""``child_id`` numbers for the timer's commands, apart from those of the client's steps."""
LOST_CLAIM_GRACE = timedelta(minutes=10)
"""How long after the claim expiry a volunteer's place for a claim that never took hold is kept."""


@dataclass
class Tick:
    expired: int = 0
    alerted: int = 0
    reconciled: int = 0


class SiteTimer:
    def __init__(
        self,
        handlers: Handlers,
        read_db: Callable[[], sqlite3.Connection],
        *,
        every_seconds: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._handlers = handlers
        self._read_db = read_db
        self._every = every_seconds
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="requests-timer")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every)
            if self._stopping.is_set():
                return
            try:
                await self.tick(self._clock())
            except Exception as exc:  # the store or read model away: try again next tick
                _log.warning("timer.tick_failed", error=repr(exc))

    async def tick(self, now: datetime) -> Tick:
        settings = (await self._handlers.site_state()).settings
        db = self._read_db()
        try:
            expiries = queries.due_expiries(db, stamp(now))
            waiting = queries.unclaimed_urgent(db)
            lost_before = now - timedelta(minutes=settings.claim_expiry_minutes) - LOST_CLAIM_GRACE
            stale = queries.stale_volunteer_claims(db, stamp(lost_before))
        finally:
            db.close()
        done = Tick()
        for request_id, claim_id, _, expires_at in expiries:
            done.expired += await self._expire(
                request_id, claim_id, datetime.fromisoformat(expires_at)
            )
        delay = timedelta(minutes=settings.urgent_alert_minutes)
        for request_id, open_round, open_since in waiting:
            due = datetime.fromisoformat(open_since) + delay
            if due <= now:
                alert = AlertUnclaimed(open_round, settings.urgent_alert_minutes)
                when = _meta(child_id(request_id, ALERT_ROUND + open_round), due, request_id)
                done.alerted += await self._run_one("request", request_id, alert, when)
        for volunteer_id, claim_id, request_id, outcome in stale:
            ended: ClaimOutcome = outcome if outcome else "lost"  # type: ignore[assignment]
            drop = DropClaim(claim_id, request_id, ended)
            when = _meta(child_id(claim_id, RECONCILIATION), lost_before, claim_id)
            done.reconciled += await self._run_one("volunteer", volunteer_id, drop, when)
        if done.expired or done.alerted or done.reconciled:
            _log.info(
                "timer.tick", expired=done.expired, alerted=done.alerted, reconciled=done.reconciled
            )
        return done

    async def _expire(self, request_id: str, claim_id: str, expires_at: datetime) -> int:
        when = _meta(child_id(claim_id, EXPIRY), expires_at, claim_id)
        handler = self._handlers.requests
        try:
            outcome = await handler.handle(
                self._handlers.ref("request", request_id), ExpireClaim(claim_id), when
            )
        except (Refused, EventConflict) as exc:
            _log.info("timer.skipped", kind="expiry", reason=str(exc))
            return 0
        for event in outcome.events:
            ended = claim_outcome(event.payload)
            if ended is not None:
                await self._handlers.drop_claim(request_id, ended, when)
        return len(outcome.events)

    async def _run_one(
        self, kind: str, aggregate_id: str, command: AlertUnclaimed | DropClaim, when: CommandMeta
    ) -> int:
        ref = self._handlers.ref(kind, aggregate_id)
        handler = self._handlers.requests if kind == "request" else self._handlers.volunteers
        try:
            outcome = await handler.handle(ref, command, when)  # type: ignore[arg-type]
        except (Refused, EventConflict) as exc:  # gone, or another timer did it just now
            _log.info("timer.skipped", kind=kind, reason=type(exc).__name__)
            return 0
        return len(outcome.events)


def _meta(command_id: str, at: datetime, correlation_id: str) -> CommandMeta:
    return CommandMeta(command_id, SYSTEM_ACTOR, at, correlation_id=correlation_id)
