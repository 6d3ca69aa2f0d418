"""Channel keys of one site, kept in its site-local vault (the ``LOCAL`` account, never linked to the
hub), provisioned by a command or from a file.

Distribution between sites is out of band for now (an operator carries the key, or the file, to each
site of the channel); a later security issue can add key exchange and rotation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.comms.sealing import KEY_BYTES
from shared.decider import Refused
from shared.vault import Vault


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise Refused("a channel key is base64 text", code="invalid") from None
    if len(key) != KEY_BYTES:
        raise Refused(f"a channel key is {KEY_BYTES} bytes (base64)", code="invalid")
    return key


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


class ChannelKeys:
    def __init__(self, vault: Vault | None) -> None:
        self._vault = vault
        self._cache: dict[str, bytes] = {}

    async def get(self, channel: str) -> bytes | None:
        key = self._cache.get(channel)
        if key is None and self._vault is not None:
            record = await self._vault.get(channel)
            if record is not None:
                key = self._cache[channel] = decode_key(str(record["key"]))
        return key

    async def put(self, channel: str, key: bytes) -> None:
        if self._vault is None:
            raise Refused(
                "this site has no local vault (AIDMESH_LOCAL_URL is not set): keys cannot be kept",
                code="no_vault",
            )
        await self._vault.put(channel, {"key": encode_key(key)})
        self._cache[channel] = key

    async def load_file(self, path: Path) -> int:
        """Keys from a JSON file ``{"channel": "base64 key", ...}``; into the vault when there is
        one. Returns how many were loaded."""
        text = await asyncio.to_thread(_read, path)
        if text is None:
            return 0
        keys = json.loads(text)
        for channel, text in keys.items():
            key = decode_key(str(text))
            if self._vault is not None:
                await self._vault.put(channel, {"key": encode_key(key)})
            self._cache[channel] = key
        return len(keys)
