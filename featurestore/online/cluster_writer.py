"""Writing a view's rows to a Redis Cluster: each primary gets its own rows, framed as on a
single server (featurestore.online.writer), on a connection of its own, and the primaries
work at the same time.

The rows of a batch are split by the node that holds their key (featurestore.online.cluster
Topology), and sent round trip by round trip to one node after the other: a node works on its
round trip while fs frames and sends the next node's, and a node's replies are read only
when its next round trip is sent, so every primary has one round trip in flight.

What differs from a single server, and why the guarantees hold (docs/online-store.md):

* A fresh generation's plain writes go without the WATCH of the lock: the lock lives in one
  slot and a transaction cannot span nodes. A stalled writer that lost its lock can only
  write into its own generation, which is never published (publishing is a script in the
  lock's slot that checks the lock first) and is retired and deleted by the next sync.
* The compare-and-write script of an incremental sync takes its entity keys as arguments,
  not as declared keys (a script's declared keys must share a slot), and runs on the node
  that holds them (`allow-cross-slot-keys`). It cannot check the lock on another node; never
  older over newer still holds per key, as the comparison is on the server.
* A reply that says the key lives elsewhere (MOVED, ASK: slots migrating; a non-local key
  inside the script) sends that round trip's rows again through redis-py's cluster client,
  which follows redirections, and the slot map is learned again before the next round trip.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from featurestore.online import resp
from featurestore.online.cluster import Topology, is_cluster
from featurestore.online.connection import checked_out
from featurestore.online.state import LOCK_LOST
from featurestore.online.writer import WRITE_SCRIPT, EncodedRows, ViewWriter, _RoundTrip

if TYPE_CHECKING:
    import redis
    from redis.cluster import RedisCluster
    from redis.connection import Connection

    from featurestore.online.codec import ViewSchema
    from featurestore.online.lock import SyncLock

_LOCK_CHECK = f"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return '{LOCK_LOST}' end\n"
assert _LOCK_CHECK in WRITE_SCRIPT
# ARGV: the number n of entity keys, the n keys, then WRITE_SCRIPT's ARGV. Rebuilt into the
# KEYS and ARGV WRITE_SCRIPT reads, less its lock check (the lock is on another node).
CLUSTER_WRITE_SCRIPT = (
    "#!lua flags=allow-cross-slot-keys\n"
    "local n = tonumber(ARGV[1])\n"
    "local KEYS = {''}\n"
    "for i = 1, n do KEYS[i + 1] = ARGV[i + 1] end\n"
    "local rest = {}\n"
    "for i = n + 2, #ARGV do rest[#rest + 1] = ARGV[i] end\n"
    "local ARGV = rest\n" + WRITE_SCRIPT.replace(_LOCK_CHECK, "")
)

NOT_LOCAL = "non local key"
"""The error of a script that touched a key another node serves (its slot moved)."""


@contextmanager
def view_writer(
    client: "redis.Redis",
    schema: "ViewSchema",
    fresh: bool,
    lock: "SyncLock",
    after_round_trip: Callable[[int], None] = lambda rows: None,
) -> Iterator["ViewWriter | ClusterWriter"]:
    """The writer for `client`: a ViewWriter on one connection of a single server, or a
    ClusterWriter with one per primary of a cluster."""
    if not is_cluster(client):
        with checked_out(client) as connection:
            yield ViewWriter(client, connection, schema, fresh, lock, after_round_trip)
        return
    writer = ClusterWriter(client, schema, fresh, lock, after_round_trip)  # type: ignore[arg-type]
    try:
        yield writer
    except BaseException:
        writer.close(broken=True)
        raise
    writer.close(broken=False)


class NodeWriter(ViewWriter):
    """A ViewWriter for one primary of a cluster: no fence transaction, the cluster's script,
    and a round trip redirected elsewhere written again through the cluster client."""

    def __init__(self, cluster: "RedisCluster", node: "redis.Redis", connection: "Connection", schema, fresh, lock, after):
        super().__init__(node, connection, schema, fresh, lock, after)
        self.cluster = cluster
        self.node = node
        self.redirected = False
        self._sources: list[tuple[EncodedRows, int, int]] = []
        if not fresh:
            sha = node.script_load(CLUSTER_WRITE_SCRIPT)
            _, lock_key, header, words = self._script_words
            self._script_words = (resp.bulk(sha), lock_key, header, words)

    def _declared_keys(self, count: int, lock_key: bytes) -> bytes:
        return resp.bulk("0") + resp.bulk(str(count))

    def _framed(self, rows: EncodedRows, start: int, stop: int) -> Iterator[_RoundTrip]:
        for round_trip in super()._framed(rows, start, stop):
            self._sources.append((rows, start, stop))
            yield round_trip

    def _send(self, round_trip: _RoundTrip) -> None:
        self.connection.send_packed_command(round_trip.payload, check_health=False)
        self._in_flight.append(round_trip)
        while len(self._in_flight) > 1:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        from redis.exceptions import AskError, ClusterDownError, ResponseError, TryAgainError

        round_trip = self._in_flight.popleft()
        rows, start, stop = self._sources.pop(0)
        replies, redirected = [], None
        for _ in range(round_trip.replies):
            try:
                replies.append(self.connection.read_response())
            except ResponseError as error:  # read whole: the next replies are still readable
                if not isinstance(error, (AskError, TryAgainError, ClusterDownError)) and NOT_LOCAL not in str(error):
                    raise
                redirected = error
        if redirected is not None:
            self.redirected = True
            self._write_through_cluster(rows, start, stop)
        elif self.fresh:
            self.written += round_trip.rows
        else:
            for written, skipped in replies:  # the cluster's script checks no lock: see above
                self.written += written
                self.skipped_older += skipped
        self.after_round_trip(round_trip.rows)

    def _write_through_cluster(self, rows: EncodedRows, start: int, stop: int) -> None:
        """Rows `start` to `stop` again, a command per row, through the cluster client, which
        follows MOVED and ASK; rows already written are written again alike."""
        schema = self.schema
        names = [schema.timestamp, *([schema.created_at] if schema.created_at else []), *schema.feature_names]
        header = [self.lock.value, str(len(schema.features)), schema.timestamp, schema.created_at or "", *schema.feature_names]
        pipe = self.cluster.pipeline(transaction=False) if self.fresh else None
        for i in range(start, stop):
            key = rows.keys[i].as_py()
            created = rows.created_at[i].as_py() if rows.created_at is not None else None
            features = [texts[i].as_py() for texts in rows.features]
            lifetime = rows.expire_ms[i].as_py()
            timestamp = rows.timestamp[i].as_py()
            if pipe is not None:
                values = [timestamp, *([created] if schema.created_at else []), *features]
                pipe.hset(key, mapping={n: v for n, v in zip(names, values) if v is not None})
                if lifetime > 0:
                    pipe.pexpire(key, lifetime)
                continue
            flags = "".join("0" if value is None else "1" for value in features)
            words = [str(lifetime), timestamp, created or "", flags, *(value or "" for value in features)]
            written, skipped = self.cluster.eval(CLUSTER_WRITE_SCRIPT, 1, key, 1, key, *header, *words)
            self.written += written
            self.skipped_older += skipped
        if pipe is not None:
            pipe.execute()
            self.written += stop - start


class ClusterWriter:
    """Writes encoded rows of one view to every primary of a cluster; counts as ViewWriter."""

    def __init__(self, cluster: "RedisCluster", schema, fresh: bool, lock: "SyncLock", after_round_trip):
        self.cluster = cluster
        self.schema, self.fresh, self.lock, self.after_round_trip = schema, fresh, lock, after_round_trip
        self.topology = Topology(cluster)
        self._writers: dict[str, NodeWriter] = {}
        self._done: list[NodeWriter] = []

    @property
    def written(self) -> int:
        return sum(w.written for w in [*self._writers.values(), *self._done])

    @property
    def skipped_older(self) -> int:
        return sum(w.skipped_older for w in [*self._writers.values(), *self._done])

    def write(self, rows: EncodedRows) -> None:
        import numpy as np

        if any(writer.redirected for writer in self._writers.values()):
            self._relearn()
        owners = self.topology.owners_of(rows.keys)
        owners[owners < 0] = 0  # no node serves the slot: any node says so (CLUSTERDOWN)
        parts = [(index, self._take(rows, np.flatnonzero(owners == index))) for index in range(len(self.topology.nodes))]
        step = ViewWriter.rows_per_round_trip
        # Round-robin, a round trip per node at a time, so every node has work in flight.
        for start in range(0, max(len(part) for _, part in parts), step):
            for index, part in parts:
                if start < len(part):
                    self._writer(index).write(self._slice(part, start, start + step))

    def finish(self) -> None:
        for writer in self._writers.values():
            writer.finish()

    def close(self, broken: bool) -> None:
        for writer in [*self._writers.values(), *self._done]:
            if broken:
                writer.connection.disconnect()  # replies may be left unread on it
            writer.node.connection_pool.release(writer.connection)

    def _writer(self, index: int) -> NodeWriter:
        node = self.topology.nodes[index]
        writer = self._writers.get(node.name)
        if writer is None:
            client = self.topology.redis_of(index)
            connection = client.connection_pool.get_connection()
            writer = NodeWriter(self.cluster, client, connection, self.schema, self.fresh, self.lock, self.after_round_trip)
            self._writers[node.name] = writer
        return writer

    def _relearn(self) -> None:
        """Slots moved: learn the map again; a node no longer primary gets no more rows."""
        for writer in self._writers.values():
            writer.finish()
            writer.redirected = False
        self.cluster.nodes_manager.initialize()
        self.topology = Topology(self.cluster)
        names = {node.name for node in self.topology.nodes}
        for name in [name for name in self._writers if name not in names]:
            self._done.append(self._writers.pop(name))

    @staticmethod
    def _take(rows: EncodedRows, indices) -> EncodedRows:
        pick = lambda array: None if array is None else array.take(indices)  # noqa: E731
        return EncodedRows(
            pick(rows.keys), pick(rows.timestamp), pick(rows.created_at), [pick(f) for f in rows.features], pick(rows.expire_ms)
        )

    @staticmethod
    def _slice(rows: EncodedRows, start: int, stop: int) -> EncodedRows:
        if start == 0 and stop >= len(rows):
            return rows
        cut = lambda array: None if array is None else array.slice(start, stop - start)  # noqa: E731
        return EncodedRows(
            cut(rows.keys), cut(rows.timestamp), cut(rows.created_at), [cut(f) for f in rows.features], cut(rows.expire_ms)
        )
