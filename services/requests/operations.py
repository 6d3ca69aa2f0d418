"""Every command and query the service answers, in one table: its name (the NATS subject's last
token and the CLI's vocabulary), its input model, what runs it, and its HTTP route. NATS, HTTP and
the CLI are built from this table, so they cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from services.requests import inputs
from services.requests.handlers import Handlers
from services.requests.readside import ReadSide


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    model: type[BaseModel]
    run: Callable[[Any], Awaitable[Any]]
    path: str
    method: Literal["POST", "GET"] = "POST"
    summary: str = ""


def site_operations(h: Handlers, r: ReadSide) -> list[Operation]:
    i = inputs
    return [
        # help requests
        Operation(
            "create_request", i.CreateRequest, h.create_request, "/requests", summary="intake"
        ),
        Operation("claim_request", i.ClaimRequest, h.claim_request, "/requests/claim"),
        Operation("release_claim", i.RequestAction, h.release_claim, "/requests/release"),
        Operation("start_request", i.RequestAction, h.start_request, "/requests/start"),
        Operation("fulfil_request", i.RequestAction, h.fulfil_request, "/requests/fulfil"),
        Operation("signpost_request", i.SignpostRequest, h.signpost_request, "/requests/signpost"),
        Operation("cancel_request", i.CancelRequest, h.cancel_request, "/requests/cancel"),
        Operation("merge_requests", i.MergeRequests, h.merge_requests, "/requests/merge"),
        Operation("forget_contact", i.RequestAction, h.forget_contact, "/requests/forget"),
        Operation("read_contact", i.ReadContact, h.read_contact, "/requests/contact"),
        Operation("list_requests", i.ListRequests, r.list_requests, "/requests", "GET"),
        Operation("show_request", i.ShowRequest, r.show_request, "/requests/one", "GET"),
        Operation("open_by_area", i.Query, r.open_by_area, "/requests/open-by-area", "GET"),
        Operation("match_request", i.MatchRequest, r.match_request, "/requests/match", "GET"),
        # volunteers
        Operation("register_volunteer", i.RegisterVolunteer, h.register_volunteer, "/volunteers"),
        Operation("update_volunteer", i.UpdateVolunteer, h.update_volunteer, "/volunteers/update"),
        Operation(
            "set_availability", i.SetAvailability, h.set_availability, "/volunteers/availability"
        ),
        Operation("start_rest", i.VolunteerAction, h.start_rest, "/volunteers/rest"),
        Operation("end_rest", i.VolunteerAction, h.end_rest, "/volunteers/back"),
        Operation(
            "stand_down_volunteer",
            i.VolunteerAction,
            h.stand_down_volunteer,
            "/volunteers/stand-down",
        ),
        Operation("list_volunteers", i.ListVolunteers, r.list_volunteers, "/volunteers", "GET"),
        # kitchens
        Operation("open_kitchen", i.OpenKitchen, h.open_kitchen, "/kitchens"),
        Operation("update_kitchen", i.UpdateKitchen, h.update_kitchen, "/kitchens/update"),
        Operation("receive_stock", i.StockChange, h.receive_stock, "/kitchens/stock-in"),
        Operation("use_stock", i.StockChange, h.use_stock, "/kitchens/stock-out"),
        Operation("plan_meals", i.PlanMeals, h.plan_meals, "/kitchens/plan"),
        Operation("serve_meals", i.ServeMeals, h.serve_meals, "/kitchens/served"),
        Operation("post_need", i.PostNeed, h.post_need, "/kitchens/needs"),
        Operation("meet_need", i.MeetNeed, h.meet_need, "/kitchens/needs/met"),
        Operation("kitchen_dashboard", i.KitchenDashboard, r.kitchen_dashboard, "/kitchens", "GET"),
        # the site
        Operation(
            "appoint_coordinator", i.AppointCoordinator, h.appoint_coordinator, "/site/coordinators"
        ),
        Operation(
            "stand_down_coordinator",
            i.AppointCoordinator,
            h.stand_down_coordinator,
            "/site/coordinators/stand-down",
        ),
        Operation("define_area", i.DefineArea, h.define_area, "/site/areas"),
        Operation("retire_area", i.RetireArea, h.retire_area, "/site/areas/retire"),
        Operation("list_areas", i.Query, r.list_areas, "/site/areas", "GET"),
        Operation(
            "list_directory_entry", i.ListDirectoryEntry, h.list_directory_entry, "/site/directory"
        ),
        Operation(
            "withdraw_directory_entry",
            i.WithdrawDirectoryEntry,
            h.withdraw_directory_entry,
            "/site/directory/withdraw",
        ),
        Operation("list_directory", i.Query, r.list_directory, "/site/directory", "GET"),
        Operation("change_settings", i.ChangeSettings, h.change_settings, "/site/settings"),
        Operation("show_settings", i.Query, r.show_settings, "/site/settings", "GET"),
        *hub_operations(r),
    ]


def hub_operations(r: ReadSide) -> list[Operation]:
    """At the hub: the overview only, counts by site and ward."""
    return [Operation("site_summary", inputs.SiteSummary, r.site_summary, "/summary", "GET")]
