"""The donor book against an in-memory vault with the real one's create-only semantics: references
derived from the registration id under the hub's secret, retries, conflicts, forgetting, and a
forget that lands between a retry's check and its write. (Over HTTP and NATS with the real vault:
``test_api.py``.)"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from services.remittance.donors import DonorBook
from services.remittance.schemas import DonorRequest
from shared.decider import Refused
from shared.ids import uuid7


class MemoryVault:
    """``shared.vault.Vault``'s contract: ``create`` never replaces a live record, and a forgotten
    reference is empty again (so only the book can remember that it was forgotten)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.before_create: Callable[[str], Awaitable[None]] | None = None

    async def create(self, ref: str, record: dict[str, Any]) -> bool:
        if self.before_create is not None:
            hook, self.before_create = self.before_create, None
            await hook(ref)
        if ref in self.records:
            return False
        self.records[ref] = dict(record)
        return True

    async def get(self, ref: str) -> dict[str, Any] | None:
        record = self.records.get(ref)
        return None if record is None else dict(record)

    async def forget(self, ref: str) -> None:
        self.records.pop(ref, None)


SECRET = os.urandom(32)


def registration(registration_id: str, **kw: Any) -> DonorRequest:
    fields: dict[str, Any] = {"email": "ana@example.org", "display_name": "Ana"} | kw
    return DonorRequest(registration_id=registration_id, **fields)


async def refused(code: str, attempt: Awaitable[Any]) -> Refused:
    with pytest.raises(Refused) as caught:
        await attempt
    assert caught.value.code == code
    return caught.value


async def test_a_registration_sent_again_answers_the_same_reference_and_stores_nothing() -> None:
    vault = MemoryVault()
    book = DonorBook(vault, SECRET)
    rid = uuid7()
    first = await book.register(registration(rid))
    assert await book.register(registration(rid)) == first
    assert await book.register(registration(rid.upper())) == first  # a UUID's case says nothing
    assert vault.records == {
        first["donor_ref"]: {"email": "ana@example.org", "display_name": "Ana"}
    }


async def test_the_reference_needs_the_hubs_secret_and_says_nothing_of_the_email() -> None:
    """Whoever read an id in a log cannot compute the reference; one person registering twice (two
    ids) gets two references nobody can tie together."""
    rid = uuid7()
    ours = DonorBook(MemoryVault(), SECRET).ref_of(rid)
    assert DonorBook(MemoryVault(), os.urandom(32)).ref_of(rid) != ours
    assert rid not in ours and rid.replace("-", "") not in ours
    book = DonorBook(MemoryVault(), SECRET)
    refs = {(await book.register(registration(uuid7())))["donor_ref"] for _ in range(2)}
    assert len(refs) == 2 and all("ana" not in r for r in refs)
    assert all(len(r) == len("d-") + 22 for r in refs)  # as long as the random ones made before
    with pytest.raises(ValueError, match="32 bytes"):
        DonorBook(MemoryVault(), b"short")


async def test_the_same_id_with_other_details_is_a_conflict_and_the_record_stays() -> None:
    vault = MemoryVault()
    book = DonorBook(vault, SECRET)
    rid = uuid7()
    ref = (await book.register(registration(rid)))["donor_ref"]
    for other in ({"email": "someone@example.org"}, {"display_name": None}, {"email": None}):
        refusal = await refused("conflict", book.register(registration(rid, **other)))
        assert ref not in refusal.message and "example.org" not in refusal.message
    assert vault.records == {ref: {"email": "ana@example.org", "display_name": "Ana"}}


async def test_a_registration_retried_after_the_donor_was_forgotten_is_not_stored_again() -> None:
    vault = MemoryVault()
    book = DonorBook(vault, SECRET)
    rid = uuid7()
    ref = (await book.register(registration(rid)))["donor_ref"]
    await book.forget(ref)
    for retry in (registration(rid), registration(rid, email="someone@example.org")):
        refusal = await refused("forgotten", book.register(retry))
        assert ref not in refusal.message  # the reference is not handed to whoever holds the id
    assert await vault.get(ref) is None
    assert [r for r in vault.records.values() if "email" in r] == []  # only the tombstone
    await book.forget(ref)  # forgetting again changes nothing
    await refused("forgotten", book.register(registration(rid)))


async def test_a_forget_between_a_retrys_check_and_its_write_is_not_undone() -> None:
    """The retry saw no tombstone; the donor (who had the reference) was forgotten just then; the
    retry's write found the reference empty again: it must shred what it wrote."""
    vault = MemoryVault()
    book = DonorBook(vault, SECRET)
    rid = uuid7()
    ref = (await book.register(registration(rid)))["donor_ref"]

    async def forget_now(writing: str) -> None:
        if writing == ref:
            await book.forget(ref)

    vault.before_create = forget_now
    await refused("forgotten", book.register(registration(rid)))
    assert await vault.get(ref) is None


async def test_forgetting_a_reference_nobody_registered_stores_nothing() -> None:
    vault = MemoryVault()
    book = DonorBook(vault, SECRET)
    assert await book.forget("d-nobody") == {"donor_ref": "d-nobody", "forgotten": True}
    assert vault.records == {}
    await refused("unknown_donor", book.forget("a.b"))
