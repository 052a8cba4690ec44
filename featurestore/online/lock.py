"""One sync or push at a time per project: a Redis key with an expiry, renewed while the
holder runs.

The key holds who took it (sync or push, host, process, since when) and a random token; only
the holder's token releases or renews it, by a small script, so a sync that outlived its lock
can never delete another sync's. A renewal thread keeps the lock while the warehouse is still
computing; a process that dies stops renewing, and the lock expires within `LOCK_SECONDS`.

Waiting for it is first come, first served (`acquire`): a waiter joins a line in Redis (a
sorted set by arrival, and when each waiter last asked), and the lock is taken only by the
first in line, so a steady stream of pushes cannot starve a sync, nor a stream of syncs a
push. A waiter that stops asking (its process died) leaves the line after `STALE_MS`.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from featurestore.errors import SyncLockedError, UsageError
from featurestore.online.connection import LockVanished

if TYPE_CHECKING:
    import redis

LOCK_SECONDS = 60
"""How long the lock lives without renewal: how long a dead sync blocks the next one.
FS_SYNC_LOCK_SECONDS overrides it (tests use a short one)."""

STALE_MS = 3000
"""A waiter that has not asked for the lock for this long is taken out of the line."""
POLL_SECONDS = 0.05

# KEYS: the lock, the line (a sorted set of waiters' tokens by arrival), when each waiter last
# asked (a hash). ARGV: the lock's value, the waiter's token, the lock's lifetime (ms), whether
# to join the line when the lock cannot be taken now. The lock is taken only when free and
# nobody who still asks is ahead in line.
_TAKE = f"""
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
while true do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not first or first == ARGV[2] then break end
  if now - tonumber(redis.call('HGET', KEYS[3], first) or '0') <= {STALE_MS} then break end
  redis.call('ZREM', KEYS[2], first)
  redis.call('HDEL', KEYS[3], first)
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if redis.call('EXISTS', KEYS[1]) == 0 and (not first or first == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], now)
  redis.call('PEXPIRE', KEYS[2], {STALE_MS * 20})
  redis.call('PEXPIRE', KEYS[3], {STALE_MS * 20})
end
return 0
"""
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

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
    """`with SyncLock(client, key): ...` holds the lock for the block, or raises SyncLockedError
    at once; `with SyncLock(client, key, role="push").acquire(wait): ...` waits its turn first.
    `role` (sync or push) is said to whoever finds the lock held."""

    def __init__(self, client: "redis.Redis", key: str, seconds: int | None = None, role: str = "sync"):
        self.client = client
        self.key = key
        self.role = role
        self.seconds = seconds or lock_seconds()
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.token = token = secrets.token_hex(8)
        self.value = f"{role} on {socket.gethostname()} pid {os.getpid()} since {since} token {token}"
        self.fence_key = f"{key}:fence:{token}"
        """A key of this sync's own that the writer WATCHes, touched once the lock is not ours
        (featurestore.online.writer)."""
        self._lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> "SyncLock":
        if self._renewer is None:  # not taken by acquire() already
            self._take(wait=0.0)
        return self

    def acquire(self, wait: float, give_way_to_syncs: bool = False) -> "SyncLock":
        """Take the lock, waiting in line up to `wait` seconds; with `give_way_to_syncs`,
        give up at once when a sync holds it (a second sync would only repeat its work)."""
        self._take(wait, give_way_to_syncs)
        return self

    def _take(self, wait: float, give_way_to_syncs: bool = True) -> None:
        line = (self.key, f"{self.key}:line", f"{self.key}:asked")
        deadline = time.monotonic() + wait
        try:
            while not self.client.eval(_TAKE, 3, *line, self.value, self.token, self.seconds * 1000, int(wait > 0)):
                holder = self.client.get(self.key)
                if time.monotonic() >= deadline or (give_way_to_syncs and (holder or "").startswith("sync ")):
                    raise self._refused(holder, wait)
                time.sleep(POLL_SECONDS)
        except BaseException:
            if wait > 0:
                self.client.eval(_LEAVE, 2, *line[1:], self.token)
            raise
        self._renewer = threading.Thread(target=self._renew, name="fs-sync-lock", daemon=True)
        self._renewer.start()

    def _refused(self, holder: str | None, wait: float) -> SyncLockedError:
        left = max(self.client.ttl(self.key), 0)
        if holder is None:
            holder, problem = "others waiting before it", f"the project's lock is free, but others wait for it ahead of this {self.role}"
        elif holder.startswith("push "):
            problem = f"a push to this project {'held the lock for over ' + format(wait, 'g') + ' s' if wait else 'holds the lock'}"
        else:
            problem = "another fs sync of this project is running"
        return SyncLockedError(
            self.key,
            holder.rsplit(" token ", 1)[0],
            problem,
            f"try again when it ends; if it died, its lock expires within {left} s",
        )

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
