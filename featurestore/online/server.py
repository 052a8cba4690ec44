"""The HTTP feature server behind `fs serve`: an ASGI app (Starlette) that answers Feast's
feature-server requests from the same read path as `FeatureStore.get_online_features`.

    POST /get-online-features   {"features": [...] | "feature_service": "...",
                                 "entities": {"key": [v1, v2, ...]}, "full_feature_names": false}
    POST /push                  {"push_source_name": "view", "df": {"column": [v1, v2, ...]},
                                 "to": "online_and_offline"}: `FeatureStore.push`
    GET  /health                200 when Redis answers a PING, else 503
    GET  /openapi.json          the OpenAPI description of them

The request and response are shaped as Feast's (`feast serve`), so a Feast client switches by
changing the URL: the response has `metadata.feature_names` (the entity columns, then the
features) and, per name, a column of `values`, `statuses` (PRESENT, NULL_VALUE, NOT_FOUND,
OUTSIDE_MAX_AGE) and `event_timestamps`.

A read is one pipelined round trip to Redis (about 0.1 ms on loopback), so it runs on the
event loop itself: handing it to a thread costs more than the read. A push blocks for much
longer (the warehouse's append, the sync lock's wait, Redis), so it runs in a thread of the
pool and reads go on meanwhile. A worker is one process with one event loop; `fs serve
--workers N` runs N of them, sharing nothing but Redis.

Errors a client can fix are 400 with the CLI's one line; a request over the size limit is
413; what the server cannot do now but may on a retry (Redis unreachable, the sync lock held
past the push's wait, the warehouse busy) is 503 with the CLI's line; anything else is a
bug: 500 with one line to the client and the traceback in the server's log, never in the
response.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from featurestore.errors import FeatureStoreError, OnlineStoreError, SyncLockedError, UsageError, WarehouseError, install_extra
from featurestore.online.reader import EXPIRED, MISSING
from featurestore.online.value_columns import check_columns

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from featurestore.console import Console
    from featurestore.online.push import PushSummary
    from featurestore.online.reader import OnlineFeatures

log = logging.getLogger("featurestore.serve")

MAX_REQUEST_BYTES = 1 << 20
"""The largest request body taken (1 MiB: about 50,000 integer keys); larger is 413."""

REQUEST_FIELDS = ("features", "feature_service", "entities", "full_feature_names", "include_feature_view_version_metadata")
PUSH_FIELDS = ("push_source_name", "df", "to", "allow_registry_cache", "transform_on_write")
PUSH_TO = "online_and_offline"
"""The one push mode (Feast's `to`) fs has: every push goes to Redis and to the landing table."""

# Feast's field statuses (its serving proto), from ours; a present null is NULL_VALUE there.
FEAST_STATUS = {MISSING: "NOT_FOUND", EXPIRED: "OUTSIDE_MAX_AGE"}
ENTITY_TIMESTAMP = "1970-01-01T00:00:00Z"  # what Feast gives an entity column


ReadFeatures = Callable[..., "OnlineFeatures"]
"""`FeatureStore.get_online_features` with the server's Redis: (entity rows, feature names,
bare_names=, full_names=) -> OnlineFeatures."""

PushRows = Callable[[str, dict[str, list[Any]]], "PushSummary"]
"""`FeatureStore.push` with the server's Redis: (view, columns of values) -> PushSummary."""

UNAVAILABLE = (OnlineStoreError, SyncLockedError, WarehouseError)
"""Errors of a request the server cannot serve now but may on a retry: 503. A sync lock held
past the push's wait is one too, not a 409: there is nothing in the request for the client
to change, nothing was written, and HTTP clients' retry policies retry a 503 (not a 409),
which is what a push refused during a sync needs."""


class RequestTooLarge(Exception):
    pass


def feature_server(
    read: ReadFeatures, ping: Callable[[], None], push: PushRows, max_request_bytes: int = MAX_REQUEST_BYTES
) -> "Starlette":
    """The ASGI app serving what `read` reads and writing what is pushed with `push`, whose
    health is `ping` (which raises OnlineStoreError when Redis is down); run it with uvicorn,
    or mount it."""
    _require_serve_extra()
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def get_online_features(request: "Request") -> "Response":
        body = await _body(request, max_request_bytes)
        rows, keys, features, full_names = parse_request(body)
        result = read(rows, features, bare_names=not full_names, full_names=full_names)
        return Response(_dumps(response_document(result, rows, keys)), media_type="application/json")

    async def push_rows(request: "Request") -> "Response":
        body = await _body(request, max_request_bytes)
        view, columns = parse_push_request(body)
        summary = await run_in_threadpool(push, view, columns)
        return Response(_dumps(summary.to_dict()), media_type="application/json")

    async def health(request: "Request") -> "Response":
        ping()
        return JSONResponse({"status": "ok"})

    async def openapi(request: "Request") -> "Response":
        return JSONResponse(OPENAPI)

    def error(status: int, message: str) -> "Response":
        return JSONResponse({"detail": message}, status_code=status)

    async def on_user_error(request: "Request", exc: Exception) -> "Response":
        if isinstance(exc, UNAVAILABLE):
            return error(503, str(exc))
        return error(400 if isinstance(exc, UsageError) else 500, str(exc))

    async def on_too_large(request: "Request", exc: Exception) -> "Response":
        return error(413, f"the request body is over {max_request_bytes:,} bytes; ask for fewer entities per request")

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
            ping()  # opens the connection pool now rather than in the first request
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
            RequestTooLarge: on_too_large,
            HTTPException: on_http,
            Exception: on_bug,
        },
    )


