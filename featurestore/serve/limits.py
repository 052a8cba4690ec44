"""How much one request may cost `fs serve`: its body's size, how long the body may take to
arrive, and how many entities one read may ask for.

A worker is one process with one event loop: whatever a request does on the loop, every
other request (`GET /health` too) waits for. A small read stays on the loop (a pipelined
round trip to Redis costs less than a hand-over to a thread); a large one is parsed, read
and encoded in a worker thread, and its size is bounded so that it cannot hold a thread
(and its memory) for long.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from featurestore.errors import UsageError

if TYPE_CHECKING:
    from starlette.requests import Request

MAX_REQUEST_BYTES = 1 << 20
"""The largest request body taken (1 MiB); larger is 413."""

MAX_ENTITIES = 10_000
"""The most entities one read may ask for; more is 413 (FS_SERVE_MAX_ENTITIES changes it).
Measured by benchmarks/serve_limits.py (docs/benchmarks.md, "Bounded requests"): 10,000
entities of a three-feature view take 0.34 s to parse, read and encode on a loaded 2-core
machine (a 1.5 MB answer), 50,000 take 2 s; the 524,288 one-digit keys that fit in 1 MiB
took 29 s and 494 MB there (8.5-12.6 s and 670 MB in issue 20's run)."""

INLINE_ENTITIES = 256
"""Reads of at most about this many entities (a body of at most this many commas, and at most
INLINE_BYTES) run on the event loop; larger ones in a worker thread. The benchmark's 1- and
100-entity reads stay inline."""
INLINE_BYTES = 64 << 10

BODY_SECONDS = 30.0
"""How long a request's body may take to arrive, in all; then 408 (FS_SERVE_BODY_SECONDS)."""

MAX_ENTITIES_ENV = "FS_SERVE_MAX_ENTITIES"
BODY_SECONDS_ENV = "FS_SERVE_BODY_SECONDS"


class RequestTooLarge(Exception):
    """A body over the byte limit, or a read over the entity limit: 413, with this line."""


class BodyTooSlow(Exception):
    """A body that did not arrive within the limit: 408."""


@dataclass(frozen=True)
class RequestLimits:
    max_bytes: int = MAX_REQUEST_BYTES
    max_entities: int = MAX_ENTITIES
    body_seconds: float = BODY_SECONDS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "RequestLimits":
        entities, seconds = environ.get(MAX_ENTITIES_ENV), environ.get(BODY_SECONDS_ENV)
        if entities is not None and (not entities.strip().isdigit() or int(entities) < 1):
            raise UsageError(f"{MAX_ENTITIES_ENV} is '{entities}'; valid: a whole number, 1 or more")
        try:
            body = float(seconds) if seconds is not None else BODY_SECONDS
        except ValueError:
            body = -1.0
        if not 0 < body < 1e6:
            raise UsageError(f"{BODY_SECONDS_ENV} is '{seconds}'; valid: seconds, more than 0")
        return cls(max_entities=int(entities) if entities is not None else MAX_ENTITIES, body_seconds=body)

    def check_entities(self, count: int) -> None:
        if count > self.max_entities:
            raise RequestTooLarge(
                f"the request asks for {count:,} entities; this server answers at most {self.max_entities:,} per "
                f"request ({MAX_ENTITIES_ENV}): split it"
            )

    async def body(self, request: "Request") -> bytes:
        """The request body, refused past `max_bytes` (by its declared length before reading,
        and while reading one sent without a length) or past `body_seconds`."""
        import asyncio

        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise RequestTooLarge(self._too_large())
        chunks, size = [], 0
        try:
            # asyncio's own timeout (a timer on the loop): anyio's cancel scope cost about as
            # much as a one-entity read.
            async with asyncio.timeout(self.body_seconds):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise RequestTooLarge(self._too_large())
                    chunks.append(chunk)
        except TimeoutError:
            raise BodyTooSlow(
                f"the request body did not arrive within {self.body_seconds:g} s ({size:,} bytes came); send it at once"
            ) from None
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"the request body is over {self.max_bytes:,} bytes; ask for fewer entities per request"
