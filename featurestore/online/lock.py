"""One sync at a time per project: a Redis key with an expiry, renewed while the sync runs.

The key holds who took it (host, process, since when) and a random token; only the holder's
token releases or renews it, by a small script, so a sync that outlived its lock can never
delete another sync's. A renewal thread keeps the lock while the warehouse is still
computing; a process that dies stops renewing, and the lock expires within `LOCK_SECONDS`.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from featurestore.errors import SyncLockedError, UsageError
from featurestore.online.connection import LockVanished

if TYPE_CHECKING:
    import redis

LOCK_SECONDS = 60
"""How long the lock lives without renewal: how long a dead sync blocks the next one.
FS_SYNC_LOCK_SECONDS overrides it (tests use a short one)."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def lock_seconds() -> int:
    """LOCK_SECONDS, or FS_SYNC_LOCK_SECONDS when set (a whole number of seconds, 1 or more)."""
    text = os.environ.get("FS_SYNC_LOCK_SECONDS")
    if not text:
        return LOCK_SECONDS
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"FS_SYNC_LOCK_SECONDS is '{text}'; valid: a whole number of seconds, 1 or more")
    return int(text)


class SyncLock:
    """`with SyncLock(client, key): ...` holds the lock for the block, or raises SyncLockedError."""

    def __init__(self, client: "redis.Redis", key: str, seconds: int | None = None):
        self.client = client
        self.key = key
        self.seconds = seconds or lock_seconds()
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        token = secrets.token_hex(8)
        self.value = f"{socket.gethostname()} pid {os.getpid()} since {since} token {token}"
        self.fence_key = f"{key}:fence:{token}"
        """A key of this sync's own that the writer WATCHes, touched once the lock is not ours
        (featurestore.online.writer)."""
        self._lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> "SyncLock":
        if not self.client.set(self.key, self.value, nx=True, px=self.seconds * 1000):
            holder = self.client.get(self.key) or "a sync that just finished"
            left = max(self.client.ttl(self.key), 0)
            raise SyncLockedError(
                self.key,
                holder.rsplit(" token ", 1)[0],
                "another fs sync of this project is running",
                f"try again when it ends; if it died, its lock expires within {left} s",
            )
        self._renewer = threading.Thread(target=self._renew, name="fs-sync-lock", daemon=True)
        self._renewer.start()
        return self

    def check(self) -> None:
        """Raise if the lock was lost (it expired and another sync took it)."""
        if self._lost:
            raise self.lost()

    def held(self) -> bool:
        """Whether Redis still holds this sync's lock."""
        return self.client.get(self.key) == self.value

    def lost(self) -> "SyncLockedError | LockVanished":
        """The error of a sync that found its lock no longer its own: another sync's now, or
        gone from Redis (expired while nobody held it, or the database flushed or restarted,
        which is a failure of the online store, not a second sync)."""
        self._lost = True
        holder = self.client.get(self.key)
        if holder is None:
            return LockVanished(
                f"the sync lock {self.key} is gone from Redis: it expired while this sync was stalled "
                f"for over {self.seconds} s, or the database was flushed or restarted; nothing more was written"
            )
        holder = holder.rsplit(" token ", 1)[0]
        return SyncLockedError(
            self.key,
            holder,
            "this sync lost its lock (it was not renewed in time) and stopped",
            "the views it finished are recorded; run fs sync again for the rest",
        )

    def _renew(self) -> None:
        import redis

        while not self._stop.wait(self.seconds / 3):
            try:
                renewed = self.client.eval(_RENEW, 1, self.key, self.value, self.seconds * 1000)
            except redis.RedisError:
                continue  # the sync itself will meet the same trouble and report it
            if not renewed:
                self._lost = True
                return

    def __exit__(self, *exc) -> None:
        import redis

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self.client.eval(_RELEASE, 1, self.key, self.value)
        except redis.RedisError:
            pass  # Redis is gone: the lock expires by itself, and the sync's own error says why
