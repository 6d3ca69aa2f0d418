"""A scripted day at a field site (``make demo`` / ``aidmesh demo requests``), against the running
``make up`` deployment, through the service's NATS commands like any client.

The coordinators set up the site (wards and streets, the signposting directory, claim settings),
register 30 volunteers and open 2 kitchens; then over ten hours 200 help requests come in across the
wards, volunteers suggested by the matcher claim them, start and fulfil them, some are signposted to
a clinic, legal aid or a shelter, a few are cancelled or merged as duplicate intakes; the kitchens
record stock, plan and serve meals and post needs for donors. Then the read models are printed.
Each demo site is in its own time zone (Dili UTC+9, Yangon UTC+6:30): the kitchens send no day, so
the service dates their meals with the site's today, and the dashboard and the summaries count
the site's day, at the hub too.

Every command id is made from the day and the step (a UUIDv7 with the step's time), so running the
demo twice in the same hour changes nothing the second time; an hour later it adds another day.
The requesters are obviously fictional.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client as NATS

from services.requests.events import CATEGORIES, URGENCIES
from services.requests.subscribers import subject
from shared.currencies import format_minor
from shared.deployment import Deployment
from shared.subjects import HUB

COORDINATOR = "coordinator"
"""The CLI's default actor, so ``aidmesh requests ...`` works right after the demo."""
REQUESTS = 200
VOLUNTEERS = 30
HOURS = 10

WARDS: dict[str, dict[str, list[str]]] = {
    "dili": {
        "Comoro": ["Rua de Comoro", "Bairro dos Grilos", "Aimutin pod"],
        "Bairro Pite": ["Rua Pite", "Fatuhada pod"],
        "Becora": ["Rua Becora", "Mercado pod", "Culau"],
        "Kampung Alor": ["Rua Alor", "Lahane pod"],
    },
    "yangon-north": {
        "Hlaing Tharyar 3": ["Thit Sar Rd", "Pod 3A", "Pod 3B"],
        "Hlaing Tharyar 7": ["Yadanar St", "Pod 7A"],
        "Insein 12": ["Baho Rd", "Pod 12A", "Kyaik Ka San Rd"],
        "Shwepyithar 5": ["Pod 5A", "Bayint Naung St"],
    },
}
DIRECTORY = [
    ("clinic-1", "Community health post", "clinic", "Mon-Sat 8:00-16:00 at the ward office"),
    ("legal-1", "Legal aid desk", "legal_aid", "Tue and Thu 9:00-12:00, parish hall"),
    ("dv-1", "Women's safe space", "dv_support", "24h hotline of the women's network"),
    ("shelter-1", "Emergency shelter", "shelter", "School hall, ask the ward focal point"),
]
CATEGORY_WEIGHTS = (45, 15, 8, 7, 3, 10, 8, 4)
URGENCY_WEIGHTS = (15, 55, 22, 8)
SIGNPOST = {"medicine": "clinic-1", "shelter": "shelter-1", "care": "dv-1", "cash": "legal-1"}
ZONES = {"dili": "Asia/Dili", "yangon-north": "Asia/Yangon"}
"""Each demo site's time zone; any other site stays on UTC."""


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]


