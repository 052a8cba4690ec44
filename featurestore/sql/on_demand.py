"""On-demand features in the training-set query: an outer SELECT around the point-in-time
query's result, computing each on-demand expression from the spine's columns (the request
fields) and the joined features, in the engine's dialect.

The point-in-time query is used as it is, with one column added (its spine row number, so
the outer query keeps the spine's order); the view features that on-demand features read
but the request did not name travel under internal names and are left out of the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from sqlglot import exp

from featurestore.catalog import OnDemandFeature
from featurestore.catalog.on_demand_limits import (
    FIRST_MOMENT,
    LAST_MOMENT,
    SHIFT_LIMIT_SECONDS,
    UNIT_SECONDS,
    is_interval_expression,
)
from featurestore.catalog.on_demand_sql import sql_type
from featurestore.errors import UsageError
from featurestore.sql.expressions import INTERNAL, column, identifier, zoned_as_naive_utc
from featurestore.sql.spine import SPINE, SPINE_ROW

RESULT = f"{INTERNAL}pit"
HIDDEN_INPUT = f"{INTERNAL}input"
"""Prefix of the internal names of view features read only by on-demand features."""


@dataclass(frozen=True)
class OnDemandOutput:
    """One on-demand feature column of the result."""

    feature: OnDemandFeature
    name: str


def on_demand_outputs(
    taken: Sequence[str], features: Sequence[OnDemandFeature], full_names: bool
) -> list[OnDemandOutput]:
    """Name each on-demand feature's column as a view feature's would be named (`feature`,
    or `group__feature` with `full_names`); `taken` holds the spine's columns and the view
    features' names. Names compare case-insensitively, as most warehouses compare them."""
    used = {name.lower() for name in taken}
    outputs = []
    for feature in features:
        name = f"{feature.group}__{feature.name}" if full_names else feature.name
        if name.lower() in used:
            hint = "; use --full-names (full_names=True)" if not full_names else ""
            raise UsageError(f"output column '{name}' of {feature.ref} clashes with another column of the result{hint}")
        used.add(name.lower())
        outputs.append(OnDemandOutput(feature, name))
    return outputs


def check_request_columns(spine_kinds: Mapping[str, str], request: Mapping[str, str], described: str) -> None:
    """The spine carries every request field the on-demand features read, in a column whose
    type fits the field's: the query casts each to its declared type, which would round a
    fraction given for a bigint without a word, or fail on text with the engine's message."""
    spine_columns = list(spine_kinds)
    missing = [name for name in request if name not in spine_kinds]
    if missing:
        raise UsageError(
            f"{described} lacks column(s) {', '.join(repr(m) for m in missing)}, the request field(s) of the "
            f"on-demand features asked for; spine columns: {', '.join(spine_columns)}"
        )
    for name, dtype in request.items():
        family = _family(spine_kinds[name])
        if family is not None and family not in FITTING_FAMILIES[dtype]:
            raise UsageError(
                f"{described}: column '{name}' is {spine_kinds[name]}, but request field '{name}' is a {dtype} "
                f"(valid column types: {', '.join(sorted(FITTING_FAMILIES[dtype]))}); cast it in the spine"
            )


FITTING_FAMILIES = {
    "bigint": {"integer"},
    "double": {"integer", "fractional"},
    "boolean": {"boolean"},
    "varchar": {"text"},
    "timestamp": {"timestamp", "date", "text"},
}
"""The column types a spine may give each request field type in: those it casts to without
losing or inventing anything (text timestamps are ISO-8601, as the spine's own)."""

_INTEGER = re.compile(r"^u?(int\d*|tinyint|smallint|integer|bigint|hugeint|uhugeint)$")
_FRACTIONAL = re.compile(r"^(double|float\d*|real|halffloat|double precision)$")
_DECIMAL = re.compile(r"^(decimal|numeric)(128|256)?\((\d+),\s*(\d+)\)$")


def _family(kind: str) -> str | None:
    """The family of a spine column's kind (Warehouse.column_kinds), or None for one fs does
    not judge (a column of nulls only, a type it does not know): the query casts those."""
    kind = kind.lower()
    if kind in ("text", "boolean", "date"):
        return kind
    if kind in ("bool",):
        return "boolean"
    if kind in ("timestamp", "timestamptz"):
        return "timestamp"
    if _INTEGER.match(kind):
        return "integer"
    decimal = _DECIMAL.match(kind)
    if decimal:
        return "integer" if decimal.group(4) == "0" else "fractional"
    if _FRACTIONAL.match(kind):
        return "fractional"
    return None


