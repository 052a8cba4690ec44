"""The HTTP feature server behind `fs serve`: an ASGI app (Starlette) that answers Feast's
feature-server requests from the same read path as `FeatureStore.get_online_features`.

    POST /get-online-features   {"features": [...] | "feature_service": "...",
                                 "entities": {"key": [v1, v2, ...]}, "full_feature_names": false}
    POST /push                  {"push_source_name": "view", "df": {"column": [v1, v2, ...]},
                                 "to": "online_and_offline"}: `FeatureStore.push`
    GET  /health                200 when Redis answers and holds a sync of every online view, else 503
    GET  /openapi.json          the OpenAPI description of them

The request and response are shaped as Feast's (`feast serve`), so a Feast client switches by
changing the URL: the response has `metadata.feature_names` (the entity columns, then the
features) and, per name, a column of `values`, `statuses` (PRESENT, NULL_VALUE, NOT_FOUND,
OUTSIDE_MAX_AGE) and `event_timestamps`.

Every request passes the access policy first (featurestore.serve.guard: a token for pushes,
JSON only, no other origin, the Host header), then the limits (featurestore.serve.limits).
A small read is one pipelined round trip to Redis (about 0.1 ms on loopback), so it runs on
the event loop itself: handing it to a thread costs more than the read. A large read, and
every push (the warehouse's append, the lock's wait, Redis), runs in a thread of the pool,
so `/health` and other reads go on meanwhile. A worker is one process with one event loop;
`fs serve --workers N` runs N of them, sharing nothing but Redis.

Errors a client can fix are 400 with the CLI's one line; a request over a limit is 413 (408
for a body that does not arrive); what the server cannot do now but may on a retry (Redis
unreachable, the lock held past the push's wait, the warehouse busy) is 503 with the CLI's
line; anything else is a bug: 500 with one line to the client and the traceback in the
server's log, never in the response.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from featurestore.errors import FeatureStoreError, OnlineStoreError, SyncLockedError, UsageError, WarehouseError
from featurestore.serve.guard import AccessPolicy, AccessRefused
from featurestore.serve.limits import INLINE_BYTES, INLINE_ENTITIES, BodyTooSlow, RequestLimits, RequestTooLarge
from featurestore.serve.openapi import OPENAPI
from featurestore.serve.requests import parse_push_request, parse_request
from featurestore.serve.responses import dumps, response_document

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from featurestore.online.push import PushSummary
    from featurestore.online.reader import OnlineFeatures

log = logging.getLogger("featurestore.serve")

ReadFeatures = Callable[..., "OnlineFeatures"]
"""`FeatureStore.get_online_features` with the server's Redis: (entity rows, feature names,
bare_names=, full_names=) -> OnlineFeatures."""

PushRows = Callable[[str, dict[str, list[Any]]], "PushSummary"]
"""`FeatureStore.push` with the server's Redis: (view, columns of values) -> PushSummary."""

UnsyncedViews = Callable[[], list[str]]
"""`FeatureStore.unsynced_online_views` with the server's Redis: the online views Redis holds
no sync of; raises OnlineStoreError when Redis does not answer."""

UNAVAILABLE = (OnlineStoreError, SyncLockedError, WarehouseError)
"""Errors of a request the server cannot serve now but may on a retry: 503. A lock held
past the push's wait is one too, not a 409: there is nothing in the request for the client
to change, nothing was written, and HTTP clients' retry policies retry a 503 (not a 409),
which is what a push refused during a sync needs."""

NEVER_SYNCED_HEADER = "x-fs-never-synced"
"""On a read's answer: the views of the request this Redis holds no sync of (all NOT_FOUND)."""

ENDPOINTS = "valid: POST /get-online-features, POST /push, GET /health, GET /openapi.json"