def day_id(at: datetime, label: str) -> str:
    """A UUIDv7 with ``at`` as its time and bits fixed by ``label``: the same step, the same id."""
    ms = int(at.timestamp() * 1000)
    digest = hashlib.sha256(label.encode()).digest()
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76
    value |= (int.from_bytes(digest[:2], "big") & 0xFFF) << 64 | 0b10 << 62
    value |= int.from_bytes(digest[2:10], "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


@dataclass
class Day:
    nc: NATS
    site: str
    start: datetime
    rnd: random.Random
    counts: dict[str, int] = field(default_factory=dict)

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    async def ask(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        msg = await self.nc.request(subject(self.site, operation), json.dumps(body).encode(), 30)
        reply: dict[str, Any] = json.loads(msg.data)
        key = operation if reply["ok"] else f"{operation} refused ({reply['error']['code']})"
        self.counts[key] = self.counts.get(key, 0) + 1
        return reply

    async def command(
        self, operation: str, minutes: float, step: str, *, actor: str = COORDINATOR, **fields: Any
    ) -> dict[str, Any]:
        role = "coordinator" if actor.startswith("coord") else "volunteer"
        label = f"{self.site}/{self.start.isoformat()}/{step}"
        body = {"command_id": day_id(self.at(minutes), label), "actor": actor, "role": role}
        return await self.ask(operation, body | fields)


async def set_up(day: Day) -> list[tuple[str, str]]:
    """Coordinators, areas, directory, settings; returns the (ward, street) pairs."""
    await day.command("appoint_coordinator", 0, "coord", coordinator_id=COORDINATOR)
    for other in ("coord-ana", "coord-min"):
        await day.command("appoint_coordinator", 0, f"coord-{other}", coordinator_id=other)
    wards = WARDS.get(day.site) or {f"Ward {n}": [f"Street {n}A", f"Pod {n}B"] for n in range(1, 5)}
    places = []
    for ward, streets in wards.items():
        ward_id = slug(ward)
        await day.command(
            "define_area", 0, f"area-{ward_id}", area_id=ward_id, name=ward, level="ward"
        )
        for street in streets:
            street_id = f"{ward_id}-{slug(street)}"[:64]
            level = "pod" if "pod" in street.lower() else "street"
            await day.command(
                "define_area",
                0,
                f"area-{street_id}",
                area_id=street_id,
                name=street,
                level=level,
                parent_id=ward_id,
            )
            places.append((ward_id, street_id))
    for entry_id, name, kind, reach in DIRECTORY:
        await day.command(
            "list_directory_entry",
            0,
            f"dir-{entry_id}",
            entry_id=entry_id,
            name=name,
            kind=kind,
            how_to_reach=reach,
        )
    await day.command(
        "change_settings",
        0,
        "settings",
        default_max_claims=3,
        claim_expiry_minutes=120,
        urgent_alert_minutes=30,
        timezone=ZONES.get(day.site, "UTC"),
    )
    return places


async def volunteers(day: Day, places: list[tuple[str, str]]) -> list[str]:
    ids = []
    for n in range(VOLUNTEERS):
        _, street = places[n % len(places)]
        skills = day.rnd.sample(CATEGORIES, k=day.rnd.randint(2, 5))
        if "food" not in skills and n % 2 == 0:
            skills.append("food")
        volunteer = f"vol-{n + 1:02d}"
        max_claims = 5 if n % 10 == 0 else None
        await day.command(
            "register_volunteer",
            1,
            f"vol-{n}",
            volunteer_id=volunteer,
            area_id=street,
            skills=skills,
            max_claims=max_claims,
        )
        ids.append(volunteer)
    await day.command("start_rest", 2, "rest-vol-07", volunteer_id="vol-07")
    return ids


async def kitchens(day: Day, places: list[tuple[str, str]]) -> None:
    """Meals are planned and served without a day, as ``kitchens plan|serve`` sends them: the
    service dates each with the site's date when it was recorded (a dinner after midnight there
    is the next day's)."""
    for n, (kitchen, capacity, lead) in enumerate(
        (("k-north", 400, "vol-03"), ("k-market", 250, "vol-12"))
    ):
        _, street = places[(n * 4) % len(places)]
        name = "Solidarity kitchen " + ("north" if n == 0 else "market")
        await day.command(
            "open_kitchen",
            2,
            f"kitchen-{kitchen}",
            kitchen_id=kitchen,
            name=name,
            area_id=street,
            capacity=capacity,
            leads=[lead],
        )
        k = {"kitchen_id": kitchen}
        for i, (item, qty, unit) in enumerate(
            (("rice", "250", "kg"), ("cooking oil", "40", "litres"), ("lentils", "60", "kg"))
        ):
            await day.command(
                "receive_stock",
                30 + i,
                f"{kitchen}-in-{item}",
                actor=lead,
                **k,
                item=item,
                quantity=qty,
                unit=unit,
            )
        await day.command("plan_meals", 45, f"{kitchen}-plan", actor=lead, **k, meals=capacity - 30)
        for meal, minutes, share in (("lunch", 330, 0.5), ("dinner", 560, 0.4)):
            await day.command(
                "serve_meals",
                minutes,
                f"{kitchen}-{meal}",
                actor=lead,
                **k,
                meals=int(capacity * share),
            )
            await day.command(
                "use_stock",
                minutes + 1,
                f"{kitchen}-use-{meal}",
                actor=lead,
                **k,
                item="rice",
                quantity=str(int(capacity * share * 0.15)),
                unit="kg",
            )
        await day.command(
            "post_need",
            400,
            f"{kitchen}-need-rice",
            actor=lead,
            **k,
            need_id=f"{kitchen}-rice",
            item="rice",
            quantity=200,
            unit="kg",
            # ISO 4217 minor units: 300,000.00 kyat, or 180.00 dollars.
            estimated_cost_minor=30_000_000 if "yangon" in day.site else 18_000,
            currency="MMK" if "yangon" in day.site else "USD",
        )
        await day.command(
            "post_need",
            410,
            f"{kitchen}-need-oil",
            actor=lead,
            **k,
            need_id=f"{kitchen}-oil",
            item="cooking oil",
            quantity=50,
            unit="litres",
            estimated_cost_minor=9_500_000 if "yangon" in day.site else 9_500,
            currency="MMK" if "yangon" in day.site else "USD",
        )
    await day.command(
        "meet_need",
        500,
        "k-north-oil-met",
        **{"kitchen_id": "k-north"},
        need_id="k-north-oil",
        how="donated_in_kind",
    )


Step = tuple[float, int, str, dict[str, Any]]


async def requests(day: Day, places: list[tuple[str, str]]) -> None:
    """200 requests in time order, each followed (maybe) by its claim, start and outcome."""
    await play(day, plan(day, places))


def plan(day: Day, places: list[tuple[str, str]]) -> list[Step]:
    steps: list[Step] = []
    for n in range(REQUESTS):
        opened = 20 + n * (HOURS * 60 - 60) / REQUESTS
        ward, street = places[day.rnd.randrange(len(places))]
        category = day.rnd.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        urgency = day.rnd.choices(URGENCIES, URGENCY_WEIGHTS)[0]
        area = street if day.rnd.random() < 0.8 else ward
        steps.append(
            (
                opened,
                n,
                "create",
                {
                    "category": category,
                    "urgency": urgency,
                    "area_id": area,
                    "household_size": day.rnd.randint(1, 8),
                    "name": f"Demo requester {n + 1:03d}",
                    "phone": f"+670 7700 {n + 1:04d}",
                    "need": f"{category} for the household (demo)",
                },
            )
        )
        fate = day.rnd.random()
        claimed = opened + day.rnd.uniform(3, 50)
        if fate < 0.72:
            steps.append((claimed, n, "claim", {}))
            if fate < 0.55:
                steps.append((claimed + day.rnd.uniform(10, 40), n, "start", {}))
                steps.append((claimed + day.rnd.uniform(45, 150), n, "fulfil", {}))
            elif fate < 0.62 and category in SIGNPOST:
                steps.append(
                    (
                        claimed + day.rnd.uniform(10, 60),
                        n,
                        "signpost",
                        {"entry_id": SIGNPOST[category]},
                    )
                )
            elif fate < 0.66:
                steps.append((claimed + day.rnd.uniform(20, 90), n, "release", {}))
        elif fate < 0.77:
            steps.append((claimed, n, "cancel", {"reason": "no_longer_needed"}))
        elif fate < 0.80 and n > 0:
            steps.append((opened + 2, n, "merge", {"into": n - 1}))
    return steps


async def play(day: Day, steps: list[Step]) -> None:
    latest = (HOURS * 60) - 5
    ids: dict[int, str] = {}
    holder: dict[int, str] = {}
    for minutes, n, action, extra in sorted(steps, key=lambda s: (s[0], s[1])):
        if minutes > latest:
            continue  # still to happen: the request stays claimed or in progress
        key = f"req-{n}-{action}"
        if action == "create":
            reply = await day.command("create_request", minutes, key, **extra)
            if reply["ok"]:
                ids[n] = reply["result"]["request_id"]
            continue
        rid = ids.get(n)
        if rid is None:
            continue
        if action == "claim":
            volunteer = await suggested(day, rid)
            if volunteer is None:
                continue
            reply = await day.command(
                "claim_request", minutes, key, actor=volunteer, request_id=rid
            )
            if reply["ok"]:
                holder[n] = volunteer
        elif action in ("start", "fulfil", "release", "signpost") and n in holder:
            operation = {
                "start": "start_request",
                "fulfil": "fulfil_request",
                "release": "release_claim",
                "signpost": "signpost_request",
            }[action]
            await day.command(operation, minutes, key, actor=holder[n], request_id=rid, **extra)
            if action != "start":
                del holder[n]
        elif action == "cancel":
            await day.command("cancel_request", minutes, key, request_id=rid, **extra)
        elif action == "merge" and extra["into"] in ids:
            await day.command(
                "merge_requests", minutes, key, duplicate_id=rid, survivor_id=ids[extra["into"]]
            )


async def suggested(day: Day, request_id: str) -> str | None:
    reply = await day.ask("match_request", {"request_id": request_id, "limit": 3})
    if not reply["ok"] or not reply["result"]["suggestions"]:
        return None
    choices = reply["result"]["suggestions"]
    return str(day.rnd.choice(choices[:2])["volunteer_id"])


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = (
        {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
        if rows
        else {c: len(c) for c in columns}
    )
    lines = ["  " + "  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


async def show(day: Day, hub: NATS | None) -> None:
    await asyncio.sleep(1.0)  # the read models follow the stream
    print(f"\ncommands sent at {day.site} (refusals are the rules at work: the day is replayed in")
    print("seconds, so the site's timer expires some claims before their volunteer starts):")
    for name, count in sorted(day.counts.items()):
        print(f"  {name:<45} {count}")
    board = (await day.ask("open_by_area", {}))["result"]
    print("\nopen requests by area and urgency (most urgent first):")
    print(table(board[:15], ["ward", "area_id", "urgency", "open"]))
    load = (await day.ask("list_volunteers", {"limit": 10}))["result"]["items"]
    print("\nvolunteer load (who carries the most):")
    print(table(load, ["volunteer_id", "ward", "active", "max_claims", "fulfilled", "resting"]))
    settings = (await day.ask("show_settings", {}))["result"]
    print(
        f"\nthe site's time zone: {settings['timezone']} (at the site now: {settings['time_at_site']})"
    )
    print("\nkitchen dashboard (days are the site's):")
    for kitchen in (await day.ask("kitchen_dashboard", {"days": 2}))["result"]:
        print(
            f"  {kitchen['name']} ({kitchen['ward']}, {kitchen['capacity_meals_per_day']} meals/day)"
        )
        print(f"    stock: {kitchen['stock']}")
        for meals in kitchen["meals"]:
            print(f"    {meals['day']}: planned {meals['planned']}, served {meals['served']}")
        for need in kitchen["open_needs"]:
            cost = f"~{format_minor(need['estimated_cost_minor'], need['currency'])}"
            print(f"    needs {need['quantity']} {need['unit']} {need['item']} ({cost})")
    directory = (await day.ask("list_directory", {}))["result"]
    print("\nsignposting directory (referrals today):")
    print(table(directory, ["name", "kind", "referrals"]))
    summary = (await day.ask("site_summary", {}))["result"]
    print(f"\nsite summary at {day.site} (counts only):")
    print("  " + json.dumps(summary, indent=None))
    if hub is not None:
        await asyncio.sleep(2.0)
        msg = await hub.request(
            subject(HUB, "site_summary"), json.dumps({"site": day.site}).encode(), 30
        )
        answer = json.loads(msg.data)
        print("\nthe hub's view of the site (ward level, counts only, sourced over the link):")
        print("  " + json.dumps(answer.get("result"), indent=None))


async def run_day(site: str, url: str, hub_url: str | None) -> int:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    day = Day(
        await nats.connect(url), site, end - timedelta(hours=HOURS), random.Random(f"{site}/{end}")
    )
    hub = await nats.connect(hub_url) if hub_url else None
    try:
        places = await set_up(day)
        await volunteers(day, places)
        await kitchens(day, places)
        await requests(day, places)
        await show(day, hub)
    finally:
        await day.nc.close()
        if hub is not None:
            await hub.close()
    return 0


def run() -> int:
    try:
        deployment = Deployment.load()
    except FileNotFoundError:
        print("no running deployment: start one with `make up` (or `aidmesh up`) first")
        return 2
    if not deployment.sites:
        print("the deployment has no field site")
        return 2
    site = deployment.sites[0]
    print(f"a day at {site.site}: {REQUESTS} requests, {VOLUNTEERS} volunteers, 2 kitchens")
    return asyncio.run(run_day(site.site, site.url, deployment.hub.url))