def run_server(app: "Starlette | str", host: str, port: int, workers: int, console: "Console") -> None:
    """Serve `app` (an app, or with several workers the import path of a factory that makes
    one in each worker process) with uvicorn until interrupted."""
    import socket

    _require_serve_extra()
    import uvicorn
    import uvicorn.config

    if workers < 1:
        raise UsageError(f"--workers {workers}: give 1 or more")
    # uvicorn says a taken port in a logged traceback; say it in one line first.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UsageError(f"cannot listen on {host}:{port}: {error.strerror} (choose another with --port or --host)") from error
    logging_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging_config["loggers"][log.name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    console.print(
        f"serving online features on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}): "
        "POST /get-online-features, POST /push, GET /health, GET /openapi.json; Ctrl-C stops"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(app, str),
        # Each request is logged by nothing but errors: an access log line costs about as
        # much as the read itself.
        access_log=False,
        log_level="warning",
        log_config=logging_config,
        # A service's clients keep their connections open between requests.
        timeout_keep_alive=30,
    )


def _require_serve_extra() -> None:
    import importlib.util

    missing = next((name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None), None)
    if missing:
        raise UsageError(f"fs serve needs the serve extra (no module {missing}): {install_extra('serve')}")


ENDPOINTS = "valid: POST /get-online-features, POST /push, GET /health, GET /openapi.json"


async def _body(request: "Request", limit: int) -> bytes:
    """The request body, refused past `limit` bytes: by its declared length before reading,
    and while reading one sent without a length (chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes, shape: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise UsageError(f"the request body is not JSON: {error}") from error
    except RecursionError:
        raise UsageError("the request body is not JSON fs reads: it nests arrays or objects too deeply") from None
    if not isinstance(document, dict):
        raise UsageError(f"the request body must be a JSON object: {shape}")
    return document


def parse_request(body: bytes) -> tuple[list[dict[str, Any]], list[str], list[str], bool]:
    """The entity rows, join keys (which empty lists of entities still name), feature names
    and full-names flag of a Feast-shaped request body.

    >>> parse_request(b'{"features": ["v:f"], "entities": {"id": [1, 2]}}')
    ([{'id': 1}, {'id': 2}], ['id'], ['v:f'], False)
    """
    document = _json_object(body, '{"features": [...], "entities": {...}}')
    unknown = [key for key in document if key not in REQUEST_FIELDS]
    if unknown:
        raise UsageError(f"unknown request field '{unknown[0]}' (valid: {', '.join(REQUEST_FIELDS)})")
    if document.get("include_feature_view_version_metadata"):
        raise UsageError("include_feature_view_version_metadata is not supported: fs views have no versions")

    features, service = document.get("features") or [], document.get("feature_service")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise UsageError('"features" must be a list of "view:feature" names')
    if service is not None and not isinstance(service, str):
        raise UsageError('"feature_service" must be the name of a feature service')
    if bool(features) == bool(service):
        raise UsageError('give either "features" (a list of view:feature) or "feature_service", not both or neither')

    entities = document.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise UsageError('"entities" must map each join key to a list of values, e.g. {"customer_id": ["c1", "c2"]}')
    check_columns(entities, "entities", "key", "entity")
    keys, columns = list(entities), list(entities.values())
    rows = [dict(zip(keys, values)) for values in zip(*columns)]

    full_names = document.get("full_feature_names", False)
    if not isinstance(full_names, bool):
        raise UsageError('"full_feature_names" must be true or false')
    return rows, keys, (features or [service]), full_names


def parse_push_request(body: bytes) -> tuple[str, dict[str, list[Any]]]:
    """The view and the columns of rows of a Feast-shaped push body. Feast's push source is
    the view here (fs pushes to a view); the columns are checked against it by the push.

    >>> parse_push_request(b'{"push_source_name": "v", "df": {"id": [1, 2]}, "to": "online_and_offline"}')
    ('v', {'id': [1, 2]})
    """
    document = _json_object(body, '{"push_source_name": "view", "df": {...}}')
    unknown = [key for key in document if key not in PUSH_FIELDS]
    if unknown:
        raise UsageError(f"unknown push field '{unknown[0]}' (valid: {', '.join(PUSH_FIELDS)})")
    view = document.get("push_source_name")
    if not isinstance(view, str) or not view:
        raise UsageError('"push_source_name" must be the name of the online view to push to')
    to = document.get("to", PUSH_TO)
    if to != PUSH_TO:
        raise UsageError(
            f'"to": {json.dumps(to)} is not supported: fs writes every push both to the online store and to the '
            f'view\'s landing table in the warehouse (valid: leave "to" out, or "{PUSH_TO}")'
        )
    # Feast's registry cache and write-time transformations have no counterpart here: the
    # catalog is read at start-up, and on-demand features are computed when read.
    for flag in ("allow_registry_cache", "transform_on_write"):
        if not isinstance(document.get(flag, True), bool):
            raise UsageError(f'"{flag}" must be true or false')
    columns = document.get("df")
    if not isinstance(columns, dict) or not columns:
        raise UsageError('"df" must map each column to a list of values, one per row, e.g. {"customer_id": ["c1"], ...}')
    return view, columns


def response_document(result: "OnlineFeatures", rows: list[dict[str, Any]], keys: list[str] | None = None) -> dict[str, Any]:
    """Feast's response: the entity columns (`keys`, by default the rows'), then one column
    per feature, each with its values, statuses and event timestamps (the view row's, in UTC;
    an on-demand feature's, the newest of its inputs' rows')."""
    keys = keys if keys is not None else (list(rows[0]) if rows else [])
    results = [
        {"values": [row[key] for row in rows], "statuses": ["PRESENT"] * len(rows), "event_timestamps": [ENTITY_TIMESTAMP] * len(rows)}
        for key in keys
    ]
    stamps_of: dict[Any, list[str]] = {}  # per view: its features share their rows' timestamps
    for index in range(len(result.features)):
        # A feature of no view (computed on request) has the newest timestamp of the rows its
        # inputs came from; with none (request fields only, or no rows), Feast's "not found".
        on_demand = index - len(result.feature_views)
        view: Any = result.feature_views[index] if on_demand < 0 else (
            result.on_demand_views[on_demand] if on_demand < len(result.on_demand_views) else ()
        )
        values = [row[index] for row in result.values]
        statuses = [
            FEAST_STATUS.get(statuses[index]) or ("NULL_VALUE" if value is None else "PRESENT")
            for statuses, value in zip(result.statuses, values)
        ]
        if view not in stamps_of:
            stamps_of[view] = [_utc_text(_newest(stamps, view)) for stamps in result.event_timestamps]
        results.append({"values": values, "statuses": statuses, "event_timestamps": stamps_of[view]})
    return {"metadata": {"feature_names": [*keys, *result.features]}, "results": results}


def _newest(stamps: dict[str, datetime | None], view: "str | tuple[str, ...]") -> datetime | None:
    """The row timestamp of a view, or the newest of some views' rows (None: no row)."""
    if isinstance(view, str):
        return stamps.get(view)
    return max((moment for moment in map(stamps.get, view) if moment is not None), default=None)


def _utc_text(moment: datetime | None) -> str:
    # Timestamps are naive UTC throughout fs; Feast writes them with a Z, and "not found" as 0.
    return ENTITY_TIMESTAMP if moment is None else moment.isoformat() + "Z"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact, as a decimal's text is stored
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(document: Any) -> bytes:
    return json.dumps(document, default=_json_value, separators=(",", ":")).encode()


_COLUMN = {
    "type": "object",
    "properties": {
        "values": {"type": "array", "items": {}},
        "statuses": {"type": "array", "items": {"type": "string", "enum": ["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]}},
        "event_timestamps": {"type": "array", "items": {"type": "string", "format": "date-time"}},
    },
}
_ERROR = {"type": "object", "properties": {"detail": {"type": "string", "description": "What was wrong, in one line."}}}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json_request(required: list[str], properties: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """A JSON object body with these properties and no others."""
    schema = {"type": "object", "required": required, "additionalProperties": False, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}


def _json_response(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object", "properties": properties}}}}


_FEAST_ONLY = "Accepted for Feast clients; no effect."
_PUSH_SUMMARY = {  # featurestore.online.push.PushSummary.to_dict()
    name: {"type": kind}
    for kind, names in [
        ("string", ["view", "redis", "landing"]),
        ("integer", ["generation", "rows", "keys_written", "skipped_older", "expired", "not_yet_valid"]),
        ("number", ["seconds"]),
    ]
    for name in names
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "fs feature server", "version": "1", "description": "Online features from Redis, and pushes into them, in Feast's request and response shape."},
    "paths": {
        "/get-online-features": {
            "post": {
                "summary": "The latest values of features for some entities",
                "requestBody": _json_request(
                    ["entities"],
                    {
                        "features": {"type": "array", "items": {"type": "string"}, "description": "view:feature or view:* names (or feature_service)."},
                        "feature_service": {"type": "string", "description": "A feature service's name (or features)."},
                        "entities": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {}},
                            "description": "Each join key and its values, one per entity.",
                        },
                        "full_feature_names": {"type": "boolean", "default": False, "description": "Name features view__feature."},
                        "include_feature_view_version_metadata": {"type": "boolean", "default": False, "description": "Accepted for Feast clients; must be false."},
                    },
                    {"features": ["carrier_daily:on_time_rate_7d"], "entities": {"carrier": ["UA", "AA"]}},
                ),
                "responses": {
                    "200": _json_response(
                        "The entity columns, then one column per feature.",
                        {
                            "metadata": {"type": "object", "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}}},
                            "results": {"type": "array", "items": _COLUMN},
                        },
                    ),
                    "400": _error_response("Unknown features, missing join keys or a malformed body."),
                    "413": _error_response("The body is over the server's limit."),
                    "503": _error_response("Redis cannot be reached."),
                    "500": _error_response("A bug; the server's log has the traceback."),
                },
            }
        },
        "/push": {
            "post": {
                "summary": "Write rows into an online view at once, and into its landing table for the next dbt build",
                "requestBody": _json_request(
                    ["push_source_name", "df"],
                    {
                        "push_source_name": {"type": "string", "description": "The online view to push to."},
                        "df": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {}},
                            "description": "Each column and its values, one per row: the join keys, the timestamp, every feature; "
                            "timestamps, dates and decimals as ISO-8601 or decimal text.",
                        },
                        "to": {"const": PUSH_TO, "description": "Where to write; fs always writes both."},
                        "allow_registry_cache": {"type": "boolean", "description": _FEAST_ONLY},
                        "transform_on_write": {"type": "boolean", "description": _FEAST_ONLY},
                    },
                    {
                        "push_source_name": "carrier_daily",
                        "df": {"carrier": ["UA"], "event_timestamp": ["2024-03-01T00:00:00"], "on_time_rate_7d": [0.82]},
                    },
                ),
                "responses": {
                    "200": _json_response("What the push did, as `fs push --json` says it.", _PUSH_SUMMARY),
                    "400": _error_response("Rows that do not fit the view, an unknown or never synced view, a malformed body, or a `to` other than online_and_offline; nothing was written."),
                    "413": _error_response("The body is over the server's limit."),
                    "503": _error_response("Redis cannot be reached or failed (the detail says what was written), a sync held the lock past the push's wait, or the warehouse is busy (nothing was written): retry."),
                    "500": _error_response("A bug; the server's log has the traceback."),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Whether Redis answers",
                "responses": {
                    "200": _json_response("Redis answered a PING.", {"status": {"const": "ok"}}),
                    "503": _error_response("Redis cannot be reached."),
                },
            }
        },
    },
}
