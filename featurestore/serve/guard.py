"""Who may ask `fs serve` what: the access policy, checked before a body is read.

- **A token** for `POST /push` (and for reads too when `FS_SERVE_READS_NEED_TOKEN=1`),
  sent as `Authorization: Bearer <token>` and compared in constant time. The server reads it
  from `FS_SERVE_TOKEN_FILE` (a file holding it; preferred) or `FS_SERVE_TOKEN`, never from
  the command line (visible to every user in `ps`). Without a token configured, pushes are
  refused (403) and reads are open: a read-only server needs no secret.
- **JSON only**: a POST that declares a Content-Type other than `application/json` is 415.
  A browser may send `text/plain` or a form across origins without asking (a "simple"
  request, no preflight); it may not send `application/json` that way. A POST without a
  Content-Type is read as JSON (Feast's remote online store sends none).
- **No browser page of another origin**: a request with an `Origin` header that is not
  allowed (`FS_SERVE_ALLOWED_ORIGINS`, comma-separated; none by default) or a
  `Sec-Fetch-Site` of `cross-site` or `same-site` is 403.
- **The Host header**, when the server listens on a loopback address: only `localhost`,
  `127.0.0.1` or `[::1]` (any port), so a page whose DNS name is rebound to 127.0.0.1 cannot
  reach it (`FS_SERVE_ALLOWED_HOSTS` names others).

docs/serving.md ("Who may ask") describes the model, and what it does not protect.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from featurestore.errors import UsageError

TOKEN_ENV = "FS_SERVE_TOKEN"
TOKEN_FILE_ENV = "FS_SERVE_TOKEN_FILE"
READS_ENV = "FS_SERVE_READS_NEED_TOKEN"
ORIGINS_ENV = "FS_SERVE_ALLOWED_ORIGINS"
HOSTS_ENV = "FS_SERVE_ALLOWED_HOSTS"
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

HOW_TO_SET = (
    f"set {TOKEN_FILE_ENV} (a file holding the token) or {TOKEN_ENV} where fs serve starts, "
    "and send the header Authorization: Bearer <token>"
)


class AccessRefused(Exception):
    """A request the policy refuses: its HTTP status and one line saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AccessPolicy:
    token: bytes | None = None
    reads_need_token: bool = False
    allowed_origins: frozenset[str] = frozenset()
    allowed_hosts: frozenset[str] | None = None
    """Host names the Host header may name; None: any (a server not bound to loopback)."""

    @classmethod
    def from_environment(cls, bind_host: str | None = None, environ: Mapping[str, str] = os.environ) -> "AccessPolicy":
        """The policy the environment sets; `bind_host` is the address the server listens on
        (None: unknown, as for an app mounted elsewhere)."""
        hosts = _names(environ.get(HOSTS_ENV))
        if not hosts and bind_host is not None and _is_loopback(bind_host):
            hosts = LOOPBACK_NAMES
        reads = environ.get(READS_ENV, "").strip().lower()
        if reads not in ("", "0", "1", "true", "false"):
            raise UsageError(f"{READS_ENV} is '{reads}'; valid: 1 or 0")
        return cls(
            token=_token(environ),
            reads_need_token=reads in ("1", "true"),
            allowed_origins=frozenset(o.rstrip("/") for o in _names(environ.get(ORIGINS_ENV), lower=False)),
            allowed_hosts=frozenset(hosts) or None,
        )

    def check(self, headers: Mapping[str, str], method: str, writes: bool) -> None:
        """Raise AccessRefused unless a request with these headers may go on; `writes` is
        whether it writes (a push)."""
        self._check_host(headers.get("host"))
        self._check_origin(headers.get("origin"), headers.get("sec-fetch-site"))
        declared = headers.get("content-type")
        if method == "POST" and declared is not None:
            # No Content-Type is taken as JSON: Feast's own remote online store sends none, and
            # a browser always sends an Origin with a cross-origin POST, refused above.
            media = declared.split(";", 1)[0].strip().lower()
            if media != "application/json":
                raise AccessRefused(415, f"the request's Content-Type is {media or 'empty'}; fs serve reads only application/json")
        if writes or self.reads_need_token:
            self._check_token(headers.get("authorization"), "push" if writes else "read")

    def _check_host(self, host: str | None) -> None:
        if self.allowed_hosts is None or host is None:
            return
        name = _host_name(host)
        if name not in self.allowed_hosts:
            raise AccessRefused(
                403,
                f"the Host header names {host[:80]!r}, not this server: it listens on loopback and answers only "
                f"{', '.join(sorted(self.allowed_hosts))} (a guard against DNS rebinding; {HOSTS_ENV} adds names)",
            )

    def _check_origin(self, origin: str | None, fetch_site: str | None) -> None:
        if origin is not None and origin.rstrip("/") in self.allowed_origins:
            return
        cross = fetch_site is not None and fetch_site.lower() in ("cross-site", "same-site")
        if origin is not None or cross:
            shown = origin if origin is not None else f"Sec-Fetch-Site: {fetch_site}"
            raise AccessRefused(
                403,
                f"a browser request from another origin ({shown[:80]}) is refused: fs serve answers services, "
                f"not web pages ({ORIGINS_ENV} allows an origin)",
            )

    def _check_token(self, authorization: str | None, what: str) -> None:
        if self.token is None:
            raise AccessRefused(403, f"this server takes no {what}es: it has no token; {HOW_TO_SET}" if what == "push"
                                else f"this server has no token; {HOW_TO_SET}")
        scheme, _, given = (authorization or "").partition(" ")
        # compare_digest takes as long for any wrong token of a length as for another.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.token):
            said = "no Authorization header" if authorization is None else "a token that is not this server's"
            raise AccessRefused(401, f"a {what} needs this server's token: the request has {said} (send Authorization: Bearer <token>)")


def _token(environ: Mapping[str, str]) -> bytes | None:
    path, value, origin = environ.get(TOKEN_FILE_ENV), environ.get(TOKEN_ENV), TOKEN_ENV
    if path:
        origin = f"{TOKEN_FILE_ENV} ({path})"
        try:
            value = Path(path).read_text().strip()
        except OSError as error:
            raise UsageError(f"{TOKEN_FILE_ENV} names {path}, which cannot be read: {error.strerror}") from error
    if not value:
        return None
    value = value.strip()
    if len(value) < MIN_TOKEN_CHARS or not value.isascii() or not value.isprintable() or " " in value:
        # Never the token itself in the message.
        raise UsageError(
            f"the token in {origin} is not one fs serve takes: give at least {MIN_TOKEN_CHARS} printable ASCII "
            "characters without spaces (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value.encode()


def _host_name(host: str) -> str:
    """The name in a Host header: `example.com:80` -> example.com, `[::1]:80` -> ::1."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _names(text: str | None, lower: bool = True) -> set[str]:
    return {name.strip().lower() if lower else name.strip() for name in (text or "").split(",") if name.strip()}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
