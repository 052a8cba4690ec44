"""Reading online features from a Redis Cluster: the single server's read, each node asked
for its own keys, every node at the same time.

A read is one round trip per node, in parallel: every node's HMGETs are written before any
reply is read. The node of the meta hashes (one slot: featurestore.online.keys) gets, as on a
single server, the meta HMGETs first and last, around its own entities.

Why a reader still never sees a generation half-written or half-deleted, now that the
entities are on other nodes than the meta hashes, whose commands are not ordered with theirs:

* written whole: a reader reads entities in the generation it guessed, which it saw in a meta
  hash in an earlier round trip: published then, so written whole before this round trip was
  sent, and every entity read of it comes after.
* not yet deleted: the last meta read saw the generation still in use, at a moment inside
  this round trip; the entity reads are inside it too. A sync deletes a retired generation
  only DELETE_GRACE_SECONDS after publishing the next (`wait_for_readers`); a round trip that
  took longer than READ_BOUND_SECONDS is followed by one more read of the meta hashes, after
  every entity reply is in, which must still name the generation. Both spans are measured,
  each on one machine's monotonic clock, so the machines' clocks need not agree.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from featurestore.online.cluster import Topology, is_cluster
from featurestore.online.connection import OnlineLocation, online_errors
from featurestore.online.reader import OnlineReader
from featurestore.online.resp import ENCODING, hmget_commands
from featurestore.online.state import Meta
from featurestore.online.tile_reader import WindowedReader

if TYPE_CHECKING:
    import redis
    from redis.connection import Connection

READ_BOUND_SECONDS = 1.0
"""A cluster read whose round trips took longer checks the meta hashes once more (see the
module's docstring)."""
DELETE_GRACE_SECONDS = 2.0
"""How long after publishing a generation a sync on a cluster waits to delete the one it
replaced: longer than READ_BOUND_SECONDS, so no trusted read can still be reading it."""


def online_reader(client: "redis.Redis", location: OnlineLocation) -> OnlineReader:
    """The reader for `client`: a ClusterReader for a cluster."""
    return ClusterReader(client, location) if is_cluster(client) else WindowedReader(client, location)


def wait_for_readers(client: "redis.Redis", meta_key: str, published_at: float) -> None:
    """On a cluster, when the view has a retired generation to delete, wait until
    DELETE_GRACE_SECONDS have passed since `published_at` (time.monotonic())."""
    if is_cluster(client) and client.hexists(meta_key, Meta.RETIRED):
        time.sleep(max(0.0, DELETE_GRACE_SECONDS - (time.monotonic() - published_at)))


Group = tuple[list[str], tuple[str, ...]]
"""Keys, and the fields each one's HMGET asks for."""


class ClusterReader(WindowedReader):
    """An OnlineReader whose round trip goes to every node holding a key asked for."""

    def __init__(self, client: "redis.Redis", location: OnlineLocation):
        super().__init__(client, location)
        self.topology = Topology(client)  # type: ignore[arg-type]
        self._stale = False

    def _request(self, plans, generations) -> tuple[list[Group], int]:  # type: ignore[override]
        meta_keys = [self.keyspace.meta_key(plan.view_name) for plan in plans]
        meta: Group = (meta_keys, (Meta.GENERATION, Meta.SCHEMA))
        groups = [meta]
        for plan, generation in zip(plans, generations):
            if generation is not None:
                base = self.keyspace.entity_base(plan.view_name, int(generation))
                groups.append(([base + suffix for suffix in plan.asked], plan.fields))
        groups.append(meta)
        return groups, sum(len(keys) for keys, _ in groups)

    def _round_trip(self, request: tuple[list[Group], int]) -> list[Any]:  # type: ignore[override]
        groups, count = request
        started = time.monotonic()
        replies = self._guarded(groups, count)
        if time.monotonic() - started > READ_BOUND_SECONDS:
            # Too slow to trust the grace: read the meta hashes once more, after every entity
            # reply is in. A generation still in use now was not retired (nor deleted) while
            # the entities were read; one that moved makes `read` read again.
            metas = groups[-1]
            replies[-len(metas[0]) :] = self._guarded([metas], len(metas[0]))
        return replies

    def _guarded(self, groups: list[Group], count: int) -> list[Any]:
        """`_exchange` in one-line errors; once more, with the slot map learned again, when a
        connection broke (a node failed over, or closed an idle connection)."""
        import redis

        for attempt in range(2):
            with online_errors(self.location, "reading online features"):
                try:
                    return self._exchange(groups, count)
                except (redis.ConnectionError, redis.TimeoutError):
                    self._drop_connections()
                    if attempt:
                        raise
                    self.client.nodes_manager.initialize()  # type: ignore[attr-defined]
                    self._stale = True
                except BaseException:
                    self._drop_connections()
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, groups: list[Group], count: int) -> list[Any]:
        """Every node's HMGETs sent, then every reply read; a reply that says the key moved is
        read again through the cluster client, which follows the redirection."""
        from redis.exceptions import AskError, ClusterDownError, ResponseError, TryAgainError

        if self._stale:
            self.topology, self._stale = Topology(self.client), False  # type: ignore[arg-type]
        per_node: dict[int, list[tuple[list[int], list[str], tuple[str, ...]]]] = {}
        at = 0
        for keys, fields in groups:
            owners = self.topology.node_indices([key.encode(ENCODING) for key in keys])
            parts: dict[int, tuple[list[int], list[str]]] = {}
            for offset, (key, owner) in enumerate(zip(keys, owners.tolist())):
                positions, node_keys = parts.setdefault(max(owner, 0), ([], []))
                positions.append(at + offset)
                node_keys.append(key)
            for owner, (positions, node_keys) in parts.items():
                per_node.setdefault(owner, []).append((positions, node_keys, fields))
            at += len(keys)
        connections = {owner: self._node_connection(owner) for owner in per_node}
        for owner, parts_of_node in per_node.items():
            payload = b"".join(hmget_commands(keys, fields) for _, keys, fields in parts_of_node)
            connections[owner].send_packed_command([payload])
        replies: list[Any] = [None] * count
        moved: list[tuple[int, str, tuple[str, ...]]] = []
        for owner, parts_of_node in per_node.items():
            read = connections[owner].read_response
            for positions, keys, fields in parts_of_node:
                for position, key in zip(positions, keys):
                    try:
                        replies[position] = read()
                    except (AskError, TryAgainError, ClusterDownError):
                        moved.append((position, key, fields))
                    except ResponseError:
                        raise
        for position, key, fields in moved:
            replies[position] = self.client.hmget(key, list(fields))
            self._stale = True
        return replies

    def _node_connection(self, owner: int) -> "Connection":
        """This thread's connection to a node (a forked process takes new ones)."""
        own = self._own
        if getattr(own, "node_pid", None) != os.getpid():
            own.nodes, own.node_pid = {}, os.getpid()
        node = self.topology.nodes[owner]
        connection = own.nodes.get(node.name)
        if connection is None:
            connection = own.nodes[node.name] = self.topology.redis_of(owner).connection_pool.get_connection()
        return connection

    def _drop_connections(self) -> None:
        for connection in getattr(self._own, "nodes", {}).values():
            connection.disconnect()  # replies may be left unread on it
        self._own.nodes = {}
