"""Sealed bodies: AES-GCM under a per-channel key held only at the sites, so the hub relays text it
cannot read.

The nonce is synthetic (an HMAC of the associated data and the plaintext under a second key derived
from the channel key): a client retrying a send seals into the very same ciphertext, so the retry
decides into byte-identical events, and a nonce can only repeat for the same message and text, which
reveals nothing new. The associated data binds the ciphertext to its message id and channel, so the
hub cannot move a body from one message to another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE = 12


class SealError(Exception):
    """A sealed body that this key cannot open: another key, or tampered with on the way."""


def _subkey(key: bytes, purpose: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a channel key is {KEY_BYTES} bytes")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"aidmesh-comms " + purpose
    ).derive(key)


def _aad(item_id: str, channel: str) -> bytes:
    return f"aidmesh-comms/v1/{channel}/{item_id}".encode()


def seal_bytes(key: bytes, plain: bytes, item_id: str, channel: str) -> bytes:
    aad = _aad(item_id, channel)
    nonce = hmac.new(_subkey(key, b"nonce"), aad + b"\0" + plain, hashlib.sha256).digest()[:_NONCE]
    return _VERSION + nonce + AESGCM(_subkey(key, b"body")).encrypt(nonce, plain, aad)


def open_bytes(key: bytes, raw: bytes, item_id: str, channel: str) -> bytes:
    if len(raw) < 1 + _NONCE + 16 or raw[:1] != _VERSION:
        raise SealError("not a sealed body of a known version")
    nonce, body = raw[1 : 1 + _NONCE], raw[1 + _NONCE :]
    try:
        return AESGCM(_subkey(key, b"body")).decrypt(nonce, body, _aad(item_id, channel))
    except InvalidTag:
        raise SealError("this key does not open it (another key, or altered on the way)") from None


def seal(key: bytes, text: str, item_id: str, channel: str) -> str:
    """The sealed form of ``text`` for message or alert ``item_id`` on ``channel`` (URL-safe base64)."""
    raw = seal_bytes(key, text.encode(), item_id, channel)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def open_sealed(key: bytes, sealed: str, item_id: str, channel: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except ValueError:
        raise SealError("not a sealed body") from None
    return open_bytes(key, raw, item_id, channel).decode()


def sealed_size(plain_bytes: int) -> int:
    """Characters of the sealed form of a body of ``plain_bytes`` bytes."""
    raw = 1 + _NONCE + plain_bytes + 16
    return (raw * 4 + 2) // 3
