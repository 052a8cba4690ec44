"""Connection URLs as people may see them: in messages, `--json` documents and tracebacks.

`shown_url` is the one way a URL is printed. It masks every form of password a URL can
carry: the userinfo (`user:pass@`, `:pass@`, a bare `pass@`), even when the password holds
`@` or `/`, and the value of every query key that looks secret (`password=`, `token=`, ...).
A URL it cannot read is never echoed, even in part: only its scheme is shown. Shared ground
like errors.py: every layer may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MASK = "***"

SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
# host[:port], host[:port] being a name, an IPv4 address or a bracketed IPv6 address. A
# password holding '?' is cut by the query and leaves its first part here, as a "port".
AUTHORITY = re.compile(r"^(\[[0-9A-Fa-f:.]*\]|[^:\[\]@]*)(?::(\d*))?$")
QUERY_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
SECRET_KEY = re.compile(r"pass|pwd|secret|token|auth|key|credential", re.IGNORECASE)


@dataclass(frozen=True)
class UrlParts:
    """A URL read the forgiving way: the userinfo runs to the last '@' before the query, so
    a password holding '@' or '/' stays in it (a strict parser would cut it there)."""

    scheme: str
    userinfo: str | None
    host: str
    port: str | None
    path: str
    query: tuple[tuple[str, str | None], ...]
    """(key, value) pairs in order; value None for a key without '='."""


def split_url(url: str) -> UrlParts | None:
    """The parts of `url`, or None when it is not `scheme://[userinfo@]host[:port][/path][?query]`
    with `key[=value]` query pairs (where a password could hide in what is not understood)."""
    matched = SCHEME.match(url)
    if matched is None or any(ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    scheme, rest = matched.groups()
    head, has_query, query_text = rest.partition("?")
    userinfo, at, after = head.rpartition("@")
    authority, slash, path = after.partition("/")
    query = _query_pairs(query_text) if has_query else ()
    if scheme.endswith("+cluster"):
        # A cluster's start-up nodes, `host:port,host:port`: the host part is all of them.
        if query is None or not all(AUTHORITY.match(node) for node in authority.split(",")):
            return None
        return UrlParts(scheme, userinfo if at else None, authority, None, slash + path, query)
    address = AUTHORITY.match(authority)
    if address is None or query is None:
        return None
    return UrlParts(scheme, userinfo if at else None, address.group(1), address.group(2), slash + path, query)


def _query_pairs(text: str) -> tuple[tuple[str, str | None], ...] | None:
    pairs = []
    for item in text.split("&") if text else ():
        key, equals, value = item.partition("=")
        # An '@' in a value that is shown means the userinfo (a password holding '?') ran
        # into the query: nothing of it may be shown.
        if not QUERY_KEY.match(key) or ("@" in value and not SECRET_KEY.search(key)):
            return None
        pairs.append((key, value if equals else None))
    return tuple(pairs)


def shown_url(url: str) -> str:
    """`url` with every password masked, for people; `<malformed URL>` (with the scheme when
    there is one) when it cannot be read, since any part of it could be a password."""
    parts = split_url(url)
    if parts is None:
        scheme = SCHEME.match(url)
        return f"<malformed {scheme.group(1)} URL>" if scheme else "<malformed URL>"
    shown = f"{parts.scheme}://"
    if parts.userinfo is not None:
        user, colon, _ = parts.userinfo.partition(":")
        # Without a ':' some clients take the lone name for the password: mask it too.
        shown += f"{user}:{MASK}@" if colon else f"{MASK}@"
    shown += parts.host + (f":{parts.port}" if parts.port is not None else "") + parts.path
    if parts.query:
        shown += "?" + "&".join(_shown_pair(key, value) for key, value in parts.query)
    return shown


def _shown_pair(key: str, value: str | None) -> str:
    if value is None:
        return key
    return f"{key}={MASK if SECRET_KEY.search(key) else value}"
