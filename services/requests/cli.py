"""``aidmesh requests ...``, ``aidmesh volunteers ...``, ``aidmesh kitchens ...``: a coordinator's
commands over NATS request-reply to the site's service.

Every subcommand takes ``--site`` (default: the running deployment's first field site) and
``--json``; commands and contact reads also ``--as`` (the acting person's pseudonymous id; default
``$AIDMESH_ACTOR`` or ``coordinator``) and ``--role`` (lists and summaries take no actor). A command
makes its id here, before sending: retried by hand with ``--command-id`` it changes nothing the
second time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from services.requests.events import CATEGORIES, URGENCIES
from services.requests.subscribers import subject
from shared import cliclient
from shared.currencies import to_minor
from shared.decider import Refused
from shared.deployment import Deployment
from shared.ids import uuid7

Payload = Callable[[argparse.Namespace], dict[str, Any]]
if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]
STATUSES = ("open", "claimed", "in_progress", "fulfilled", "signposted", "cancelled", "merged")
UNITS = ("kg", "litres", "units")


def register(subparsers: Sub) -> None:
    _requests(subparsers.add_parser("requests", help="help requests, areas, directory, settings"))
    _volunteers(subparsers.add_parser("volunteers", help="volunteers and the load they carry"))
    _kitchens(subparsers.add_parser("kitchens", help="solidarity kitchens: stock, meals, needs"))


def _sub(parser: argparse.ArgumentParser, dest: str) -> Sub:
    return parser.add_subparsers(dest=dest, required=True, metavar="ACTION")


def _action(
    sub: Sub,
    name: str,
    operation: str,
    payload: Payload,
    help_text: str,
    *,
    command: bool = True,
    actor: bool = True,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--site", help="field site (default: the deployment's first)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    if actor:
        parser.add_argument(
            "--as",
            dest="actor",
            default=os.environ.get("AIDMESH_ACTOR", "coordinator"),
            help="your pseudonymous id (default $AIDMESH_ACTOR or 'coordinator')",
        )
        parser.add_argument("--role", choices=("coordinator", "volunteer"), default="coordinator")
    if command:
        parser.add_argument("--command-id", help="resend an earlier command (default: a new id)")
    parser.set_defaults(
        handler=lambda args: _send(args, operation, payload, command=command, actor=actor)
    )
    return parser


def _send(
    args: argparse.Namespace, operation: str, payload: Payload, *, command: bool, actor: bool
) -> int:
    try:
        site = args.site or default_site()
    except (FileNotFoundError, LookupError) as exc:
        print(
            f"no running deployment to send to ({exc}); start one with `aidmesh up`",
            file=sys.stderr,
        )
        return 2
    body = {k: v for k, v in payload(args).items() if v is not None}
    if actor:
        body |= {"actor": args.actor, "role": args.role}
    if command:
        body["command_id"] = args.command_id or uuid7()
    return cliclient.run(site, subject(site, operation), body, as_json=args.json)


def default_site() -> str:
    sites = Deployment.load().sites
    if not sites:
        raise LookupError("the deployment has no field site")
    return sites[0].site


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None


def _id(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id}


def _with_id(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("request_id", help="the request's id")
    return parser


# --- requests ---------------------------------------------------------------------------------


def _requests(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "requests_command")
    create = _action(sub, "create", "create_request", _create, "record a help request (intake)")
    create.add_argument("--category", required=True, choices=CATEGORIES)
    create.add_argument("--urgency", default="normal", choices=URGENCIES)
    create.add_argument("--area", required=True, help="a ward, street or pod id of the site")
    create.add_argument("--household", type=int, default=1, help="people in the household")
    create.add_argument("--name", help="requester's name (kept only in the site's vault)")
    create.add_argument("--phone", help="requester's phone (vault only)")
    create.add_argument("--address", help="requester's address (vault only)")
    create.add_argument("--need", help="the need in their words (vault only)")

    listing = _action(
        sub,
        "list",
        "list_requests",
        _list,
        "requests by area, category, urgency, state",
        command=False,
        actor=False,
    )
    listing.add_argument("--area")
    listing.add_argument("--category", choices=CATEGORIES)
    listing.add_argument("--urgency", choices=URGENCIES)
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0, help="skip this many (the next page)")
    _with_id(_action(sub, "show", "show_request", _id, "one request", command=False, actor=False))
    _action(
        sub,
        "open",
        "open_by_area",
        lambda a: {},
        "open requests by area and urgency",
        command=False,
        actor=False,
    )

    claim = _with_id(_action(sub, "claim", "claim_request", _claim, "claim a request"))
    claim.add_argument("--volunteer", help="assign to this volunteer (coordinators)")
    for name, operation, what in (
        ("release", "release_claim", "give a claimed request back"),
        ("start", "start_request", "mark the work on a request started"),
        ("fulfil", "fulfil_request", "mark a request fulfilled"),
        ("forget", "forget_contact", "forget the requester: shred their contact"),
    ):
        _with_id(_action(sub, name, operation, _id, what))
    signpost = _with_id(
        _action(sub, "signpost", "signpost_request", _signpost, "refer to a specialist service")
    )
    signpost.add_argument("--to", required=True, dest="entry_id", help="directory entry id")
    cancel = _with_id(_action(sub, "cancel", "cancel_request", _cancel, "cancel a request"))
    cancel.add_argument(
        "--reason",
        required=True,
        choices=("withdrawn", "no_longer_needed", "unreachable", "entered_in_error"),
    )
    merge = _action(sub, "merge", "merge_requests", _merge, "merge a duplicate intake")
    merge.add_argument("duplicate_id")
    merge.add_argument("--into", required=True, dest="survivor_id")
    _with_id(
        _action(sub, "contact", "read_contact", _id, "read the requester's contact", command=False)
    )
    match = _with_id(
        _action(
            sub, "match", "match_request", _match, "suggest volunteers", command=False, actor=False
        )
    )
    match.add_argument("--limit", type=int, default=5)

    _areas(sub.add_parser("area", help="the site's area tree"))
    _directory(sub.add_parser("directory", help="the signposting directory"))
    _settings(
        sub.add_parser("settings", help="claim limits, expiry, alert delay and the time zone")
    )
    _coordinators(sub.add_parser("coordinator", help="the site's coordinators"))
    summary = _action(
        sub,
        "summary",
        "site_summary",
        _summary,
        "counts by site and ward (try --site hub)",
        command=False,
        actor=False,
    )
    summary.add_argument("--only", dest="only_site", help="one site's summary")


def _create(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "category": args.category,
        "urgency": args.urgency,
        "area_id": args.area,
        "household_size": args.household,
        "name": args.name,
        "phone": args.phone,
        "address": args.address,
        "need": args.need,
    }


def _list(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "area_id": args.area,
        "category": args.category,
        "urgency": args.urgency,
        "status": args.status,
        "limit": args.limit,
        "offset": args.offset,
    }


def _claim(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id, "volunteer_id": args.volunteer}


def _signpost(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id, "entry_id": args.entry_id}


def _cancel(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id, "reason": args.reason}


def _merge(args: argparse.Namespace) -> dict[str, Any]:
    return {"duplicate_id": args.duplicate_id, "survivor_id": args.survivor_id}


def _match(args: argparse.Namespace) -> dict[str, Any]:
    return {"request_id": args.request_id, "limit": args.limit}


def _summary(args: argparse.Namespace) -> dict[str, Any]:
    return {"site": args.only_site}


def _areas(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "area_command")
    define = _action(sub, "define", "define_area", _define_area, "define a ward, street or pod")
    define.add_argument("area_id")
    define.add_argument("--name", required=True)
    define.add_argument("--level", required=True, choices=("ward", "street", "pod"))
    define.add_argument("--parent", help="the ward a street or pod sits in")
    retire = _action(
        sub, "retire", "retire_area", lambda a: {"area_id": a.area_id}, "retire an area"
    )
    retire.add_argument("area_id")
    _action(sub, "list", "list_areas", lambda a: {}, "the area tree", command=False, actor=False)


def _define_area(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "area_id": args.area_id,
        "name": args.name,
        "level": args.level,
        "parent_id": args.parent,
    }


def _directory(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "directory_command")
    add = _action(sub, "add", "list_directory_entry", _entry, "list or update a specialist service")
    add.add_argument("entry_id")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--kind",
        required=True,
        choices=(
            "clinic",
            "legal_aid",
            "dv_support",
            "shelter",
            "mental_health",
            "food_bank",
            "other",
        ),
    )
    add.add_argument("--reach", required=True, help="how to reach the service")
    withdraw = _action(
        sub,
        "withdraw",
        "withdraw_directory_entry",
        lambda a: {"entry_id": a.entry_id},
        "withdraw a service",
    )
    withdraw.add_argument("entry_id")
    _action(
        sub, "list", "list_directory", lambda a: {}, "the directory", command=False, actor=False
    )


def _entry(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "entry_id": args.entry_id,
        "name": args.name,
        "kind": args.kind,
        "how_to_reach": args.reach,
    }


def _settings(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "settings_command")
    _action(
        sub,
        "show",
        "show_settings",
        lambda a: {},
        "the site's settings",
        command=False,
        actor=False,
    )
    change = _action(sub, "set", "change_settings", _change_settings, "change the site's settings")
    # each optional: what is left out stays as it is
    change.add_argument("--max-claims", type=int, help="default active claims per volunteer")
    change.add_argument(
        "--claim-expiry", type=int, help="minutes before an unstarted claim expires"
    )
    change.add_argument(
        "--alert-after", type=int, help="minutes before an unclaimed urgent request alerts"
    )
    change.add_argument(
        "--timezone",
        help="the site's IANA time zone, e.g. Asia/Dili: its 'today' (default UTC)",
    )


def _change_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "default_max_claims": args.max_claims,
        "claim_expiry_minutes": args.claim_expiry,
        "urgent_alert_minutes": args.alert_after,
        "timezone": args.timezone,
    }


def _coordinators(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "coordinator_command")
    appoint = _action(
        sub,
        "appoint",
        "appoint_coordinator",
        _coordinator,
        "appoint a coordinator (the first appoints themself)",
    )
    appoint.add_argument("coordinator_id", nargs="?", help="default: yourself")
    down = _action(
        sub, "stand-down", "stand_down_coordinator", _coordinator, "a coordinator stands down"
    )
    down.add_argument("coordinator_id")


def _coordinator(args: argparse.Namespace) -> dict[str, Any]:
    return {"coordinator_id": args.coordinator_id or args.actor}


# --- volunteers -------------------------------------------------------------------------------


def _volunteers(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "volunteers_command")
    skills = f"comma separated: {','.join(CATEGORIES)}"
    placed = _action(sub, "register", "register_volunteer", _placed, "register a volunteer")
    placed.add_argument("volunteer_id")
    placed.add_argument("--area", required=True)
    placed.add_argument("--skills", required=True, help=skills)
    placed.add_argument("--max-claims", type=int, help="their own limit (default: the site's)")
    # each optional: what is left out stays as it is
    update = _action(
        sub,
        "update",
        "update_volunteer",
        _volunteer_update,
        "change a volunteer's area, skills or limit (what is left out stays)",
    )
    update.add_argument("volunteer_id")
    update.add_argument("--area")
    update.add_argument("--skills", help=skills)
    update.add_argument(
        "--max-claims",
        type=_own_limit,
        metavar="N|site",
        help="their own limit, or 'site' to put them back on the site's default",
    )
    listing = _action(
        sub,
        "list",
        "list_volunteers",
        _load,
        "who carries the most load",
        command=False,
        actor=False,
    )
    listing.add_argument("--area")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--offset", type=int, default=0, help="skip this many (the next page)")
    for name, operation, what in (
        ("rest", "start_rest", "a volunteer rests: no new work"),
        ("back", "end_rest", "a volunteer is back from rest"),
        ("stand-down", "stand_down_volunteer", "a volunteer stands down"),
    ):
        _action(sub, name, operation, _volunteer_id, what).add_argument("volunteer_id")
    for name, available in (("available", True), ("unavailable", False)):
        marked = _action(
            sub, name, "set_availability", _availability(available), f"mark a volunteer {name}"
        )
        marked.add_argument("volunteer_id")


def _availability(available: bool) -> Payload:
    def payload(args: argparse.Namespace) -> dict[str, Any]:
        return {"volunteer_id": args.volunteer_id, "available": available}

    return payload


def _placed(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "volunteer_id": args.volunteer_id,
        "area_id": args.area,
        "skills": _csv(args.skills),
        "max_claims": args.max_claims,
    }


def _own_limit(value: str) -> int | str:
    """A number, or ``site``: leaving ``--max-claims`` out of an update keeps their own limit, so
    going back to the site's default has to be said."""
    if value == "site":
        return "site_default"
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of claims, or 'site'") from None


