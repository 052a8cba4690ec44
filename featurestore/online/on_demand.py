"""On-demand features online: the same checked expressions the training-set query computes
(featurestore.catalog.on_demand_sql), evaluated in this process on the values read from
Redis and the request's fields, with no round trip to the warehouse.

Each expression is compiled once into nested Python closures that follow SQL's rules as the
language fixes them: null in, null out (three-valued and/or), division by zero is null,
`//` and `%` truncate toward zero, a double cast to bigint rounds half to even, bigint
arithmetic fails past 64 bits as the engines' does. A closure call costs microseconds
(docs/benchmarks.md), where a query of an in-memory DuckDB costs a few hundred.
"""

from __future__ import annotations

import math
import operator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

from sqlglot import exp

from featurestore.catalog import FeatureSelection, OnDemandFeature, OnDemandSelection
from featurestore.catalog.on_demand_limits import SHIFT_LIMIT_SECONDS, UNIT_SECONDS, is_interval_expression
from featurestore.errors import UsageError
from featurestore.online.reader import PRESENT, OnlineFeatures

Evaluate = Callable[[Mapping[Any, Any]], Any]
"""Inputs -> value; inputs map (view, feature) and request field names to values."""

EPOCH = datetime(1970, 1, 1)
SECOND = timedelta(seconds=1)
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


class OnDemandOverflow(UsageError):
    """A bigint result past 64 bits: the warehouse would refuse the same row."""


def read_with_on_demand(
    read: Callable[[list[FeatureSelection]], OnlineFeatures],
    selections: Sequence[FeatureSelection],
    on_demand: OnDemandSelection,
    entity_rows: Sequence[Mapping[str, Any]],
) -> OnlineFeatures:
    """Read the view features asked for and those the on-demand features need, in one call
    of `read`, then compute the on-demand features per entity row. The result holds the
    features asked for, views' first, then the on-demand ones.

    An on-demand value is computed whatever its inputs' statuses (a missing or expired input
    is null, as in a training set); its status is `present` when every input is, else the
    first input's that is not."""
    joined = on_demand.joined(selections)
    found = read(joined)  # first, so that a missing join key is said before a missing field
    requests = _request_values(on_demand.request_fields(), entity_rows)
    position = {ref: index for index, ref in enumerate(found.features)}
    asked = [f.ref for selection in selections for f in selection.features]
    kept = [position[ref] for ref in asked]
    # (input, its position in the read) for every view feature any expression reads
    read_inputs = list({(view, name): position[f"{view}:{name}"] for f in on_demand.features for view, name in f.expression.inputs}.items())
    compiled = [
        (compiled_expression(f), [position[f"{view}:{name}"] for view, name in f.expression.inputs]) for f in on_demand.features
    ]
    values, statuses = [], []
    for row_values, row_statuses, request in zip(found.values, found.statuses, requests):
        inputs = dict(request)
        for key, index in read_inputs:
            inputs[key] = row_values[index]
        row_out = [row_values[i] for i in kept]
        status_out = [row_statuses[i] for i in kept]
        for evaluate, read_positions in compiled:
            row_out.append(evaluate(inputs))
            status_out.append(next((row_statuses[i] for i in read_positions if row_statuses[i] != PRESENT), PRESENT))
        values.append(row_out)
        statuses.append(status_out)
    # On-demand features come from no view, so they have no entry in feature_views; their
    # inputs' views say which rows' timestamps they carry.
    views = tuple(found.feature_views[i] for i in kept) if found.feature_views else ()
    input_views = tuple(tuple(dict.fromkeys(view for view, _ in f.expression.inputs)) for f in on_demand.features)
    return replace(
        found, features=[*asked, *(f.ref for f in on_demand.features)], values=values, statuses=statuses,
        feature_views=views, on_demand_views=input_views,
    )  # fmt: skip


