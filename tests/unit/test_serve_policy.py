"""fs serve's access policy and limits as the environment sets them (no I/O; the HTTP side is
tests/integration/test_serve_guard.py)."""

from __future__ import annotations

import pytest

from featurestore.errors import UsageError
from featurestore.serve.guard import AccessPolicy, AccessRefused
from featurestore.serve.limits import RequestLimits

TOKEN = "a-token-of-the-server-0123"
JSON = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


def refusal(policy: AccessPolicy, headers: dict, method: str = "POST", writes: bool = True) -> tuple[int, str] | None:
    try:
        policy.check(headers, method, writes)
    except AccessRefused as refused:
        return refused.status, str(refused)
    return None


@pytest.mark.parametrize("token", ["short", "has a space in it 0123456789", "nön-ascii-0123456789abc"])
def test_a_token_fs_serve_cannot_use_is_refused_at_start_without_printing_it(token):
    with pytest.raises(UsageError) as raised:
        AccessPolicy.from_environment(environ={"FS_SERVE_TOKEN": token})
    assert token not in str(raised.value) and str(raised.value).startswith("the token in FS_SERVE_TOKEN is not one fs serve takes")


def test_the_token_file_wins_and_an_unreadable_one_is_one_line(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    environ = {"FS_SERVE_TOKEN_FILE": str(tmp_path / "token"), "FS_SERVE_TOKEN": "another-token-0123456789"}
    assert AccessPolicy.from_environment(environ=environ).token == TOKEN.encode()
    with pytest.raises(UsageError, match=r"FS_SERVE_TOKEN_FILE names .*missing, which cannot be read: No such file"):
        AccessPolicy.from_environment(environ={"FS_SERVE_TOKEN_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    "bind, host, refused",
    [("127.0.0.1", "localhost:6566", False), ("127.0.0.1", "[::1]:6566", False), ("::1", "127.0.0.1", False),
     ("127.0.0.1", "evil.example:6566", True), ("127.0.0.1", "127.0.0.1.evil.example", True),
     ("0.0.0.0", "evil.example:6566", False), ("10.1.2.3", "features.internal", False)],
)
def test_the_host_header_is_checked_only_on_a_loopback_bind(bind, host, refused):
    policy = AccessPolicy.from_environment(bind, environ={"FS_SERVE_TOKEN": TOKEN})
    outcome = refusal(policy, {**JSON, "host": host}, "GET", writes=False)
    assert (outcome is not None and outcome[0] == 403) == refused


def test_an_allowed_origin_may_ask_and_others_may_not():
    policy = AccessPolicy.from_environment(environ={"FS_SERVE_TOKEN": TOKEN, "FS_SERVE_ALLOWED_ORIGINS": "https://app.example.com/"})
    assert refusal(policy, {**JSON, "origin": "https://app.example.com", "sec-fetch-site": "cross-site"}) is None
    assert refusal(policy, {**JSON, "origin": "https://app.example.com.evil"})[0] == 403
    assert refusal(policy, {**JSON, "sec-fetch-site": "same-origin"}) is None  # not a page of another origin


def test_reads_need_the_token_only_when_configured():
    open_reads = AccessPolicy.from_environment(environ={"FS_SERVE_TOKEN": TOKEN})
    closed = AccessPolicy.from_environment(environ={"FS_SERVE_TOKEN": TOKEN, "FS_SERVE_READS_NEED_TOKEN": "1"})
    headers = {"content-type": "application/json; charset=utf-8"}
    assert refusal(open_reads, headers, writes=False) is None
    assert refusal(closed, headers, writes=False) == (
        401, "a read needs this server's token: the request has no Authorization header (send Authorization: Bearer <token>)"
    )


@pytest.mark.parametrize("name, value", [("FS_SERVE_MAX_ENTITIES", "0"), ("FS_SERVE_MAX_ENTITIES", "1e3"), ("FS_SERVE_BODY_SECONDS", "-1"),
                                         ("FS_SERVE_BODY_SECONDS", "soon")])
def test_limits_that_are_not_numbers_are_one_line(name, value):
    with pytest.raises(UsageError, match=f"^{name} is '{value}'; valid: "):
        RequestLimits.from_environment({name: value})