def with_on_demand_expression(
    point_in_time: exp.Select,
    visible: Sequence[str],
    input_columns: Mapping[tuple[str, str], str],
    outputs: Sequence[OnDemandOutput],
    spine_kinds: Mapping[str, str] | None = None,
) -> exp.Select:
    """SELECT the `visible` columns of the point-in-time query and each on-demand feature,
    in the spine's order. `input_columns` names the result's column of each (view, feature)
    the expressions read; request fields are the spine's columns of the same name, cast to
    their declared types (`spine_kinds`: the spine's column kinds, see
    on_demand_column_expression)."""
    inner = point_in_time.select(exp.alias_(column(SPINE_ROW, SPINE), identifier(SPINE_ROW)))
    inner.set("order", None)  # the outer query orders
    ctes = inner.args.get("with_")
    inner.set("with_", None)
    computed = [
        exp.alias_(on_demand_column_expression(output.feature, input_columns, spine_kinds), identifier(output.name))
        for output in outputs
    ]
    query = (
        exp.select(*[column(name, RESULT) for name in visible], *computed)
        .from_(inner.subquery(identifier(RESULT)))
        .order_by(column(SPINE_ROW, RESULT))
    )
    if ctes is not None:
        query.set("with_", ctes)
    return query


def on_demand_column_expression(
    feature: OnDemandFeature, input_columns: Mapping[tuple[str, str], str], spine_kinds: Mapping[str, str] | None = None
) -> exp.Expression:
    """The feature's checked expression over the point-in-time result's columns. A timestamp
    request field given as text or with a time zone (`spine_kinds`) is read as the instant
    it names, in UTC, as the spine's timestamp is and as the online evaluator reads it."""
    request = dict(feature.expression.request_fields)
    kinds = spine_kinds or {}

    def bind(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Column):
            return node
        if node.table:
            return column(input_columns[(node.table, node.name)], RESULT)
        dtype = request[node.name]
        if dtype == "timestamp" and kinds.get(node.name) in ("text", "timestamptz"):
            return zoned_as_naive_utc(column(node.name, RESULT), kinds[node.name])
        return exp.cast(column(node.name, RESULT), sql_type(dtype))

    return _shifts_in_range(feature.expression.tree.copy().transform(bind))


def _shifts_in_range(tree: exp.Expression) -> exp.Expression:
    """Each `timestamp +/- interval` of `tree` null outside the years 1 to 9999, as the online
    evaluator computes it (catalog.on_demand_limits): inner shifts first, so an outer one
    wraps them already guarded. The shift's length is checked first, as a double (which no
    count overflows), so that the engine never computes an interval it would refuse."""
    shifts = [
        node for node in tree.find_all(exp.Add, exp.Sub) if is_interval_expression(node.expression)
    ]
    for node in reversed(shifts):  # find_all is depth-first from the root: children come later
        shifted = node.copy()
        in_range = exp.Between(
            this=shifted.copy(), low=_moment(FIRST_MOMENT), high=_moment(LAST_MOMENT)
        )
        short = exp.LTE(
            this=exp.Abs(this=_seconds(node.expression)), expression=exp.cast(exp.Literal.number(SHIFT_LIMIT_SECONDS), sql_type("double"))
        )
        # Nested CASEs, not AND: an engine may evaluate both sides of an AND.
        guarded = exp.Case(ifs=[exp.If(this=short, true=exp.Case(ifs=[exp.If(this=in_range, true=shifted)]))])
        if node is tree:
            return guarded
        node.replace(guarded)
    return tree


def _seconds(interval: exp.Expression) -> exp.Expression:
    """An interval expression's length in seconds, as a double."""
    if isinstance(interval, exp.Paren):
        return _seconds(interval.this)
    if isinstance(interval, exp.Interval):
        seconds = int(interval.this.this) * UNIT_SECONDS[interval.unit.name.lower()]
        return exp.cast(exp.Literal.number(seconds), sql_type("double"))
    count, unit = (
        (interval.this, interval.expression) if is_interval_expression(interval.expression) else (interval.expression, interval.this)
    )
    return exp.Mul(this=exp.cast(count.copy(), sql_type("double")), expression=_seconds(unit))


def _moment(text: str) -> exp.Expression:
    return exp.cast(exp.Literal.string(text), sql_type("timestamp"))
