"""The OpenAPI description `GET /openapi.json` serves: the endpoints, their bodies and answers."""

from __future__ import annotations

from typing import Any

from featurestore.serve.requests import PUSH_TO

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

_GUARDED = {
    "401": _error_response("A push (or a read, where reads need it) without this server's token: send Authorization: Bearer <token>."),
    "403": _error_response("A push to a server with no token; a browser request from another origin; a Host header not this loopback server's."),
    "408": _error_response("The body did not arrive in time."),
    "415": _error_response("A Content-Type other than application/json."),
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "fs feature server", "version": "1", "description": "Online features from Redis, and pushes into them, in Feast's request and response shape."},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
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
                    "413": _error_response("The body is over the server's limit, or it asks for more entities than the server answers at once."),
                    **_GUARDED,
                    "503": _error_response("Redis cannot be reached."),
                    "500": _error_response("A bug; the server's log has the traceback."),
                },
            }
        },
        "/push": {
            "post": {
                "security": [{"token": []}],
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
                    **_GUARDED,
                    "503": _error_response("Redis cannot be reached or failed (the detail says what was written), a sync held the lock past the push's wait, or the warehouse is busy (nothing was written): retry."),
                    "500": _error_response("A bug; the server's log has the traceback."),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Whether Redis answers and holds a sync of every online view",
                "responses": {
                    "200": _json_response("Redis answered, and every online view was synced to it.", {"status": {"const": "ok"}}),
                    "503": _error_response("Redis cannot be reached, or holds no sync of a view (restarted empty, or never synced)."),
                },
            }
        },
    },
}
