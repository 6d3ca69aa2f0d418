"""Time-sortable identifiers (UUIDv7) generated where a thing happens, even offline.

Ids are made by the client or field device before anything is sent, so a retry after a lost reply
carries the same id and the store can recognise it. Events derived from one command get ids derived
from the command's id, so deciding the same command again yields byte-identical events.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 string, monotonic within this process (a 12-bit counter orders ids in one ms)."""
    global _last_ms, _counter
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return str(_assemble(ms, counter, rand))


def derived_id(parent: str, index: int) -> str:
    """A UUIDv7 fixed by (parent, index): the parent's id with its low 16 bits replaced.

    Used for the events of one command: a retried command produces the same event ids, which is what
    makes the event store's dedup and retry path exact. Keeping all but 16 bits of the parent also
    keeps the link cheap: an event carries its command's id as correlation id, and the compressor on
    the link (S2, which has no entropy coding) sends the shared 32 characters once. Indexes are
    offset from a hash of the parent, so the events of one command never collide (up to 65,535 of
    them); ids of different commands differ in the parent's other 58 random bits.
    """
    value = int(parent.replace("-", ""), 16)
    if (value >> 76) & 0xF != 7:
        raise ValueError(f"derived ids need a UUIDv7 parent, got {parent!r}")
    if not 0 <= index < 0xFFFF:
        raise ValueError("at most 65,535 events derive from one id")
    offset = int.from_bytes(hashlib.sha256(parent.encode()).digest()[:2], "big")
    spot = (offset + index) % 0xFFFF  # one of the 65,535 low values that are not the parent's
    low = spot if spot < value & 0xFFFF else spot + 1
    return _format((value & ~0xFFFF) | low)


def child_id(parent: str, index: int) -> str:
    """A UUIDv7 fixed by (parent, index) with the parent's time and fresh (hashed) random bits: a new
    id family, for a command that reacts to an event. (``derived_id`` would put the command in its
    event's family, where the command's own events could meet the event's siblings.)"""
    digest = hashlib.sha256(f"{parent}/{index}".encode()).digest()
    rand_a = int.from_bytes(digest[:2], "big") & 0xFFF
    rand_b = int.from_bytes(digest[2:10], "big") & ((1 << 62) - 1)
    return _format(_assemble_int(timestamp_ms(parent), rand_a, rand_b))


UUID7_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
"""A UUIDv7 as clients write it (lowercase, with dashes), for ``re.fullmatch`` or, anchored, for a
pydantic pattern."""


def timestamp_ms(value: str) -> int:
    """The unix-millisecond timestamp of a UUIDv7 (0 for other UUID versions)."""
    hexed = value.replace("-", "")
    if len(hexed) != 32:
        raise ValueError(f"not a UUID: {value!r}")
    return int(hexed[:12], 16) if hexed[12] == "7" else 0


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _assemble(ms: int, rand_a: int, rand_b: int) -> uuid.UUID:
    return uuid.UUID(int=_assemble_int(ms, rand_a, rand_b))


def _assemble_int(ms: int, rand_a: int, rand_b: int) -> int:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand_a & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b & ((1 << 62) - 1)
    return value


def _format(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
