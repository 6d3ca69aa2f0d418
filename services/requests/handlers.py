"""Load, decide, append: each edge command as the aggregates it touches, in a crash-safe order.

Most commands touch one aggregate. Three touch two, and the order is chosen so that a crash between
the steps leaves nothing a retry or the site's timer cannot finish:

- claim: take a place in the volunteer's active claims first (refused at the limit), then claim the
  request (refused if someone else holds it), and give the place back if the request refused;
- ending a claim (release, fulfil, signpost, cancel, expire): the request first, then the volunteer;
- merge: close the duplicate first, then record it on the survivor (never refused).

Every step's command id derives from the client's command id, with the client's time, so a retry
replays byte-identical events; the timer's reconciliation finishes a step a crash cut off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from services.requests import inputs
from services.requests.actors import Actor
from services.requests.contacts import ContactVault, record_of
from services.requests.events import CONTEXT
from services.requests.kitchen import (
    KitchenCommand,
    KitchenState,
    MeetNeed,
    OpenKitchen,
    OpenNeed,
    PlanMeals,
    PostNeed,
    ReceiveStock,
    ServeMeals,
    UpdateKitchen,
    UseStock,
    kitchen_decider,
)
from services.requests.request import (
    AbsorbDuplicate,
    CancelRequest,
    ClaimRequest,
    EndedClaim,
    ForgetContact,
    FulfilRequest,
    MergeInto,
    OpenRequest,
    ReleaseClaim,
    RequestCommand,
    RequestState,
    SignpostRequest,
    StartRequest,
    check_claimable,
    claim_outcome,
    contact_refs,
    may_read_contact,
    request_decider,
)
from services.requests.site import (
    AppointCoordinator,
    ChangeSettings,
    DefineArea,
    ListDirectoryEntry,
    RetireArea,
    SiteCommand,
    SiteState,
    StandDownCoordinator,
    WithdrawDirectoryEntry,
    area,
    check_role,
    entry,
    site_decider,
)
from services.requests.volunteer import (
    DropClaim,
    EndRest,
    RegisterVolunteer,
    SetAvailability,
    StandDown,
    StartRest,
    TakeClaim,
    UpdateVolunteer,
    VolunteerCommand,
    VolunteerState,
    volunteer_decider,
)
from services.requests.zones import local_date
from shared import telemetry
from shared.commands import AggregateStore, CommandHandler, CommandMeta, meta
from shared.currencies import amount
from shared.decider import Refused
from shared.endpoints import REUSED_ID, NotFound
from shared.eventstore import ConcurrencyError, EventConflict
from shared.ids import child_id
from shared.locks import KeyedLocks
from shared.subjects import AggregateRef

_log = telemetry.get_logger("aidmesh.requests")
# Ids derived from a client's command id (``child_id(command_id, n)``), one number per use, so no
# two commands ever share an id. The timer numbers its own from 100 (see timers.py).
CONTACT, FIRST_STEP, GIVE_BACK = 0, 1, 2


class Handlers:
    """The site's command side: four aggregate kinds, one owning site, one vault."""

    def __init__(self, store: AggregateStore, site: str, vault: ContactVault | None) -> None:
        self.site = site
        self.sites = CommandHandler(store, site_decider)
        self.requests = CommandHandler(store, request_decider)
        self.volunteers = CommandHandler(store, volunteer_decider)
        self.kitchens = CommandHandler(store, kitchen_decider)
        self._vault = vault
        self._creating: KeyedLocks[str] = KeyedLocks()
        self.kitchen_with_need: Callable[[str, str], str | None] = lambda need_id, kitchen: None
        """Another kitchen of the site using a need id (the read side's answer, wired by the
        service): a donor names a need by site and id alone, so a chosen id is the site's."""

    # --- references and state -----------------------------------------------------------------

    def ref(self, kind: str, aggregate_id: str) -> AggregateRef:
        return AggregateRef(CONTEXT, kind, aggregate_id, self.site)

    async def site_state(self) -> SiteState:
        state, _ = await self.sites.state_of(self.ref("site", self.site))
        return state

    async def request_state(self, request_id: str) -> RequestState:
        state, _ = await self.requests.state_of(self.ref("request", request_id))
        return state

    async def volunteer_state(self, volunteer_id: str) -> VolunteerState:
        state, _ = await self.volunteers.state_of(self.ref("volunteer", volunteer_id))
        return state

    @property
    def vault(self) -> ContactVault:
        if self._vault is None:
            raise Refused("personal data is kept only at field sites", code="no_vault")
        return self._vault

    async def actor(self, command: inputs.Command | inputs.ActorQuery) -> Actor:
        """The actor, once the site's own records confirm the role they claim."""
        actor = Actor(command.actor, command.role)
        if actor.is_coordinator:
            check_role(await self.site_state(), actor)
            return actor
        volunteer = await self.volunteer_state(actor.id)
        if not volunteer.registered or volunteer.stood_down:
            raise Refused(
                f"{actor.id} is not a registered volunteer at this site", code="not_volunteer"
            )
        return actor

    # --- help requests ------------------------------------------------------------------------

    async def create_request(self, command: inputs.CreateRequest) -> dict[str, Any]:
        # the same create sent twice at once: the second finds the first's request
        async with self._creating(command.command_id):
            return await self._create_request(command)

    async def _create_request(self, command: inputs.CreateRequest) -> dict[str, Any]:
        actor = await self.actor(command)
        place = area(await self.site_state(), command.area_id)
        request_id = command.command_id
        ref = self.ref("request", request_id)
        record = record_of(command)
        contact_ref = None if record is None else child_id(command.command_id, CONTACT)
        opened = OpenRequest(
            command.command_id,
            actor,
            request_id,
            command.category,
            command.urgency,
            place.ward,
            place.area_id,
            command.household_size,
            contact_ref,
        )
        base = meta(command.command_id, actor.id)
        # The client made the id just now: decide without reading an aggregate that is almost
        # always empty (the read cost an ephemeral consumer: measured +48% intake rate without
        # it). A retry that this process does not remember is recognised by the append instead.
        self.requests.assume_new(ref)
        if (await self.request_state(request_id)).status != "new":  # a retry it remembers
            return await self._intake_again(ref, opened, base, record, created=False)
        created = False
        if record is not None and contact_ref is not None:
            created = await self.vault.create(contact_ref, record)  # never overwrites a live one
        try:
            outcome = await self.requests.handle(ref, opened, base)
        except EventConflict:  # its id is stored with other content: compared below
            pass
        except Refused:
            if created and contact_ref is not None:
                await self.vault.forget(contact_ref)  # no request will point to it
            raise
        else:
            if outcome.events and not outcome.replayed:
                return view(outcome.state)
        return await self._intake_again(ref, opened, base, record, created=created)

    async def _intake_again(
        self,
        ref: AggregateRef,
        opened: OpenRequest,
        base: CommandMeta,
        record: dict[str, str] | None,
        *,
        created: bool,
    ) -> dict[str, Any]:
        """An intake whose id made a request before: a retry, answered with the request as it is
        now, or the id reused for another intake, refused (``conflict``); neither changes
        anything. The decider compares what the intake says with the stored request, and the
        vault's entry is compared with the contact given: the events do not hold it."""
        contact_ref = opened.contact_ref
        if created and contact_ref is not None:
            # The first intake wrote this very reference, so if this one could write it the
            # person had been forgotten since, or the first named nobody: shred it again.
            await self.vault.forget(contact_ref)
        outcome = await self.requests.handle(ref, opened, base)
        if record is not None and contact_ref is not None and not created:
            kept = await self.vault.get(contact_ref)  # None: forgotten, nothing to compare
            if kept is not None and kept != record:
                raise Refused(REUSED_ID, code="conflict")
        return view(outcome.state)

    async def claim_request(self, command: inputs.ClaimRequest) -> dict[str, Any]:
        actor = await self.actor(command)
        volunteer_id = command.volunteer_id or actor.id
        if not (actor.is_coordinator or actor.is_volunteer(volunteer_id)):
            raise Refused(
                "a volunteer claims for themself; only a coordinator assigns to someone else",
                code="not_allowed",
            )
        ref = self.ref("request", command.request_id)
        state = await self.request_state(command.request_id)
        if command.command_id in state.seen:
            return view(state)
        check_claimable(state, volunteer_id)
        settings = (await self.site_state()).settings
        base = meta(command.command_id, actor.id)
        take = TakeClaim(command.command_id, command.request_id, settings.default_max_claims)
        await self.volunteers.handle(
            self.ref("volunteer", volunteer_id), take, step(base, FIRST_STEP)
        )
        expires = base.occurred_at + timedelta(minutes=settings.claim_expiry_minutes)
        claim = ClaimRequest(command.command_id, actor, volunteer_id, expires)
        try:
            outcome = await self.requests.handle(ref, claim, base)
        except (Refused, ConcurrencyError):  # definitely not claimed: give the place back
            lost = EndedClaim(command.command_id, volunteer_id, "lost")
            await self.drop_claim(command.request_id, lost, base)
            raise
        return view(outcome.state)

    async def release_claim(self, command: inputs.RequestAction) -> dict[str, Any]:
        return await self._lifecycle(command, lambda a: ReleaseClaim(command.command_id, a))

    async def start_request(self, command: inputs.RequestAction) -> dict[str, Any]:
        return await self._lifecycle(command, lambda a: StartRequest(command.command_id, a))

    async def fulfil_request(self, command: inputs.RequestAction) -> dict[str, Any]:
        return await self._lifecycle(command, lambda a: FulfilRequest(command.command_id, a))

    async def signpost_request(self, command: inputs.SignpostRequest) -> dict[str, Any]:
        listed = entry(await self.site_state(), command.entry_id)
        return await self._lifecycle(
            command,
            lambda a: SignpostRequest(command.command_id, a, listed.entry_id, listed.kind),
        )

    async def cancel_request(self, command: inputs.CancelRequest) -> dict[str, Any]:
        return await self._lifecycle(
            command, lambda a: CancelRequest(command.command_id, a, command.reason)
        )

    async def _lifecycle(
        self,
        command: inputs.RequestAction | inputs.SignpostRequest | inputs.CancelRequest,
        make: Callable[[Actor], RequestCommand],
    ) -> dict[str, Any]:
        actor = await self.actor(command)
        base = meta(command.command_id, actor.id)
        outcome = await self.requests.handle(
            self.ref("request", command.request_id), make(actor), base
        )
        for event in outcome.events:
            ended = claim_outcome(event.payload)
            if ended is not None:
                await self.drop_claim(command.request_id, ended, base)
        return view(outcome.state)

    async def drop_claim(
        self, request_id: str, ended: EndedClaim, base: CommandMeta, *, index: int = GIVE_BACK
    ) -> None:
        """Give a claim's place back on the volunteer. Never raises: if the store is away, the
        timer's reconciliation gives it back later."""
        drop = DropClaim(ended.claim_id, request_id, ended.outcome)
        volunteer = self.ref("volunteer", ended.volunteer_id)
        try:
            await self.volunteers.handle(volunteer, drop, step(base, index))
        except Exception as exc:
            _log.warning("claim.drop_deferred", claim_id=ended.claim_id, error=type(exc).__name__)

    async def merge_requests(self, command: inputs.MergeRequests) -> dict[str, Any]:
        actor = await self.actor(command)
        survivor = await self.request_state(command.survivor_id)
        if survivor.status == "new":
            raise NotFound(f"no request {command.survivor_id} to merge into")
        if survivor.status == "merged":
            raise Refused(
                f"{command.survivor_id} was itself merged into {survivor.merged_into}; merge into "
                "that one",
                code="bad_merge",
            )
        duplicate_ref = self.ref("request", command.duplicate_id)
        base = meta(command.command_id, actor.id)
        merged = MergeInto(command.command_id, actor, command.survivor_id)
        outcome = await self.requests.handle(duplicate_ref, merged, base)
        absorb = AbsorbDuplicate(
            command.command_id, actor, command.duplicate_id, outcome.state.contact_ref
        )
        after = await self.requests.handle(
            self.ref("request", command.survivor_id), absorb, step(base, FIRST_STEP)
        )
        return {"duplicate": view(outcome.state), "survivor": view(after.state)}

    async def forget_contact(self, command: inputs.RequestAction) -> dict[str, Any]:
        """Shred first, then record it: a crash in between leaves the person forgotten, and the
        retry records it."""
        actor = await self.actor(command)
        if not actor.is_coordinator:
            raise Refused("only a coordinator can forget a person", code="not_allowed")
        state = await self.request_state(command.request_id)
        if state.status == "new":
            raise NotFound("no such request at this site")
        refs = await self._person_refs(state)
        for ref in refs:
            await self.vault.forget(ref)
        forget = ForgetContact(command.command_id, actor, refs)
        outcome = await self.requests.handle(
            self.ref("request", command.request_id), forget, meta(command.command_id, actor.id)
        )
        _log.info("contact.forgotten", request_id=command.request_id, entries=len(refs))
        return {**view(outcome.state), "forgotten_entries": len(refs)}

    async def _person_refs(self, state: RequestState) -> tuple[str, ...]:
        """The contact references of every intake merged with this one, at any depth: up to the
        request that survived them all, then down through everything merged into it. A survivor
        records only its direct duplicates' own references, so after C was merged into B and B
        into A, A alone does not know C's contact: one person, three intakes, all forgotten."""
        # Every request on the way up counts too: a merge cut short before the survivor recorded
        # the duplicate is known only from below.
        root, refs, visited = state, list(contact_refs(state)), {state.request_id}
        while root.merged_into and root.merged_into not in visited:
            visited.add(root.merged_into)
            root = await self.request_state(root.merged_into)
            refs += contact_refs(root)
        todo, seen = [root], {root.request_id}
        while todo:
            member = todo.pop()
            refs += contact_refs(member)
            for duplicate_id in member.absorbed_ids:
                if duplicate_id not in seen:
                    seen.add(duplicate_id)
                    todo.append(await self.request_state(duplicate_id))
        return tuple(dict.fromkeys(refs))

    async def read_contact(self, query: inputs.ReadContact) -> dict[str, Any]:
        actor = await self.actor(query)
        state = await self.request_state(query.request_id)
        if state.status == "new":
            raise NotFound("no such request at this site")
        if not may_read_contact(state, actor):
            raise Refused(
                "only the volunteer who holds this request's claim, or a coordinator, may read "
                "the requester's contact",
                code="not_allowed",
            )
        forgotten = Refused(
            "this requester asked to be forgotten; nothing is kept", code="forgotten"
        )
        if state.contact_forgotten:
            raise forgotten
        own = await self.vault.get(state.contact_ref) if state.contact_ref else None
        duplicates = [await self.vault.get(r) for r in state.absorbed_refs]
        found = [d for d in duplicates if d is not None]
        if own is None and not found:
            # Forgetting an intake records it on that request alone; the others merged with it
            # hold references whose entries are shredded: the person was forgotten, not unasked.
            if contact_refs(state):
                raise forgotten
            raise Refused("no contact was recorded for this request", code="no_contact")
        _log.info("contact.read", request_id=query.request_id, by=actor.id)
        return {"request_id": query.request_id, "contact": own, "duplicates": found}

    # --- volunteers ---------------------------------------------------------------------------

    async def register_volunteer(self, command: inputs.RegisterVolunteer) -> dict[str, Any]:
        actor = await self.actor(command)
        place = area(await self.site_state(), command.area_id)
        register = RegisterVolunteer(
            command.command_id,
            actor,
            command.volunteer_id,
            place.ward,
            place.area_id,
            tuple(dict.fromkeys(command.skills)),
            command.max_claims,
        )
        return await self._volunteer(command, command.volunteer_id, register)

    async def update_volunteer(self, command: inputs.UpdateVolunteer) -> dict[str, Any]:
        """What the command leaves out, the decider keeps from the volunteer as they are."""
        actor = await self.actor(command)
        ward = area_id = None
        if command.area_id is not None:
            place = area(await self.site_state(), command.area_id)
            ward, area_id = place.ward, place.area_id
        skills = None if command.skills is None else tuple(dict.fromkeys(command.skills))
        update = UpdateVolunteer(
            command.command_id, actor, ward, area_id, skills, command.max_claims
        )
        return await self._volunteer(command, command.volunteer_id, update)

    async def set_availability(self, command: inputs.SetAvailability) -> dict[str, Any]:
        actor = await self.actor(command)
        change = SetAvailability(command.command_id, actor, command.available)
        return await self._volunteer(command, command.volunteer_id, change)

    async def start_rest(self, command: inputs.VolunteerAction) -> dict[str, Any]:
        actor = await self.actor(command)
        rest = StartRest(command.command_id, actor)
        return await self._volunteer(command, command.volunteer_id, rest)

    async def end_rest(self, command: inputs.VolunteerAction) -> dict[str, Any]:
        actor = await self.actor(command)
        back = EndRest(command.command_id, actor)
        return await self._volunteer(command, command.volunteer_id, back)

    async def stand_down_volunteer(self, command: inputs.VolunteerAction) -> dict[str, Any]:
        actor = await self.actor(command)
        return await self._volunteer(
            command, command.volunteer_id, StandDown(command.command_id, actor)
        )

    async def _volunteer(
        self, command: inputs.Command, volunteer_id: str, decided: VolunteerCommand
    ) -> dict[str, Any]:
        outcome = await self.volunteers.handle(
            self.ref("volunteer", volunteer_id), decided, meta(command.command_id, command.actor)
        )
        return volunteer_view(outcome.state, (await self.site_state()).settings.default_max_claims)

    # --- kitchens -----------------------------------------------------------------------------

    async def open_kitchen(self, command: inputs.OpenKitchen) -> dict[str, Any]:
        actor = await self.actor(command)
        place = area(await self.site_state(), command.area_id)
        opened = OpenKitchen(
            command.command_id,
            actor,
            command.kitchen_id,
            command.name,
            place.ward,
            place.area_id,
            command.capacity,
            tuple(command.leads),
        )
        return await self._kitchen(command, command.kitchen_id, opened)

    async def update_kitchen(self, command: inputs.UpdateKitchen) -> dict[str, Any]:
        actor = await self.actor(command)
        leads = None if command.leads is None else tuple(command.leads)
        update = UpdateKitchen(command.command_id, actor, command.capacity, leads)
        return await self._kitchen(command, command.kitchen_id, update)

    async def receive_stock(self, command: inputs.StockChange) -> dict[str, Any]:
        actor = await self.actor(command)
        change = ReceiveStock(
            command.command_id, actor, command.item, command.quantity, command.unit
        )
        return await self._kitchen(command, command.kitchen_id, change)

    async def use_stock(self, command: inputs.StockChange) -> dict[str, Any]:
        actor = await self.actor(command)
        change = UseStock(command.command_id, actor, command.item, command.quantity, command.unit)
        return await self._kitchen(command, command.kitchen_id, change)

    async def plan_meals(self, command: inputs.PlanMeals) -> dict[str, Any]:
        actor = await self.actor(command)
        today = await self.site_today(command)
        plan = PlanMeals(command.command_id, actor, command.day, command.meals, today)
        return await self._kitchen(command, command.kitchen_id, plan)

    async def serve_meals(self, command: inputs.ServeMeals) -> dict[str, Any]:
        actor = await self.actor(command)
        today = await self.site_today(command)
        served = ServeMeals(command.command_id, actor, command.day, command.meals, today)
        return await self._kitchen(command, command.kitchen_id, served)

    async def site_today(self, command: inputs.Command) -> date:
        """The site's date when the command was made (its id's time), in the site's zone: a
        kitchen's day is its local day, and the service's UTC clock and a laptop's zone (often
        wrong in the field) both put Dili's breakfast on the day before. From the id, so a retry
        hours later is dated as the first try was."""
        zone = (await self.site_state()).settings.timezone
        return local_date(meta(command.command_id, command.actor).occurred_at, zone)

    async def post_need(self, command: inputs.PostNeed) -> dict[str, Any]:
        actor = await self.actor(command)
        if command.need_id is not None:
            other = self.kitchen_with_need(command.need_id, command.kitchen_id)
            if other is not None:
                raise Refused(
                    f"need id {command.need_id} is already used by kitchen {other} at this site: "
                    "donors name a need by its id, so choose another (or leave it out)",
                    code="need_id_taken",
                )
        need = PostNeed(
            command.command_id,
            actor,
            command.need_id or command.command_id,
            command.item,
            command.quantity,
            command.unit,
            command.estimated_cost_minor,
            command.currency,
        )
        state = await self._decide_kitchen(command, command.kitchen_id, need)
        posted = state.open_needs.get(need.need_id)  # a retry after the need was met: gone
        if posted is None:
            return kitchen_view(state)
        return kitchen_view(state) | {"need": need_view(need.need_id, posted)}

    async def meet_need(self, command: inputs.MeetNeed) -> dict[str, Any]:
        actor = await self.actor(command)
        met = MeetNeed(command.command_id, actor, command.need_id, command.how)
        return await self._kitchen(command, command.kitchen_id, met)

    async def _kitchen(
        self, command: inputs.Command, kitchen_id: str, decided: KitchenCommand
    ) -> dict[str, Any]:
        return kitchen_view(await self._decide_kitchen(command, kitchen_id, decided))

    async def _decide_kitchen(
        self, command: inputs.Command, kitchen_id: str, decided: KitchenCommand
    ) -> KitchenState:
        outcome = await self.kitchens.handle(
            self.ref("kitchen", kitchen_id), decided, meta(command.command_id, command.actor)
        )
        return outcome.state

    # --- the site -----------------------------------------------------------------------------

    async def appoint_coordinator(self, command: inputs.AppointCoordinator) -> dict[str, Any]:
        return await self._site(
            command, AppointCoordinator(*self._who(command), command.coordinator_id)
        )

    async def stand_down_coordinator(self, command: inputs.AppointCoordinator) -> dict[str, Any]:
        return await self._site(
            command, StandDownCoordinator(*self._who(command), command.coordinator_id)
        )

    async def define_area(self, command: inputs.DefineArea) -> dict[str, Any]:
        defined = DefineArea(
            *self._who(command), command.area_id, command.name, command.level, command.parent_id
        )
        return await self._site(command, defined)

    async def retire_area(self, command: inputs.RetireArea) -> dict[str, Any]:
        return await self._site(command, RetireArea(*self._who(command), command.area_id))

    async def list_directory_entry(self, command: inputs.ListDirectoryEntry) -> dict[str, Any]:
        listed = ListDirectoryEntry(
            *self._who(command), command.entry_id, command.name, command.kind, command.how_to_reach
        )
        return await self._site(command, listed)

    async def withdraw_directory_entry(
        self, command: inputs.WithdrawDirectoryEntry
    ) -> dict[str, Any]:
        return await self._site(
            command, WithdrawDirectoryEntry(*self._who(command), command.entry_id)
        )

    async def change_settings(self, command: inputs.ChangeSettings) -> dict[str, Any]:
        changed = ChangeSettings(
            *self._who(command),
            command.default_max_claims,
            command.claim_expiry_minutes,
            command.urgent_alert_minutes,
            command.timezone,
        )
        return await self._site(command, changed)

    @staticmethod
    def _who(command: inputs.Command) -> tuple[str, Actor]:
        """The site decider checks the coordinator itself (the first one appoints themself)."""
        return command.command_id, Actor(command.actor, command.role)

    async def _site(self, command: inputs.Command, decided: SiteCommand) -> dict[str, Any]:
        outcome = await self.sites.handle(
            self.ref("site", self.site), decided, meta(command.command_id, command.actor)
        )
        return site_view(outcome.state)


