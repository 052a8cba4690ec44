"""A sync stopped past its lock's expiry must not write another key when it resumes: every
round trip of its writes is refused by Redis itself once the lock is not its own. (The red
team's repro: SIGSTOP a full sync mid-write, wait past the lock's expiry, run another full
sync, SIGCONT the first: it used to write thousands of keys into a generation the second had
retired and forgotten, keys that no later sync deleted.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from featurestore.errors import EXIT_LOCKED, EXIT_ONLINE
from tests.conftest import project_env
from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

ENTITIES = 200_000
LOCK_SECONDS = 2


def start_sync(project, online) -> subprocess.Popen:
    environment = {
        **project_env(),
        "FS_REDIS_URL": online.url,
        "FS_KEY_PREFIX": online.prefix,
        "FS_SYNC_LOCK_SECONDS": str(LOCK_SECONDS),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "featurestore.cli", "sync", "--full", "--project-dir", str(project.root)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_sync_resumed_after_its_lock_expired_writes_nothing(tiny, online):
    tiny.set_rows([row(f"c{i:06d}", 20, orders=1) for i in range(ENTITIES)])
    stale = start_sync(tiny, online)
    try:
        # Stop it once it is writing its generation, long before it is done.
        wait_for(lambda: online.client.hget(f"{online.prefix}:{TINY_VIEW}:meta", "pending_generation") == "1"
                 and any(True for _ in online.client.scan_iter(match=f"{online.prefix}:{TINY_VIEW}:gen1:*", count=1000)),
                 seconds=60)
        os.kill(stale.pid, signal.SIGSTOP)
        time.sleep(LOCK_SECONDS + 1)  # its lock expires: nothing renews it

        # Another full sync takes the lock, retires and deletes generation 1, publishes 2.
        fresh = start_sync(tiny, online)
        assert fresh.wait(120) == 0, fresh.stderr.read()
        assert online.meta(TINY_VIEW)["generation"] == "2" and "retired" not in online.meta(TINY_VIEW)
    finally:
        os.kill(stale.pid, signal.SIGCONT)
    code = stale.wait(60)
    error = stale.stderr.read()

    # The resumed sync stopped at its next round trip, and said why in one line.
    assert code in (EXIT_ONLINE, EXIT_LOCKED), error
    assert error.startswith("error: ") and error.count("\n") == 1 and "lock" in error
    # Nothing of generation 1 came back; generation 2 is whole and is all there is.
    assert online.keys(f"{TINY_VIEW}:gen1:*") == []
    assert len(online.entity_keys(TINY_VIEW)) == ENTITIES
    assert tiny.store().verify_online(sample=200).mismatches == []


def test_a_round_trip_refused_by_the_syncs_own_renewal_is_sent_again(tiny, online, monkeypatch):
    """The renewal thread's PEXPIRE also changes the WATCHed lock: EXEC refuses the round trip,
    the lock is still the sync's, so the writer sends it again and the sync completes."""
    from featurestore.online import writer

    tiny.set_rows([row(f"c{i}", 20, orders=i) for i in range(30)])
    monkeypatch.setattr(writer.ViewWriter, "rows_per_round_trip", 10)
    lock_key, renewed = f"{online.prefix}:sync-lock", []
    original = writer.ViewWriter._send

    def send(self, round_trip):
        if renewed or not self.fresh:
            return original(self, round_trip)
        head, tail = self._fence
        self.connection.send_packed_command([head, *round_trip.payload], check_health=False)
        name = self.connection.client_name or ""
        # Once the server has queued the round trip's commands, renew the lock as the
        # renewal thread does, then let EXEC go.
        wait_for(lambda: any(c["name"] == name and int(c["multi"]) >= round_trip.replies
                             for c in online.client.client_list()), seconds=10)
        online.client.pexpire(lock_key, 60_000)
        renewed.append(round_trip.rows)
        self.connection.send_packed_command([tail], check_health=False)
        self._in_flight.append(round_trip)

    refused, original_refused = [], writer.ViewWriter._refused

    def spy(self, round_trip):
        refused.append(round_trip.retries)
        return original_refused(self, round_trip)

    monkeypatch.setattr(writer.ViewWriter, "_send", send)
    monkeypatch.setattr(writer.ViewWriter, "_refused", spy)
    result = tiny.store().sync(full=True).views[0]
    assert renewed == [10] and refused == [0]  # refused once, then sent again
    assert result.keys_written == 30
    assert len(online.entity_keys(TINY_VIEW)) == 30
    assert tiny.store().verify_online().mismatches == []
