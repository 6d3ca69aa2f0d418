"""The query side of a running service: a fresh read-only connection to the read models per
question (cheap with SQLite, and never a stale snapshot), and the clock for "today" (each site's
date at that moment, in its own time zone, which the read models keep)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.requests import inputs, queries
from services.requests.handlers import Handlers
from services.requests.matching import Need
from services.requests.zones import zone_named
from shared.decider import Refused
from shared.endpoints import NotFound
from shared.projection import open_db


class ReadSide:
    def __init__(
        self,
        db_path: Path,
        handlers: Handlers | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db_path = db_path
        self._handlers = handlers
        self._clock = clock

    def connect(self) -> sqlite3.Connection:
        if not self.db_path.exists():
            raise Refused("the read models are still being built; try again", code="starting")
        return open_db(str(self.db_path), readonly=True)

    def kitchen_with_need(self, need_id: str, other_than: str) -> str | None:
        """Another kitchen here that uses ``need_id``; None also while the read model is built
        (the check is a courtesy to donors, never a reason to stop a kitchen posting)."""
        if not self.db_path.exists():
            return None
        found: str | None = self._ask(lambda db: queries.kitchen_with_need(db, need_id, other_than))
        return found

    def _ask(self, question: Callable[[sqlite3.Connection], Any]) -> Any:
        db = self.connect()
        try:
            return question(db)
        finally:
            db.close()

    async def list_requests(self, query: inputs.ListRequests) -> dict[str, Any]:
        found: dict[str, Any] = self._ask(lambda db: queries.list_requests(db, query))
        return found

    async def show_request(self, query: inputs.ShowRequest) -> dict[str, Any]:
        row: dict[str, Any] | None = self._ask(
            lambda db: queries.show_request(db, query.request_id)
        )
        if row is None:
            raise NotFound("no such request at this site")
        return row

    async def open_by_area(self, query: inputs.Query) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._ask(queries.open_by_area)
        return rows

    async def match_request(self, query: inputs.MatchRequest) -> dict[str, Any]:
        """Suggestions from the volunteer read model for the request as the aggregate has it."""
        if self._handlers is None:
            raise Refused("matching happens at field sites", code="not_here")
        state = await self._handlers.request_state(query.request_id)
        if state.status == "new":
            raise NotFound("no such request at this site")
        need = Need(state.category, state.ward, state.area_id)
        found = self._ask(lambda db: queries.match(db, need, query.limit))
        return {
            "request_id": query.request_id,
            "status": state.status,
            "suggestions": [
                {
                    "volunteer_id": s.volunteer_id,
                    "proximity": s.proximity,
                    "active_claims": s.active,
                    "limit": s.limit,
                }
                for s in found
            ],
        }

    async def list_volunteers(self, query: inputs.ListVolunteers) -> dict[str, Any]:
        found: dict[str, Any] = self._ask(lambda db: queries.volunteer_load(db, query))
        return found

    async def kitchen_dashboard(self, query: inputs.KitchenDashboard) -> list[dict[str, Any]]:
        now = self._clock()
        rows: list[dict[str, Any]] = self._ask(
            lambda db: queries.kitchen_dashboard(db, query, queries.site_today(db, now))
        )
        return rows

    async def list_areas(self, query: inputs.Query) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._ask(queries.areas)
        return rows

    async def list_directory(self, query: inputs.Query) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._ask(queries.directory)
        return rows

    async def show_settings(self, query: inputs.Query) -> dict[str, Any]:
        if self._handlers is None:
            raise Refused("settings belong to field sites", code="not_here")
        state = await self._handlers.site_state()
        zone = zone_named(state.settings.timezone) or UTC
        return {
            "default_max_claims": state.settings.default_max_claims,
            "claim_expiry_minutes": state.settings.claim_expiry_minutes,
            "urgent_alert_minutes": state.settings.urgent_alert_minutes,
            "timezone": state.settings.timezone,
            # the clock at the site as the service reads it: a wrong zone shows at a glance
            "time_at_site": self._clock().astimezone(zone).isoformat(timespec="minutes"),
            "coordinators": sorted(state.coordinators),
        }

    async def site_summary(self, query: inputs.SiteSummary) -> list[dict[str, Any]]:
        now = self._clock()
        rows: list[dict[str, Any]] = self._ask(lambda db: queries.site_summary(db, query.site, now))
        return rows
