"""Redis URLs are checked before redis-py reads them: one line naming where the URL came
from, its password masked, exit 2 (featurestore.online.connection.check_redis_url)."""

from __future__ import annotations

import pytest

from featurestore.errors import EXIT_USAGE, UsageError
from featurestore.online.connection import VALID_URLS, check_redis_url

REFUSED = {
    # url: the message after "<origin>: "
    "redis//:s3cr3t@127.0.0.1:1/0": "<malformed URL> is not a Redis URL",
    "localhost:6379": "<malformed URL> is not a Redis URL",
    "redis://:s3?cr3t@host/0": "<malformed redis URL> is not scheme://[user:password@]host[:port][/db][?key=value] "
    "(write a password's '?' as %3F)",
    "http://:s3cr3t@127.0.0.1:1/0": "http://:***@127.0.0.1:1/0 is not a Redis URL",
    "redis://:k3y/b/s3cr3t@127.0.0.1:1/0": "redis://:***@127.0.0.1:1/0 has a password holding '/' or '#', which end "
    "a URL's host part; write them as %2F and %23",
    "redis://:s3#cr3t@host/0": "redis://:***@host/0 has a password holding '/' or '#', which end a URL's host part; "
    "write them as %2F and %23",
    "redis://:s3cr3t@host:99999/0": "redis://:***@host:99999/0 has port 99999, which is not 1 to 65535",
    "redis://host/zero?password=s3cr3t": "redis://host/zero?password=*** has path /zero, which is not a database "
    "number such as /0",
    "unix://": "unix:// names no socket",
}


@pytest.mark.parametrize("origin", ["--redis-url", "FS_REDIS_URL", "online.redis_url in feature_store.yml"])
@pytest.mark.parametrize("url", REFUSED)
def test_a_bad_redis_url_is_one_masked_line_naming_its_origin(url, origin):
    with pytest.raises(UsageError) as refused:
        check_redis_url(url, origin)
    assert str(refused.value) == f"{origin}: {REFUSED[url]} ({VALID_URLS})"
    assert refused.value.exit_code == EXIT_USAGE
    assert refused.value.__cause__ is None and refused.value.__context__ is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:p@ss@127.0.0.1:6379",
        "rediss://user:s3cr3t@host:6380/15?password=x&ssl_cert_reqs=none",
        "redis://host?db=2",
        "unix:///tmp/redis.sock?db=1",
    ],
)
def test_a_good_redis_url_passes(url):
    check_redis_url(url, "--redis-url")