def step(base: CommandMeta, index: int) -> CommandMeta:
    """The metadata of the ``index``-th further step of a command: same time, same correlation."""
    return replace(
        base,
        command_id=child_id(base.command_id, index),
        correlation_id=base.correlation_id or base.command_id,
    )


# --- what a command answers -------------------------------------------------------------------


def view(state: RequestState) -> dict[str, Any]:
    claim = state.claim
    return {
        "request_id": state.request_id,
        "status": state.status,
        "category": state.category,
        "urgency": state.urgency,
        "ward": state.ward,
        "area_id": state.area_id,
        "household_size": state.household_size,
        "volunteer_id": claim.volunteer_id if claim else None,
        "claim_id": claim.claim_id if claim else None,
        "claim_expires_at": claim.expires_at.isoformat() if claim else None,
        "merged_into": state.merged_into,
        "contact_forgotten": state.contact_forgotten,
    }


def volunteer_view(state: VolunteerState, site_default: int) -> dict[str, Any]:
    return {
        "volunteer_id": state.volunteer_id,
        "ward": state.ward,
        "area_id": state.area_id,
        "skills": list(state.skills),
        "available": state.available,
        "resting": state.resting,
        "stood_down": state.stood_down,
        "active_claims": len(state.active),
        "limit": state.limit(site_default),
        "fulfilled": state.fulfilled,
    }


