"""Donors' identities, kept only in the hub's site-local vault: events and reports know a donor by a
reference, and forgetting a donor crypto-shreds the record while the ledger keeps balancing.

The reference doubles as the key to the donor's own report (whoever holds it sees what it did), so
it must not be linkable to the person by anyone without the vault: it is not derived from the
e-mail. It is derived from the client's ``registration_id`` by a keyed hash (HMAC-SHA256 under a
secret kept at the hub, next to the vault's master key), so a retry after a lost answer finds the
same reference, and an id read in a log or a trace is not enough to compute it. Nothing here logs.

A registration is written create-only, as the requests service writes an intake's contact: the same
id with the same content answers the same reference and stores nothing new; with other content it
is a ``conflict`` (the live record is never replaced). Forgetting first leaves a tombstone, under a
second keyed name and holding nothing personal, then shreds: a registration retried after that (a
client's outbox, a replay) cannot write the e-mail again under a reference whose donor asked to be
forgotten, and is refused as ``forgotten`` without being told the reference.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Protocol

from services.remittance.schemas import DonorRequest
from shared.decider import Refused
from shared.endpoints import NotFound

_DONOR_REF = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What the book makes (and made before registrations had ids: ``d-`` and 22 random url-safe
characters) and the vault stores: one NATS subject token."""
_TOMBSTONE = {"forgotten": True}


class DonorVault(Protocol):
    """``shared.vault.Vault`` at the hub; tests may use an in-memory one."""

    async def create(self, ref: str, record: dict[str, Any]) -> bool: ...

    async def get(self, ref: str) -> dict[str, Any] | None: ...

    async def forget(self, ref: str) -> None: ...


def _keyed(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}/{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


class DonorBook:
    def __init__(self, vault: DonorVault, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the donor reference secret must hold at least 32 bytes")
        self.vault = vault
        self._secret = secret

    def ref_of(self, registration_id: str) -> str:
        """The reference a registration id stands for (16 bytes of MAC, as long as the random
        references made before). A UUID's case carries nothing, so either case is the same id."""
        return f"d-{_keyed(self._secret, 'donor-ref', registration_id.lower())}"

    def _tombstone(self, donor_ref: str) -> str:
        return f"f-{_keyed(self._secret, 'forgotten', donor_ref)}"

    async def _forgotten(self, donor_ref: str) -> bool:
        return await self.vault.get(self._tombstone(donor_ref)) is not None

    async def register(self, req: DonorRequest) -> dict[str, Any]:
        ref = self.ref_of(req.registration_id)
        record = req.model_dump(exclude_none=True, exclude={"registration_id"})
        if await self._forgotten(ref):
            raise _forgotten()
        if await self.vault.create(ref, record):  # never replaces a live record
            if await self._forgotten(ref):
                # forgotten between the check and the write (a retry of the registration racing
                # the donor's own forget): the write brought the contact back, so shred it again
                await self.vault.forget(ref)
                raise _forgotten()
            return {"donor_ref": ref}
        stored = await self.vault.get(ref)
        if stored is None:  # shredded between the write and this read
            raise _forgotten()
        if stored != record:
            raise Refused(
                "this registration id was already used with other details; a new registration "
                "needs a new id",
                code="conflict",
            )
        return {"donor_ref": ref}

    async def contact(self, donor_ref: str) -> dict[str, Any]:
        record = await self.vault.get(donor_ref)
        if record is None:
            raise NotFound(
                "no donor with this reference (or it was forgotten)", code="unknown_donor"
            )
        return record

    async def forget(self, donor_ref: str) -> dict[str, Any]:
        """A reference the vault could never have stored is unknown: checked here, because the
        vault would make it a subject and the client would meet a server error.

        The tombstone is written before the shred: a crash in between leaves a donor still to be
        forgotten (forgetting again completes it), never a reference a retried registration could
        fill again. Only a reference holding a record gets one, so forgetting references nobody
        registered stores nothing."""
        if not _DONOR_REF.fullmatch(donor_ref):
            raise NotFound(
                "no donor with this reference (or it was forgotten)", code="unknown_donor"
            )
        if await self.vault.get(donor_ref) is not None:
            await self.vault.create(self._tombstone(donor_ref), _TOMBSTONE)
        await self.vault.forget(donor_ref)
        return {"donor_ref": donor_ref, "forgotten": True}


def _forgotten() -> Refused:
    return Refused(
        "the donor registered under this id asked to be forgotten: nothing is kept, and nothing "
        "is stored again",
        code="forgotten",
    )
