"""Donors' identities, kept only in the hub's site-local vault: events and reports know a donor by a
random reference, and forgetting a donor crypto-shreds the record while the ledger keeps balancing.

The reference is random (not derived from the e-mail), so nothing outside the vault can link it to a
person, and it doubles as the key to the donor's own report: whoever holds it sees what it did.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from services.remittance.schemas import DonorRequest
from shared.endpoints import NotFound
from shared.vault import Vault

_DONOR_REF = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What ``new_donor_ref`` makes and the vault stores: one NATS subject token."""


def new_donor_ref() -> str:
    return f"d-{secrets.token_urlsafe(16)}"


class DonorBook:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    async def register(self, req: DonorRequest) -> dict[str, Any]:
        ref = new_donor_ref()
        await self.vault.put(ref, req.model_dump(exclude_none=True))
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
        vault would make it a subject and the client would meet a server error."""
        if not _DONOR_REF.fullmatch(donor_ref):
            raise NotFound(
                "no donor with this reference (or it was forgotten)", code="unknown_donor"
            )
        await self.vault.forget(donor_ref)
        return {"donor_ref": donor_ref, "forgotten": True}
