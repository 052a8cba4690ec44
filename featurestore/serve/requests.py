"""The bodies `fs serve` takes, read strictly: Feast's read and push requests, as JSON that
every client agrees on.

Python's JSON reader takes more than JSON: `NaN`, `Infinity` and numbers past a double's
range (`1e400`, read as infinity), and text escaping half a UTF-16 pair (`"\\ud800"`, a
lone surrogate no UTF-8 encoder can write, which failed in Redis as a 500). Each is refused
here, in one line, before anything is read or written.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from featurestore.errors import UsageError
from featurestore.online.value_columns import check_columns

REQUEST_FIELDS = ("features", "feature_service", "entities", "full_feature_names", "include_feature_view_version_metadata")
PUSH_FIELDS = ("push_source_name", "df", "to", "allow_registry_cache", "transform_on_write")
PUSH_TO = "online_and_offline"
"""The one push mode (Feast's `to`) fs has: every push goes to Redis and to the landing table."""

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: the only way a JSON text carries one."""


def _no_constant(name: str) -> Any:
    raise UsageError(f"the request body holds {name}, which is not a JSON number (valid: finite numbers, or null)")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise UsageError(f"the request body holds the number {text[:40]}, past a double's range (valid: finite numbers)")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
"""Made once: json.loads with hooks would build a decoder per request."""


def json_object(body: bytes, shape: str) -> dict[str, Any]:
    """The JSON object `body` holds, or a UsageError saying why it is not one fs reads."""
    try:
        document = _DECODER.decode(body.decode("utf-8"))  # JSON's encoding (RFC 8259)
    except ValueError as error:
        raise UsageError(f"the request body is not JSON: {error}") from error
    except RecursionError:
        raise UsageError("the request body is not JSON fs reads: it nests arrays or objects too deeply") from None
    if not isinstance(document, dict):
        raise UsageError(f"the request body must be a JSON object: {shape}")
    if _SURROGATE_ESCAPE.search(body):  # rare: only then is every text looked at
        _refuse_lone_surrogates(document)
    return document


def _refuse_lone_surrogates(document: Any) -> None:
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                shown = json.dumps(value)[:40]
                raise UsageError(
                    f"the request body holds the text {shown}, with half of a UTF-16 surrogate pair: "
                    "it is no Unicode text (valid: text that UTF-8 can encode)"
                ) from None


def parse_request(body: bytes) -> tuple[list[dict[str, Any]], list[str], list[str], bool]:
    """The entity rows, join keys (which empty lists of entities still name), feature names
    and full-names flag of a Feast-shaped request body.

    >>> parse_request(b'{"features": ["v:f"], "entities": {"id": [1, 2]}}')
    ([{'id': 1}, {'id': 2}], ['id'], ['v:f'], False)
    """
    document = json_object(body, '{"features": [...], "entities": {...}}')
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
    document = json_object(body, '{"push_source_name": "view", "df": {...}}')
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
