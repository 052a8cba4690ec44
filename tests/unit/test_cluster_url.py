"""Cluster URLs (`redis+cluster://host:port,host:port`) are checked like single-server ones:
one line naming the origin, the password masked, exit 2; the key layout of a cluster puts
the lock and the meta hashes in one slot and leaves the single server's names as they were."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot as redis_py_key_slot

from featurestore.errors import EXIT_USAGE, UsageError
from featurestore.online.cluster import key_slot, parse_cluster_url
from featurestore.online.connection import VALID_CLUSTER_URLS, check_redis_url
from featurestore.online.keys import Keyspace
from featurestore.redact import shown_url

REFUSED = {
    "redis+cluster://:s3cr3t@a:1,b/0": "redis+cluster://:***@a:1,b/0 names node 'b', which is not host:port",
    "redis+cluster://:s3cr3t@a:1,b:70000": "redis+cluster://:***@a:1,b:70000 has port 70000, which is not 1 to 65535",
    "redis+cluster://a:1/3": "redis+cluster://a:1/3 has path /3: a cluster has only database 0, so give none",
    "rediss+cluster://a:1?password=s3cr3t": "rediss+cluster://a:1?password=*** has option 'password', which a cluster "
    "URL does not take (valid: socket_timeout, socket_connect_timeout, ssl_cert_reqs, ssl_ca_certs, ssl_certfile, "
    "ssl_keyfile, ssl_check_hostname)",
    "redis+cluster://a:1?socket_timeout=soon": "redis+cluster://a:1?socket_timeout=soon has option socket_timeout=soon, "
    "which is not a number",
    "redis+cluster://:s3?cr3t@a:1": "<malformed redis+cluster URL> is not "
    "scheme://[user:password@]host:port[,host:port...][?key=value]",
}


@pytest.mark.parametrize("url", REFUSED)
def test_a_bad_cluster_url_is_one_masked_line(url):
    with pytest.raises(UsageError) as refused:
        check_redis_url(url, "FS_REDIS_URL")
    assert str(refused.value) == f"FS_REDIS_URL: {REFUSED[url]} ({VALID_CLUSTER_URLS})"
    assert refused.value.exit_code == EXIT_USAGE
    assert "s3cr3t" not in str(refused.value)


def test_a_good_cluster_url_gives_its_nodes_and_credentials():
    url = "rediss+cluster://fs:p%40ss@10.0.0.1:7000,[::1]:7001,node-c:7002/?socket_timeout=2.5"
    check_redis_url(url, "--redis-url")
    parsed = parse_cluster_url(url)
    assert parsed.nodes == (("10.0.0.1", 7000), ("::1", 7001), ("node-c", 7002))
    assert (parsed.username, parsed.password, parsed.tls, parsed.options) == ("fs", "p@ss", True, {"socket_timeout": 2.5})
    assert shown_url(url) == "rediss+cluster://fs:***@10.0.0.1:7000,[::1]:7001,node-c:7002/?socket_timeout=2.5"


@given(st.binary(max_size=40))
def test_key_slot_agrees_with_redis_py(key):
    assert key_slot(key) == redis_py_key_slot(key)


def test_known_slots_from_the_redis_cluster_specification():
    # CLUSTER KEYSLOT answers for these (the specification's examples and redis-cli's).
    assert key_slot(b"foo") == 12182
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == redis_py_key_slot(b"foo{}{bar}")  # an empty tag: the whole key


def test_on_a_cluster_the_lock_and_every_meta_hash_share_a_slot_and_single_server_names_stay():
    single, cluster = Keyspace("fs:flight_features"), Keyspace("fs:flight_features", cluster=True)
    assert single.meta_key("carrier_daily") == "fs:flight_features:carrier_daily:meta"
    assert single.lock_key() == "fs:flight_features:sync-lock"
    assert cluster.meta_key("carrier_daily") == "{fs:flight_features}:carrier_daily:meta"
    assert cluster.lock_key() == "{fs:flight_features}:sync-lock"
    slots = {key_slot(k.encode()) for k in (cluster.lock_key(), cluster.lock_key() + ":fence:ab12", cluster.meta_key("a"), cluster.meta_key("route_daily"))}
    assert len(slots) == 1
    assert cluster.entity_base("carrier_daily", 3) == single.entity_base("carrier_daily", 3) == "fs:flight_features:carrier_daily:gen3:"

