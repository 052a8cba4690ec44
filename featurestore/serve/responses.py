"""The answers `fs serve` writes: Feast's response document, as strict JSON.

A double feature may hold NaN or an infinity (a warehouse float column may, and a sync
copies it). JSON has no such numbers, and Python's encoder writes the bare words `NaN` and
`Infinity`, which a strict client (JavaScript's `JSON.parse`, Go, Java) refuses with the
whole response. fs writes them as the text `"NaN"`, `"Infinity"` and `"-Infinity"`, status
`PRESENT`: what protobuf's JSON mapping of a double does, so a client reading Feast's
serving messages as protobuf gets the float back (a plain JSON reader gets the text). Every
other value is unchanged.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from featurestore.console import finite_json
from featurestore.online.reader import EXPIRED, MISSING

if TYPE_CHECKING:
    from featurestore.online.reader import OnlineFeatures

# Feast's field statuses (its serving proto), from ours; a present null is NULL_VALUE there.
FEAST_STATUS = {MISSING: "NOT_FOUND", EXPIRED: "OUTSIDE_MAX_AGE"}
ENTITY_TIMESTAMP = "1970-01-01T00:00:00Z"  # what Feast gives an entity column


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


def dumps(document: Any) -> bytes:
    """Compact, strict JSON. The common case (every float finite) pays for one encoding;
    a document with NaN or an infinity is rewritten, then encoded again."""
    try:
        text = json.dumps(document, default=_json_value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(finite_json(document), default=_json_value, separators=(",", ":"), allow_nan=False)
    return text.encode()