def _volunteer_update(args: argparse.Namespace) -> dict[str, Any]:
    """Only what was given: an update without ``--max-claims`` put the volunteer back on the
    site's default limit, and area and skills had to be restated to change either."""
    if args.area is None and args.skills is None and args.max_claims is None:
        raise SystemExit(
            "aidmesh: volunteers update: give --area, --skills or --max-claims (one or more)"
        )
    return _placed(args)


def _load(args: argparse.Namespace) -> dict[str, Any]:
    return {"area_id": args.area, "limit": args.limit, "offset": args.offset}


def _volunteer_id(args: argparse.Namespace) -> dict[str, Any]:
    return {"volunteer_id": args.volunteer_id}


# --- kitchens ---------------------------------------------------------------------------------


def _kitchens(parser: argparse.ArgumentParser) -> None:
    sub = _sub(parser, "kitchens_command")
    opened = _action(sub, "open", "open_kitchen", _kitchen, "open a kitchen")
    opened.add_argument("kitchen_id")
    opened.add_argument("--name", required=True)
    opened.add_argument("--area", required=True)
    opened.add_argument("--capacity", type=int, required=True, help="meals a day")
    opened.add_argument("--leads", help="volunteer ids who may record stock, meals and needs")
    update = _action(
        sub,
        "update",
        "update_kitchen",
        _kitchen_update,
        "change capacity or leads (what is left out stays)",
    )
    update.add_argument("kitchen_id")
    update.add_argument("--capacity", type=int, help="meals a day")
    update.add_argument("--leads", help="the kitchen's leads from now on ('' for none)")
    board = _action(
        sub,
        "list",
        "kitchen_dashboard",
        _dashboard,
        "stock, meals per day, open needs",
        command=False,
        actor=False,
    )
    board.add_argument("kitchen_id", nargs="?")
    board.add_argument("--days", type=int, default=7)
    for name, operation in (("stock-in", "receive_stock"), ("stock-out", "use_stock")):
        stock = _action(sub, name, operation, _stock, f"record {name}")
        stock.add_argument("kitchen_id")
        stock.add_argument("--item", required=True)
        stock.add_argument("--quantity", required=True)
        stock.add_argument("--unit", required=True, choices=UNITS)
    for name, operation in (("plan", "plan_meals"), ("serve", "serve_meals")):
        meals = _action(
            sub,
            name,
            operation,
            _meals,
            f"record meals {name}ned" if name == "plan" else "record meals served",
        )
        meals.add_argument("kitchen_id")
        meals.add_argument("--meals", type=int, required=True)
        meals.add_argument(
            "--day", help="YYYY-MM-DD (default: today at the site, in the site's time zone)"
        )
    need = _action(sub, "need", "post_need", _need, "post a need donors can fund")
    need.add_argument("kitchen_id")
    need.add_argument("--need-id")
    need.add_argument("--item", required=True)
    need.add_argument("--quantity", type=int, required=True)
    need.add_argument("--unit", required=True, choices=UNITS)
    need.add_argument(
        "--cost",
        required=True,
        help="estimated cost in the currency's own units, as on a price list: 300000 or "
        "300000.00 for 300,000 MMK (the same as every `aidmesh remit` amount)",
    )
    need.add_argument("--currency", required=True, help="an ISO 4217 code, e.g. MMK, SDG, USD")
    met = _action(sub, "need-met", "meet_need", _met, "a need was met")
    met.add_argument("kitchen_id")
    met.add_argument("need_id")
    met.add_argument("--how", required=True, choices=("funded", "donated_in_kind", "withdrawn"))


