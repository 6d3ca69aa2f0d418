"""The requester's contact: what the site's vault holds for a request, and nothing else does.

Name, phone, address, and the need in the requester's own words (it often names a relative, an
illness or a street, so it is treated as personal data too). The vault is ``shared.vault.Vault`` on
the site's ``LOCAL`` account; tests use an in-memory one with the same three methods.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.requests import inputs

FIELDS = ("name", "phone", "address", "need")


class ContactVault(Protocol):
    async def put(self, ref: str, record: dict[str, Any]) -> None: ...

    async def create(self, ref: str, record: dict[str, Any]) -> bool: ...

    async def get(self, ref: str) -> dict[str, Any] | None: ...

    async def forget(self, ref: str) -> None: ...


def record_of(command: inputs.CreateRequest) -> dict[str, str] | None:
    """The vault record of an intake, or None when the intake named nobody and said nothing."""
    record = {f: getattr(command, f) for f in FIELDS if getattr(command, f) is not None}
    return record or None