def feature_server(
    read: ReadFeatures,
    unsynced: UnsyncedViews,
    push: PushRows,
    policy: AccessPolicy | None = None,
    limits: RequestLimits | None = None,
) -> "Starlette":
    """The ASGI app serving what `read` reads and writing what is pushed with `push`, whose
    health is `unsynced`; `policy` says who may ask (default: the environment's, no Host
    check), `limits` how much (default: the environment's). Run it with uvicorn, or mount it."""
    require_serve_extra()
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    policy = policy or AccessPolicy.from_environment()
    limits = limits or RequestLimits.from_environment()

    def answer_read(body: bytes) -> tuple[bytes, tuple[str, ...]]:
        rows, keys, features, full_names = parse_request(body)
        limits.check_entities(len(rows))
        result = read(rows, features, bare_names=not full_names, full_names=full_names)
        return dumps(response_document(result, rows, keys)), result.never_synced

    async def get_online_features(request: "Request") -> "Response":
        policy.check(_guarded_headers(request), request.method, writes=False)
        body = await limits.body(request)
        # A large body is parsed, read and encoded off the event loop (and, past the entity
        # limit, refused once parsed): /health and the small reads go on meanwhile.
        if len(body) > INLINE_BYTES or body.count(b",") > INLINE_ENTITIES:
            answer, never_synced = await run_in_threadpool(answer_read, body)
        else:
            answer, never_synced = answer_read(body)
        headers = {NEVER_SYNCED_HEADER: ",".join(never_synced)} if never_synced else None
        return Response(answer, media_type="application/json", headers=headers)

    async def push_rows(request: "Request") -> "Response":
        policy.check(_guarded_headers(request), request.method, writes=True)
        body = await limits.body(request)
        view, columns = parse_push_request(body) if len(body) <= INLINE_BYTES else await run_in_threadpool(parse_push_request, body)
        summary = await run_in_threadpool(push, view, columns)
        return Response(dumps(summary.to_dict()), media_type="application/json")

    async def health(request: "Request") -> "Response":
        policy.check(_guarded_headers(request), request.method, writes=False)
        missing = unsynced()
        if missing:
            return error(503, f"no sync has been published for view {', '.join(missing)} in this Redis "
                              "(restarted empty, or never synced): run fs sync")
        return JSONResponse({"status": "ok"})

    async def openapi(request: "Request") -> "Response":
        return JSONResponse(OPENAPI)

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> "Response":
        return JSONResponse({"detail": message}, status_code=status, headers=headers)

    async def on_user_error(request: "Request", exc: Exception) -> "Response":
        if isinstance(exc, UNAVAILABLE):
            return error(503, str(exc))
        return error(400 if isinstance(exc, UsageError) else 500, str(exc))

    async def on_refused(request: "Request", exc: Exception) -> "Response":
        assert isinstance(exc, AccessRefused)
        return error(exc.status, str(exc), {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    async def on_limit(request: "Request", exc: Exception) -> "Response":
        if isinstance(exc, BodyTooSlow):  # the connection is closed: the rest never came
            return error(408, str(exc), {"Connection": "close"})
        return error(413, str(exc))

    async def on_http(request: "Request", exc: Exception) -> "Response":
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error(404, f"no endpoint {request.url.path} ({ENDPOINTS})")
        if exc.status_code == 405:
            return error(405, f"{request.method} {request.url.path} is not served ({ENDPOINTS})")
        return error(exc.status_code, str(exc.detail))

    async def on_bug(request: "Request", exc: Exception) -> "Response":
        # Starlette raises the error again after this answer, so the ASGI server logs its
        # traceback; this line says which request it was.
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")

    @contextlib.asynccontextmanager
    async def lifespan(app: "Starlette") -> AsyncIterator[None]:
        # What the process holds after start-up (the catalog, dbt's manifest, imported
        # modules) lives as long as it does: frozen, Python's full collections no longer walk
        # it, which otherwise are the server's p99 (docs/online-store.md).
        with contextlib.suppress(OnlineStoreError):
            unsynced()  # opens the connection pool now rather than in the first request
        gc.collect()
        gc.freeze()
        yield

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/get-online-features", get_online_features, methods=["POST"]),
            Route("/push", push_rows, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={
            FeatureStoreError: on_user_error,
            AccessRefused: on_refused,
            RequestTooLarge: on_limit,
            BodyTooSlow: on_limit,
            HTTPException: on_http,
            Exception: on_bug,
        },
    )


_GUARDED = (b"host", b"origin", b"sec-fetch-site", b"content-type", b"authorization")


def _guarded_headers(request: "Request") -> dict[str, str]:
    """The headers the policy reads, in one pass over the raw ones (the ASGI server gives
    their names in lower case); Starlette's lookup scans them once per name."""
    return {name.decode(): value.decode("latin-1") for name, value in request.scope["headers"] if name in _GUARDED}


def require_serve_extra() -> None:
    import importlib.util

    missing = next((name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None), None)
    if missing:
        raise UsageError(f"fs serve needs the serve extra (no module {missing}): {install_extra('serve')}")
