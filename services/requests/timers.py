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

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.requests import queries
from services.requests.actors import SYSTEM_ACTOR
from services.requests.events import ClaimOutcome
from services.requests.handlers import Handlers
from services.requests.projections import stamp
from services.requests.request import AlertUnclaimed, EndedClaim, ExpireClaim, claim_outcome
from services.requests.volunteer import DropClaim
from shared import telemetry
from shared.commands import CommandHandler, CommandMeta, Outcome
from shared.decider import Refused
from shared.eventstore import EventConflict
from shared.ids import child_id
from shared.periodic import Periodic
from shared.subjects import AggregateRef

_log = telemetry.get_logger("aidmesh.requests.timer")
C = TypeVar("C")
S = TypeVar("S")
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
        self._clock = clock
        self._periodic = Periodic("requests-timer", lambda: self.tick(self._clock()), every_seconds)

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

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
                done.alerted += await self._alert(request_id, alert, when)
        for volunteer_id, claim_id, request_id, outcome in stale:
            when = _meta(child_id(claim_id, RECONCILIATION), lost_before, claim_id)
            done.reconciled += await self._give_back(
                volunteer_id,
                EndedClaim(claim_id, volunteer_id, _outcome(outcome)),
                request_id,
                when,
            )
        if done.expired or done.alerted or done.reconciled:
            _log.info(
                "timer.tick", expired=done.expired, alerted=done.alerted, reconciled=done.reconciled
            )
        return done

    async def _expire(self, request_id: str, claim_id: str, expires_at: datetime) -> int:
        when = _meta(child_id(claim_id, EXPIRY), expires_at, claim_id)
        ref = self._handlers.ref("request", request_id)
        outcome = await _unless_moved_on(
            self._handlers.requests, ref, ExpireClaim(claim_id), when, "expiry"
        )
        if outcome is None:
            return 0
        for event in outcome.events:
            ended = claim_outcome(event.payload)
            if ended is not None:
                await self._handlers.drop_claim(request_id, ended, when)
        return len(outcome.events)

    async def _alert(self, request_id: str, alert: AlertUnclaimed, when: CommandMeta) -> int:
        ref = self._handlers.ref("request", request_id)
        outcome = await _unless_moved_on(self._handlers.requests, ref, alert, when, "alert")
        return len(outcome.events) if outcome else 0

    async def _give_back(
        self, volunteer_id: str, ended: EndedClaim, request_id: str, when: CommandMeta
    ) -> int:
        """A place held for a claim the request has ended, or never had. The read model says so;
        the request itself is asked before a "never had" is believed (a read model catching up after
        a long stop may hold the volunteer's half of a claim and not yet the request's)."""
        if ended.outcome == "lost":
            claim = (await self._handlers.request_state(request_id)).claim
            if claim is not None and claim.claim_id == ended.claim_id:
                return 0
        drop = DropClaim(ended.claim_id, request_id, ended.outcome)
        ref = self._handlers.ref("volunteer", volunteer_id)
        outcome = await _unless_moved_on(
            self._handlers.volunteers, ref, drop, when, "reconciliation"
        )
        return len(outcome.events) if outcome else 0


async def _unless_moved_on(
    handler: CommandHandler[C, S, Any],
    ref: AggregateRef,
    command: C,
    when: CommandMeta,
    kind: str,
) -> Outcome[S] | None:
    """A timer's command, or None when it no longer applies: the aggregate moved on, or another
    timer did the same just now (its events are stored under the same ids)."""
    try:
        return await handler.handle(ref, command, when)
    except (Refused, EventConflict) as exc:
        _log.info("timer.skipped", kind=kind, reason=type(exc).__name__)
        return None


def _outcome(recorded: str | None) -> ClaimOutcome:
    """How the request ended the claim (the board records it), or ``lost``: it never took hold."""
    match recorded:
        case "released" | "expired" | "fulfilled" | "signposted" | "cancelled" | "merged":
            return recorded
    return "lost"


def _meta(command_id: str, at: datetime, correlation_id: str) -> CommandMeta:
    return CommandMeta(command_id, SYSTEM_ACTOR, at, correlation_id=correlation_id)
