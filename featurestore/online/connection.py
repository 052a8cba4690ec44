"""Which Redis a project uses, under which key prefix, and opening it with clear errors.

The URL comes from, in order: `--redis-url` (or the `redis_url` argument of the Python API),
the FS_REDIS_URL environment variable, `online.redis_url` in feature_store.yml, and last a
redis-server that fs starts for the project (featurestore.online.embedded). The prefix comes
from FS_KEY_PREFIX, `online.key_prefix`, or `fs:<dbt project name>`.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from featurestore.errors import OnlineStoreError, UsageError
from featurestore.online.cluster import cluster_client, is_cluster_url, url_problem
from featurestore.online.keys import Keyspace
from featurestore.project.dbt_project import Project
from featurestore.redact import shown_url, split_url

if TYPE_CHECKING:
    import redis
    from redis.connection import Connection

URL_ENV = "FS_REDIS_URL"
PREFIX_ENV = "FS_KEY_PREFIX"
VALID_URLS = "valid: redis://host:port/db, rediss://... for TLS, unix:///path/to/redis.sock"
VALID_CLUSTER_URLS = "valid: redis+cluster://[user:password@]host:port[,host:port...], rediss+cluster://... for TLS"


class ViewStateChanged(Exception):
    """A view's meta hash is not as the sync left it: nothing was started or published.
    Raised by featurestore.online.state; `online_errors` says it in one line."""


class LockVanished(Exception):
    """The sync's lock is gone from Redis (featurestore.online.lock); `online_errors` says it
    in one line, as a failure of the online store."""


@dataclass(frozen=True)
class OnlineLocation:
    """A Redis URL, where it was configured, and the key prefix of the project in it."""

    url: str
    origin: str
    keyspace: Keyspace

    @property
    def shown_url(self) -> str:
        """The URL without its password, for messages."""
        return shown_url(self.url)


def locate(project: Project, redis_url: str | None = None, environment_url: str | None = None) -> OnlineLocation:
    """Where the project's online store is; starts the embedded server if nothing is set.
    `environment_url`: $FS_REDIS_URL as another process read it (an `fs serve` worker, whose
    environment does not hold it), named as from FS_REDIS_URL."""
    prefix = os.environ.get(PREFIX_ENV) or project.settings.key_prefix or f"fs:{project.name}"
    candidates = [
        ("--redis-url", redis_url),
        (URL_ENV, environment_url or os.environ.get(URL_ENV)),
        ("online.redis_url in feature_store.yml", project.settings.redis_url),
    ]
    for origin, url in candidates:
        if url:
            check_redis_url(url, origin)
            return OnlineLocation(url=url, origin=origin, keyspace=Keyspace(prefix, cluster=is_cluster_url(url)))
    from featurestore.online.embedded import embedded_redis_url

    return OnlineLocation(
        url=embedded_redis_url(project.root),
        origin="the project's own redis-server (no Redis URL is configured)",
        keyspace=Keyspace(prefix),
    )


def check_redis_url(url: str, origin: str) -> None:
    """Refuse, in one line that names `origin` and masks the password, a URL that redis-py
    would misread or fail on: it must never parse a bad one, as its errors quote the URL's
    parts (a password holding '/' becomes a "port" in the traceback)."""
    parts = split_url(url)
    problem = None
    if is_cluster_url(url):
        problem = url_problem(url)
    elif not re.match(r"(redis|rediss|unix)://", url):
        problem = "is not a Redis URL"
    elif parts is None:
        problem = "is not scheme://[user:password@]host[:port][/db][?key=value] (write a password's '?' as %3F)"
    elif parts.userinfo is not None and ("/" in parts.userinfo or "#" in parts.userinfo):
        # redis-py's parser ends the host part at the first '/' or '#'.
        problem = "has a password holding '/' or '#', which end a URL's host part; write them as %2F and %23"
    elif parts.scheme == "unix" and parts.path in ("", "/"):
        problem = "names no socket"
    elif parts.scheme != "unix" and parts.port and not 0 < int(parts.port) < 65536:
        problem = f"has port {parts.port}, which is not 1 to 65535"
    elif parts.scheme != "unix" and not re.fullmatch(r"(/\d*)?", parts.path):
        problem = f"has path {parts.path}, which is not a database number such as /0"
    if problem:
        valid = VALID_CLUSTER_URLS if is_cluster_url(url) else VALID_URLS
        raise UsageError(f"{origin}: {shown_url(url)} {problem} ({valid})")


def open_client(location: OnlineLocation, retries: int, name: str = "fs") -> "redis.Redis":
    """A client for `location` that has answered a PING.

    `retries` is how often a command is sent again on a new connection after the old one
    broke: 1 for reads (a pooled connection may have been closed while idle), 0 for syncs,
    which fail and leave the next run to finish the work.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    with online_errors(location, "connecting"):
        try:
            if is_cluster_url(location.url):
                return _cluster_client(location, retries, re.sub(r"\s", "_", name))
            client = redis.Redis.from_url(
                location.url,
                decode_responses=True,
                socket_connect_timeout=3,
                socket_timeout=60,
                retry=Retry(NoBackoff(), retries),
                client_name=re.sub(r"\s", "_", name),
            )
            client.ping()
        except ValueError as error:
            # A query value redis-py cannot use; its message names the key, not the value.
            raise UsageError(f"{location.origin}: {location.shown_url}: {_reason(error)}") from error
        except TypeError as error:
            # A query key redis-py's connections do not take (they are made at the first command).
            unknown = re.search(r"unexpected keyword argument '([^']+)'", str(error))
            if unknown is None:
                raise
            raise UsageError(
                f"{location.origin}: {location.shown_url}: unknown option '{unknown.group(1)}' in the query string "
                "(valid: redis-py's URL options, such as db, socket_timeout or health_check_interval)"
            ) from error
    return client


