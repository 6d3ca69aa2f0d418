"""The site-local vault: personal data encrypted at rest, never sourced to the hub, and forgotten by
crypto-shredding.

Records are AES-GCM ciphertext in a JetStream KV bucket in the server's ``LOCAL`` account, which no
leaf connection binds: no path to the hub exists. Each record has its own data key; data keys live in
a small SQLite file with ``secure_delete`` (deleted pages are overwritten), wrapped by the site's
master key. Forgetting a person deletes their data key, so any copy of the ciphertext (a KV revision,
a backup, a disk block) is noise from then on, and purges the KV entry as well.

A data key must be on disk before the record that needs it is acknowledged, so key writes are
synchronous; they run in a thread and are committed in groups (one fsync for every key that arrived
meanwhile), because an fsync per intake on the event loop was measured to stall a site's service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.aio.client import Client as NATS
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from shared.subjects import site_id, token


def master_key(path: Path) -> bytes:
    """The site's master key, made on first use (0600). In containers, mount it as a secret."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} must hold exactly 32 bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


class Vault:
    def __init__(self, local: NATS, site: str, name: str, master: bytes, keys_db: Path) -> None:
        self._local = local
        self.bucket = f"vault_{site_id(site).replace('-', '_')}_{token(name, 'vault name')}"
        self._master = AESGCM(master)
        self._keys_path = keys_db
        self._kv: KeyValue | None = None
        self._db: sqlite3.Connection | None = None
        self._writer: _KeyWriter | None = None
        self._pending: dict[str, bytes] = {}

    async def open(self) -> Vault:
        js = self._local.jetstream()
        try:
            self._kv = await js.key_value(self.bucket)
        except (NotFoundError, Exception):
            self._kv = await js.create_key_value(bucket=self.bucket, history=1)
        self._keys_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(self._keys_path, check_same_thread=True)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS data_keys (ref TEXT PRIMARY KEY, wrapped BLOB)"
        )
        self._writer = _KeyWriter(self._keys_path)
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "open() the vault first"
        return self._kv

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "open() the vault first"
        return self._db

    @property
    def writer(self) -> _KeyWriter:
        assert self._writer is not None, "open() the vault first"
        return self._writer

    async def put(self, ref: str, record: dict[str, Any]) -> None:
        """Store (or replace) the record under a pseudonymous reference."""
        token(ref, "vault reference")
        key = await self._data_key(ref, create=True)
        assert key is not None
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(key).encrypt(nonce, json.dumps(record).encode(), ref.encode())
        await self.kv.put(ref, base64.b64encode(sealed))

    async def create(self, ref: str, record: dict[str, Any]) -> bool:
        """Store the record only where the reference holds none: a live record is never
        overwritten (a reused id with other content must not replace a person's contact).
        Returns whether it was written. A reference forgotten before is empty again."""
        token(ref, "vault reference")
        key = await self._data_key(ref, create=True)
        assert key is not None
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(key).encrypt(nonce, json.dumps(record).encode(), ref.encode())
        try:
            await self.kv.create(ref, base64.b64encode(sealed))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def get(self, ref: str) -> dict[str, Any] | None:
        """The record, or None when it never existed or was forgotten."""
        key = await self._data_key(ref, create=False)
        if key is None:
            return None
        try:
            entry = await self.kv.get(ref)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        sealed = base64.b64decode(entry.value)
        plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], ref.encode())
        record: dict[str, Any] = json.loads(plain)
        return record

    async def forget(self, ref: str) -> None:
        """Crypto-shred: delete the data key (pages overwritten), then purge the ciphertext."""
        await self.writer.submit("DELETE FROM data_keys WHERE ref = ?", (ref,))
        self._pending.pop(ref, None)
        with contextlib.suppress(KeyNotFoundError):
            await self.kv.purge(ref)

    async def _data_key(self, ref: str, *, create: bool) -> bytes | None:
        wrapped = self._pending.get(ref)
        if wrapped is None:
            row = self.db.execute("SELECT wrapped FROM data_keys WHERE ref = ?", (ref,)).fetchone()
            wrapped = row[0] if row is not None else None
        if wrapped is not None:
            return self._master.decrypt(wrapped[:12], wrapped[12:], ref.encode())
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = nonce + self._master.encrypt(nonce, key, ref.encode())
        self._pending[ref] = wrapped  # a concurrent put for the same ref reuses this key
        try:
            await self.writer.submit(
                "INSERT OR IGNORE INTO data_keys VALUES (?, ?)", (ref, wrapped)
            )
        finally:
            self._pending.pop(ref, None)
        return await self._data_key(ref, create=False)


def _connect(path: Path, *, check_same_thread: bool) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    db.execute("PRAGMA secure_delete=ON")
    db.execute("PRAGMA journal_mode=DELETE")  # no WAL copies of deleted keys linger
    db.execute("PRAGMA busy_timeout=5000")
    return db


class _KeyWriter:
    """Key inserts and deletes, committed in groups on one worker thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._queue: list[tuple[str, tuple[Any, ...], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-keys")

    async def submit(self, sql: str, params: tuple[Any, ...]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((sql, params, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await loop.run_in_executor(self._thread, self._write, [(q, p) for q, p, _ in batch])
            except Exception as exc:
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            for _, _, future in batch:
                future.set_result(None)

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        if self._db is None:
            self._db = _connect(self._path, check_same_thread=True)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self._db.execute(sql, params)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()

        self._thread.submit(shut).result()
        self._thread.shutdown()
