"""Redis Cluster: the start-up nodes of a `redis+cluster://` URL, the client, and which node
holds which key.

A cluster is given where a Redis is given today (--redis-url, FS_REDIS_URL,
`online.redis_url`), as its start-up nodes:

    redis+cluster://[user:password@]host:port[,host:port...][?option=value...]
    rediss+cluster://...                                  the same over TLS

The client is redis-py's RedisCluster: it learns every node and slot from the first node
that answers, follows MOVED and ASK, and fs's small commands (the lock, the meta hash, its
scripts) go through it. The two hot paths (writing a view's rows, reading many entities)
frame RESP themselves (featurestore.online.resp) and send each node its own part on a
connection of that node: `Topology` says which node holds each key.

docs/online-store.md says which operations are atomic on a cluster and why each guarantee
of the single server still holds.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import unquote

from featurestore.online.resp import ENCODING
from featurestore.redact import split_url

if TYPE_CHECKING:
    import redis
    from redis.cluster import ClusterNode, RedisCluster

SCHEMES = ("redis+cluster", "rediss+cluster")
SLOTS = 16384

OPTIONS: dict[str, Any] = {
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "ssl_cert_reqs": str,
    "ssl_ca_certs": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_check_hostname": lambda text: text.lower() in ("1", "true", "yes"),
}
"""The query options a cluster URL takes, and how each value is read."""


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in SCHEMES


@dataclass(frozen=True)
class ClusterUrl:
    nodes: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    tls: bool
    options: dict[str, Any]


def url_problem(url: str) -> str | None:
    """What is wrong with a cluster URL, in words that never quote a password; None if nothing."""
    try:
        parse_cluster_url(url)
    except ValueError as problem:
        return str(problem)
    return None


def parse_cluster_url(url: str) -> ClusterUrl:
    parts = split_url(url)
    if parts is None:
        raise ValueError("is not scheme://[user:password@]host:port[,host:port...][?key=value]")
    if parts.path not in ("", "/", "/0"):
        raise ValueError(f"has path {parts.path}: a cluster has only database 0, so give none")
    nodes = []
    for node in parts.host.split(","):
        host, colon, port = node.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"names node '{node}', which is not host:port")
        if not 0 < int(port) < 65536:
            raise ValueError(f"has port {port}, which is not 1 to 65535")
        nodes.append((host.strip("[]"), int(port)))
    options = {}
    for key, value in parts.query:
        if key not in OPTIONS or value is None:
            raise ValueError(f"has option '{key}', which a cluster URL does not take (valid: {', '.join(OPTIONS)})")
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            raise ValueError(f"has option {key}={value}, which is not a number") from None
    username = password = None
    if parts.userinfo is not None:
        user, colon, secret = parts.userinfo.partition(":")
        username, password = (unquote(user) or None, unquote(secret)) if colon else (None, unquote(user))
    return ClusterUrl(tuple(nodes), username, password, parts.scheme == "rediss+cluster", options)


def cluster_client(url: str, retries: int, name: str) -> "RedisCluster":
    """A RedisCluster client for `url` (checked by `url_problem` first); it connects at once."""
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    parsed = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        username=parsed.username,
        password=parsed.password,
        ssl=parsed.tls,
        decode_responses=True,
        socket_connect_timeout=parsed.options.pop("socket_connect_timeout", 3),
        socket_timeout=parsed.options.pop("socket_timeout", 60),
        # As on a single server: a sync never sends a command again (it could run twice);
        # MOVED and ASK are followed whatever this says (redis-py's redirection loop).
        retry=Retry(NoBackoff(), retries),
        client_name=name,
        **parsed.options,
    )


def is_cluster(client: Any) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def key_slot(key: bytes) -> int:
    """The cluster slot of a key: CRC16 of the key, or of its hash tag (the text inside the
    first `{...}`, when not empty)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key, 0) % SLOTS


class Topology:
    """Which primary holds each slot, as the client last learned it."""

    def __init__(self, client: "RedisCluster"):
        import numpy as np

        self.client = client
        manager = client.nodes_manager
        if not manager.slots_cache:
            manager.initialize()
        primaries: dict[str, "ClusterNode"] = {}
        owner = np.zeros(SLOTS, dtype=np.int32)
        names: list[str] = []
        for slot in range(SLOTS):
            nodes = manager.slots_cache.get(slot)
            if not nodes:
                owner[slot] = -1
                continue
            node = nodes[0]
            if node.name not in primaries:
                primaries[node.name] = node
                names.append(node.name)
            owner[slot] = names.index(node.name)
        self.nodes: list["ClusterNode"] = [primaries[name] for name in names]
        self.owner = owner

    def node_indices(self, keys: Sequence[bytes]) -> "Any":
        """The index in `nodes` of the node holding each key (-1: a slot nobody serves)."""
        import numpy as np

        slots = np.fromiter((key_slot(key) for key in keys), dtype=np.int32, count=len(keys))
        return self.owner[slots]

    def owners_of(self, keys: "Any") -> "Any":
        """`node_indices` of an Arrow string array of keys. (CRC16 a key at a time in C, 1.5 us
        a key; numpy a byte position at a time over every key measured twice slower.)"""
        return self.node_indices([key.encode(ENCODING) for key in keys.to_pylist()])

    def redis_of(self, index: int) -> "redis.Redis":
        """The client of one node, whose connection pool fs's own framing borrows from."""
        node = self.nodes[index]
        if node.redis_connection is None:
            self.client.nodes_manager.create_redis_connections([node])
        return node.redis_connection