def kitchen_view(state: KitchenState) -> dict[str, Any]:
    return {
        "kitchen_id": state.kitchen_id,
        "name": state.name,
        "ward": state.ward,
        "capacity_meals_per_day": state.capacity,
        "leads": list(state.leads),
        "stock": {
            item: f"{held.quantity.normalize():f} {held.unit}" for item, held in state.stock.items()
        },
        "open_needs": sorted(state.open_needs),
    }


def need_view(need_id: str, need: OpenNeed) -> dict[str, Any]:
    """The cost as people read it (and as the lead typed it) before the minor units the events
    carry: ``estimated_cost_minor=30000000`` first was read as 30 million."""
    return {
        "need_id": need_id,
        "item": need.item,
        "quantity": need.quantity,
        "unit": need.unit,
        "estimated_cost": amount(need.estimated_cost_minor, need.currency),
        "estimated_cost_minor": need.estimated_cost_minor,
        "currency": need.currency,
    }


def site_view(state: SiteState) -> dict[str, Any]:
    return {
        "coordinators": sorted(state.coordinators),
        "areas": len([a for a in state.areas.values() if not a.retired]),
        "directory": len([e for e in state.directory.values() if not e.withdrawn]),
        "settings": {
            "default_max_claims": state.settings.default_max_claims,
            "claim_expiry_minutes": state.settings.claim_expiry_minutes,
            "urgent_alert_minutes": state.settings.urgent_alert_minutes,
            "timezone": state.settings.timezone,
        },
    }
