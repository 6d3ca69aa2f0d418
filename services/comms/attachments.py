"""Attachments: files too large for a message travel as references and are fetched on demand.

A file is sealed with its channel's key (public channels: as is) and kept in an object store at the
sender's site (``comms_files``, never sourced); the message carries only its reference (SHA-256 of
the stored bytes, size, media type, site). A recipient's site fetches it when someone asks, straight
from the holding site's JetStream domain over the links, checks the hash, keeps a copy (a second
fetch needs no link) and opens it. So a thin link carries the photo only for the people who want it,
and only once per site.
"""

from __future__ import annotations

import asyncio
import hashlib

from nats.aio.client import Client as NATS
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from services.comms import addresses
from services.comms.addresses import Directory
from services.comms.events import MAX_ATTACHMENT_BYTES, Attachment
from services.comms.keys import ChannelKeys
from services.comms.sealing import SealError, open_bytes, seal_bytes
from shared.decider import Refused

BUCKET = "comms_files"
STORE_BYTES = 4 * 1024**3
FETCH_SECONDS = 60.0
_ITEM = "attachment"


class Attachments:
    def __init__(self, nc: NATS, site: str, keys: ChannelKeys) -> None:
        self._nc = nc
        self.site = site
        self._keys = keys
        self._store: ObjectStore | None = None

    async def open(self) -> None:
        js = self._nc.jetstream()
        try:
            self._store = await js.object_store(BUCKET)
        except (BucketNotFoundError, NotFoundError):
            config = ObjectStoreConfig(
                bucket=BUCKET,
                description="message attachments held at this site, sealed per channel",
                storage=StorageType.FILE,
                max_bytes=STORE_BYTES,
            )
            self._store = await js.create_object_store(BUCKET, config=config)

    @property
    def store(self) -> ObjectStore:
        assert self._store is not None, "open() first"
        return self._store

    async def put(
        self, channel: str, data: bytes, media_type: str, directory: Directory
    ) -> Attachment:
        known = directory.channels.get(channel)
        if known is None:
            raise addresses.unknown_channel(channel)
        stored = data
        if not known.public:
            key = await self._keys.get(channel)
            if key is None:
                raise Refused(f"this site holds no key for channel {channel!r}", code="no_key")
            stored = seal_bytes(key, data, _ITEM, channel)
        if not data or len(stored) > MAX_ATTACHMENT_BYTES:
            raise Refused(
                f"an attachment is 1 byte to {MAX_ATTACHMENT_BYTES // 2**20} MB", code="too_large"
            )
        digest = hashlib.sha256(stored).hexdigest()
        if not await self._has(self.store, digest):
            await self.store.put(digest, stored)
        return Attachment(sha256=digest, size=len(stored), media_type=media_type, site=self.site)

    async def held_here(self, attachment: Attachment) -> bool:
        return await self._has(self.store, attachment.sha256)

    async def fetch(self, attachment: Attachment, channel: str, public: bool) -> bytes:
        """The file, from this site's copy or else from the site that holds it (then kept here)."""
        stored = await self._local(attachment)
        if stored is None:
            stored = await self._remote(attachment)
            await self.store.put(attachment.sha256, stored)
        if public:
            return stored
        key = await self._keys.get(channel)
        if key is None:
            raise Refused(f"this site holds no key for channel {channel!r}", code="no_key")
        try:
            return open_bytes(key, stored, _ITEM, channel)
        except SealError as exc:
            raise Refused(f"the attachment cannot be opened: {exc}", code="unreadable") from None

    async def _local(self, attachment: Attachment) -> bytes | None:
        try:
            found = await self.store.get(attachment.sha256)
        except (ObjectNotFoundError, NotFoundError):
            return None
        return _checked(found.data or b"", attachment)

    async def _remote(self, attachment: Attachment) -> bytes:
        far = self._nc.jetstream(domain=attachment.site)
        try:
            async with asyncio.timeout(FETCH_SECONDS):
                store = await far.object_store(BUCKET)
                found = await store.get(attachment.sha256)
        except (ObjectNotFoundError, BucketNotFoundError, NotFoundError):
            raise Refused(
                f"{attachment.site} no longer holds this attachment", code="not_found"
            ) from None
        except Exception:
            raise Refused(
                f"{attachment.site}, which holds the attachment, cannot be reached now: try "
                "again when its link is up",
                code="unreachable",
            ) from None
        return _checked(found.data or b"", attachment)

    @staticmethod
    async def _has(store: ObjectStore, name: str) -> bool:
        try:
            info = await store.get_info(name)
        except (ObjectNotFoundError, NotFoundError):
            return False
        return not info.deleted


def _checked(data: bytes, attachment: Attachment) -> bytes:
    if hashlib.sha256(data).hexdigest() != attachment.sha256 or len(data) != attachment.size:
        raise Refused("the attachment arrived damaged (hash mismatch)", code="unreadable")
    return data