@contextmanager
def checked_out(client: "redis.Redis") -> Iterator["Connection"]:
    """A connection of the client's pool, for a run of commands whose replies are read later.

    When anything fails inside, the connection is dropped rather than returned for reuse:
    replies may be left unread on it, and the next user would read them as its own.
    """
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        yield connection
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


@contextmanager
def online_errors(location: OnlineLocation, doing: str, hint: str = "") -> Iterator[None]:
    """Turn Redis client errors raised inside, and a view's state changed under a sync,
    into one-line OnlineStoreErrors."""
    import redis

    try:
        yield
    except (ViewStateChanged, LockVanished) as changed:
        raise OnlineStoreError(
            location.shown_url, f"while {doing} in Redis at {location.shown_url}: {changed}", hint
        ) from changed
    except (redis.ConnectionError, redis.TimeoutError) as error:
        verb = "cannot reach" if doing == "connecting" else "lost the connection to"
        raise OnlineStoreError(
            location.shown_url,
            f"{verb} Redis at {location.shown_url} (from {location.origin}) while {doing}: {_reason(error)}",
            hint or ("start it, or point fs at another with --redis-url or FS_REDIS_URL" if doing == "connecting" else ""),
        ) from error
    except redis.RedisError as error:
        raise OnlineStoreError(
            location.shown_url,
            f"Redis at {location.shown_url} refused a command while {doing}: {_reason(error)}",
            hint,
        ) from error
    except redis.exceptions.RedisClusterException as error:
        # Not a RedisError: a cluster with a slot no node serves, or no node reachable.
        raise OnlineStoreError(
            location.shown_url, f"the Redis Cluster at {location.shown_url} failed while {doing}: {_reason(error)}", hint
        ) from error


def _cluster_client(location: OnlineLocation, retries: int, name: str) -> "redis.Redis":
    """A RedisCluster client that has learned the slots from a start-up node, which it
    does on creation (a RedisClusterException when no node answers, said in one line)."""
    from redis.exceptions import RedisClusterException

    try:
        client = cluster_client(location.url, retries, name)
    except RedisClusterException as error:
        raise OnlineStoreError(
            location.shown_url,
            f"cannot reach the Redis Cluster at {location.shown_url} (from {location.origin}): {_reason(error)}",
            "start it, or point fs at another with --redis-url or FS_REDIS_URL",
        ) from error
    client.ping()
    return client  # type: ignore[return-value]


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