def _kitchen(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "kitchen_id": args.kitchen_id,
        "name": args.name,
        "area_id": args.area,
        "capacity": args.capacity,
        "leads": _csv(args.leads),
    }


def _kitchen_update(args: argparse.Namespace) -> dict[str, Any]:
    """Only what was given: a capacity sent alone keeps the leads (an empty list removed them)."""
    if args.capacity is None and args.leads is None:
        raise SystemExit("aidmesh: kitchens update: give --capacity or --leads (or both)")
    return {"kitchen_id": args.kitchen_id, "capacity": args.capacity, "leads": _csv(args.leads)}


def _dashboard(args: argparse.Namespace) -> dict[str, Any]:
    return {"kitchen_id": args.kitchen_id, "days": args.days}


def _stock(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "kitchen_id": args.kitchen_id,
        "item": args.item,
        "quantity": args.quantity,
        "unit": args.unit,
    }


def _meals(args: argparse.Namespace) -> dict[str, Any]:
    """Without ``--day`` no day is sent and the service dates the meals with the site's today, in
    the site's time zone: the laptop's own date was sent, and laptops in the field are often set
    to the wrong zone."""
    return {"kitchen_id": args.kitchen_id, "meals": args.meals, "day": args.day}


def _need(args: argparse.Namespace) -> dict[str, Any]:
    """The cost is typed in major units, as a price and every `remit` amount is, and sent in the
    minor units events carry: taking minor units here let 300000 MMK go out as 3,000.00 MMK, a
    need a hundred times too small on every donor's page."""
    try:
        cost = to_minor(args.cost, args.currency)
    except Refused as refusal:
        # The option at fault: an unknown currency was blamed on --cost, and a lead looked for
        # what was wrong with the amount.
        option, value = "--cost", args.cost
        if refusal.code == "unknown_currency":
            option, value = "--currency", args.currency
        raise SystemExit(f"aidmesh: {option} {value!r}: {refusal}") from None
    return {
        "kitchen_id": args.kitchen_id,
        "need_id": args.need_id,
        "item": args.item,
        "quantity": args.quantity,
        "unit": args.unit,
        "estimated_cost_minor": cost,
        "currency": args.currency,
    }


def _met(args: argparse.Namespace) -> dict[str, Any]:
    return {"kitchen_id": args.kitchen_id, "need_id": args.need_id, "how": args.how}


def main(argv: list[str] | None = None) -> int:
    """This service's subcommands alone, parsed exactly as ``aidmesh`` parses them (``python -m
    services.requests.cli requests list``): usable while another service's plugin is broken."""
    parser = cliclient.ExactParser(prog="aidmesh")
    register(parser.commands(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