def _request_values(fields: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row's request fields as their declared types (fs get passes text)."""
    found = []
    for number, row in enumerate(rows, 1):
        values = {}
        for name, dtype in fields.items():
            if name not in row:
                raise UsageError(
                    f"entity row {number} has no '{name}', a request field ({dtype}) of the on-demand features "
                    f"asked for; give it with the join keys (fs get --entity {name}=...)"
                )
            values[name] = _coerced(row[name], dtype, name, number)
        found.append(values)
    return found


def _coerced(value: Any, dtype: str, name: str, number: int) -> Any:
    if value is None:
        return None
    try:
        # JSON's true is a Python int, and Python's ints have no bound: the warehouse's
        # bigint is neither a boolean nor wider than 64 bits.
        if dtype == "bigint" and not isinstance(value, (float, bool)):
            number_value = int(value)
            if BIGINT_MIN <= number_value <= BIGINT_MAX:
                return number_value
        if dtype == "double" and not isinstance(value, bool):
            return float(value)
        if dtype == "varchar" and isinstance(value, str):
            return value
        if dtype == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
        if dtype == "timestamp":
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            if isinstance(moment, datetime):
                return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    except (TypeError, ValueError, OverflowError):  # overflow: an offset moved it past year 1 or 9999
        pass
    raise UsageError(f"entity row {number}: request field '{name}' is {value!r}, not a {dtype}")


_COMPILED: dict[int, tuple[Any, Evaluate]] = {}


def compiled_expression(feature: OnDemandFeature) -> Evaluate:
    """The feature's expression as a Python function of its inputs, compiled once per
    catalog (keyed by the checked expression itself: hashing a tree would cost more than
    evaluating it)."""
    checked = feature.expression
    cached = _COMPILED.get(id(checked))
    if cached is None or cached[0] is not checked:
        if len(_COMPILED) > 4096:  # catalogs read again and again in a long process
            _COMPILED.clear()
        cached = _COMPILED[id(checked)] = (checked, _compile(checked.tree))
    return cached[1]


def _compile(node: exp.Expression) -> Evaluate:
    compile_node = _COMPILERS.get(type(node))
    if compile_node is None:  # the checker lets nothing else through
        raise AssertionError(f"no evaluator for {type(node).__name__}")
    return compile_node(node)


def _strict(function: Callable[..., Any], *operands: Evaluate) -> Evaluate:
    """`function` of the operands' values, null when any is null."""
    if len(operands) == 1:
        (only,) = operands

        def unary(inputs):
            value = only(inputs)
            return None if value is None else function(value)

        return unary
    left, right = operands

    def binary(inputs):
        a, b = left(inputs), right(inputs)
        return None if a is None or b is None else function(a, b)

    return binary


def _checked(value: Any) -> Any:
    if type(value) is int and not BIGINT_MIN <= value <= BIGINT_MAX:
        raise OnDemandOverflow(f"an on-demand feature's bigint arithmetic overflowed ({value}); the warehouse refuses it too")
    return value


def _arithmetic(function: Callable[[Any, Any], Any]) -> Callable[[exp.Expression], Evaluate]:
    return lambda node: _strict(lambda a, b: _checked(function(a, b)), _compile(node.this), _compile(node.expression))


def _truncated_division(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return _checked(quotient if (a >= 0) == (b >= 0) else -quotient)


def _truncated_remainder(a: int, b: int) -> int:
    remainder = abs(a) % abs(b)
    return remainder if a >= 0 else -remainder


def _literal(node: exp.Literal) -> Evaluate:
    text = node.this
    value = text if node.is_string else (int(text) if text.isdigit() else float(text))
    return lambda inputs: value


def _column(node: exp.Column) -> Evaluate:
    key = (node.table, node.name) if node.table else node.name
    return lambda inputs: inputs[key]


def _microseconds(node: exp.Expression) -> Evaluate:
    """An interval expression as a whole number of microseconds (a Python int, unbounded:
    a timedelta would overflow where the rule says null)."""
    if isinstance(node, exp.Paren):
        return _microseconds(node.this)
    if isinstance(node, exp.Interval):
        value = int(node.this.this) * UNIT_SECONDS[node.unit.name.lower()] * 1_000_000
        return lambda inputs: value
    count, unit = (node.this, node.expression) if is_interval_expression(node.expression) else (node.expression, node.this)
    return _strict(operator.mul, _compile(count), _microseconds(unit))


_LIMIT_US = SHIFT_LIMIT_SECONDS * 1_000_000


def _shifted(sign: int) -> Callable[[exp.Expression], Evaluate]:
    """timestamp + or - an interval: null outside the years 1 to 9999 (on_demand_limits)."""

    def compile_node(node: exp.Expression) -> Evaluate:
        def shift(moment: datetime, microseconds: int) -> datetime | None:
            if abs(microseconds) > _LIMIT_US:
                return None
            try:
                return moment + timedelta(microseconds=sign * microseconds)
            except OverflowError:  # past datetime's range, which is the rule's
                return None

        return _strict(shift, _compile(node.this), _microseconds(node.expression))

    return compile_node


def _add_or_sub(sign: int, function: Callable[[Any, Any], Any]) -> Callable[[exp.Expression], Evaluate]:
    numbers, times = _arithmetic(function), _shifted(sign)
    return lambda node: (times if is_interval_expression(node.expression) else numbers)(node)


def _sql_order(value: Any) -> Any:
    """A comparison key ordering NaN as the engines do: equal to itself, above every double."""
    return (1, 0.0) if value != value else (0, value)  # only NaN is unequal to itself


def _sql_equal(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)


def _kleene(deciding: bool) -> Callable[[exp.Expression], Evaluate]:
    """AND (`deciding` False) or OR (True) in three-valued logic: one deciding operand
    decides, else a null operand makes the result null."""

    def compile_node(node: exp.Expression) -> Evaluate:
        left, right = _compile(node.this), _compile(node.expression)

        def evaluate(inputs):
            a, b = left(inputs), right(inputs)
            if a is deciding or b is deciding:
                return deciding
            return None if a is None or b is None else not deciding

        return evaluate

    return compile_node


def _case(node: exp.Case) -> Evaluate:
    branches = [(_compile(branch.this), _compile(branch.args["true"])) for branch in node.args.get("ifs") or []]
    default = _compile(node.args["default"]) if node.args.get("default") is not None else (lambda inputs: None)

    def evaluate(inputs):
        for condition, value in branches:
            if condition(inputs) is True:
                return value(inputs)
        return default(inputs)

    return evaluate


def _coalesce(node: exp.Coalesce) -> Evaluate:
    arguments = [_compile(a) for a in [node.this, *node.expressions]]

    def evaluate(inputs):
        for argument in arguments:
            value = argument(inputs)
            if value is not None:
                return value
        return None

    return evaluate


def _nullif(node: exp.Nullif) -> Evaluate:
    value, other = _compile(node.this), _compile(node.expression)

    def evaluate(inputs):
        a = value(inputs)
        if a is None:
            return None
        b = other(inputs)
        return None if b is not None and _sql_equal(a, b) else a

    return evaluate


def _rounded_down_or_up(function: Callable[[float], int]) -> Callable[[float], float]:
    return lambda x: float(function(x)) if math.isfinite(x) else x


def _cast(node: exp.Cast) -> Evaluate:
    target = node.to.this
    inner = _compile(node.this)
    if target == exp.DataType.Type.BIGINT:
        # round() rounds half to even, as DuckDB's and PostgreSQL's casts do.
        return _strict(lambda x: _checked(x if type(x) is int else _rounded(x)), inner)
    if target == exp.DataType.Type.DOUBLE:
        return _strict(float, inner)
    if target in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT):
        return _strict(str, inner)
    return inner  # a cast to the value's own type


def _rounded(x: float) -> int:
    if not math.isfinite(x):  # Python raises its own errors; the engines refuse the row
        raise OnDemandOverflow(f"an on-demand feature casts {x} to a bigint; the warehouse refuses it too")
    return round(x)


def _epoch(node: exp.TimeToUnix) -> Evaluate:
    # Whole microseconds divided once, correctly rounded: what DuckDB and PostgreSQL compute.
    return _strict(lambda t: (t - EPOCH) / SECOND, _compile(node.this))


def _comparison(function: Callable[[Any, Any], bool]) -> Callable[[exp.Expression], Evaluate]:
    # Keys only when a NaN is there (a value unequal to itself): the common case stays one call.
    ordered = lambda a, b: function(a, b) if a == a and b == b else function(_sql_order(a), _sql_order(b))  # noqa: E731
    return lambda node: _strict(ordered, _compile(node.this), _compile(node.expression))


_COMPILERS: dict[type, Callable[[exp.Expression], Evaluate]] = {
    exp.Literal: _literal,
    exp.Column: _column,
    exp.Boolean: lambda node: (lambda inputs, value=node.this: value),
    exp.Null: lambda node: (lambda inputs: None),
    exp.Paren: lambda node: _compile(node.this),
    exp.Add: _add_or_sub(1, operator.add),
    exp.Sub: _add_or_sub(-1, operator.sub),
    exp.Mul: _arithmetic(operator.mul),
    exp.Div: _arithmetic(operator.truediv),  # the divisor is NULLIF(x, 0): never zero here
    exp.IntDiv: lambda node: _strict(_truncated_division, _compile(node.this), _compile(node.expression)),
    exp.Mod: lambda node: _strict(_truncated_remainder, _compile(node.this), _compile(node.expression)),
    exp.Neg: lambda node: _strict(lambda x: _checked(-x), _compile(node.this)),
    exp.EQ: lambda node: _strict(_sql_equal, _compile(node.this), _compile(node.expression)),
    exp.NEQ: lambda node: _strict(lambda a, b: not _sql_equal(a, b), _compile(node.this), _compile(node.expression)),
    exp.LT: _comparison(operator.lt),
    exp.LTE: _comparison(operator.le),
    exp.GT: _comparison(operator.gt),
    exp.GTE: _comparison(operator.ge),
    exp.And: _kleene(False),
    exp.Or: _kleene(True),
    exp.Not: lambda node: _strict(operator.not_, _compile(node.this)),
    exp.Is: lambda node: (lambda inputs, inner=_compile(node.this): inner(inputs) is None),
    exp.Case: _case,
    exp.Coalesce: _coalesce,
    exp.Nullif: _nullif,
    exp.Abs: lambda node: _strict(lambda x: _checked(abs(x)), _compile(node.this)),
    exp.Floor: lambda node: _strict(_rounded_down_or_up(math.floor), _compile(node.this)),
    exp.Ceil: lambda node: _strict(_rounded_down_or_up(math.ceil), _compile(node.this)),
    exp.TimeToUnix: _epoch,
    exp.DPipe: lambda node: _strict(operator.add, _compile(node.this), _compile(node.expression)),
    exp.Cast: _cast,
}
