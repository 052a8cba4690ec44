"""Connection URLs shown to people: every form of password masked, a malformed URL never
echoed (featurestore.redact)."""

from __future__ import annotations

import pytest

from featurestore.redact import shown_url, split_url

SHOWN = {
    # url: what people see
    "redis://127.0.0.1:6379/0": "redis://127.0.0.1:6379/0",
    "redis://user:s3cr3t@host:6379/0": "redis://user:***@host:6379/0",
    "redis://:s3cr3t@host/0": "redis://:***@host/0",
    "redis://s3cr3t@host/0": "redis://***@host/0",
    "redis://:p@ss@host/0": "redis://:***@host/0",
    "redis://us@r:p@ss@host/0": "redis://us@r:***@host/0",
    "redis://:k3y/b/s3cr3t@host:1/0": "redis://:***@host:1/0",
    "redis://:pa#ss@host/0": "redis://:***@host/0",
    "redis://host:6391/0?password=s3cr3t": "redis://host:6391/0?password=***",
    "redis://host/0?password=p@ss&db=2": "redis://host/0?password=***&db=2",
    "rediss://host/0?ssl_password=s3cr3t&ssl_keyfile=/k.pem&socket_timeout=5": (
        "rediss://host/0?ssl_password=***&ssl_keyfile=***&socket_timeout=5"
    ),
    "redis://host/0?Token=s3cr3t&auth=s3cr3t&api_secret=s3cr3t&pwd=s3cr3t": (
        "redis://host/0?Token=***&auth=***&api_secret=***&pwd=***"
    ),
    "redis://u:s3cr3t@[::1]:6379/0": "redis://u:***@[::1]:6379/0",
    "unix:///tmp/redis.sock?db=1": "unix:///tmp/redis.sock?db=1",
    "unix://:s3cr3t@/tmp/redis.sock": "unix://:***@/tmp/redis.sock",
    "postgresql://fs:s3cr3t@db.example:5432/warehouse": "postgresql://fs:***@db.example:5432/warehouse",
}

MALFORMED = {
    # url: what people see
    "redis//:s3cr3t@127.0.0.1:1/0": "<malformed URL>",
    "redis:s3cr3t@host": "<malformed URL>",
    "localhost:6379": "<malformed URL>",
    "s3cr3t": "<malformed URL>",
    "": "<malformed URL>",
    # a '?' in the password: its first part would read as a port, the rest as a query
    "redis://:s3?cr3t@host/0": "<malformed redis URL>",
    "redis://:s3?x=cr3t@host/0": "<malformed redis URL>",
    "redis://:s3cr3t?password=x@host/0": "<malformed redis URL>",
    "redis://host:s3cr3t/0": "<malformed redis URL>",
    "redis://host/0?pass%77ord=s3cr3t": "<malformed redis URL>",
    "redis://:s3cr3t@host/0\nsecond line": "<malformed redis URL>",
}


@pytest.mark.parametrize("url", SHOWN)
def test_shown_url_masks_every_password(url):
    assert shown_url(url) == SHOWN[url]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_shows_only_its_scheme(url):
    assert split_url(url) is None
    assert shown_url(url) == MALFORMED[url]


@pytest.mark.parametrize("url", [*SHOWN, *MALFORMED])
def test_no_part_of_a_secret_is_shown(url):
    shown = shown_url(url)
    for secret in ("s3cr3t", "p@ss", "k3y/b", "pa#ss", "cr3t"):
        if secret in url:
            assert secret not in shown and secret[:3] not in shown.replace("***", "")


def test_split_url_keeps_a_password_holding_at_and_slash_in_the_userinfo():
    parts = split_url("redis://:k3y/b@x@host:6379/2?db=3")
    assert (parts.scheme, parts.userinfo, parts.host, parts.port, parts.path, parts.query) == (
        "redis", ":k3y/b@x", "host", "6379", "/2", (("db", "3"),)
    )
