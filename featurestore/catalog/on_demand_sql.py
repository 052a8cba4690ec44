"""The language of on-demand features: SQL expressions in DuckDB's dialect, limited to what
every engine and fs's own in-process evaluator compute alike, checked and typed once.

An expression is parsed, every construct is checked against the ones this module knows
(anything else is refused with the list of what is allowed), and the tree is rewritten so
that nothing is left to an engine's defaults: every mixing of bigint and double gets an
explicit cast, `/` is double division, a zero divisor gives null, number literals carry
their type. What remains means the same in DuckDB, PostgreSQL and the online evaluator
(featurestore.online.on_demand), which the property tests check; docs/configuration.md
lists the language.

Inputs are the features of views, written `view.feature` (a version of a versioned model
quoted, `"plane_daily@v1".plane__seats`), and the group's request fields, written as bare
names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import sqlglot
from sqlglot import exp

from featurestore.errors import closest

DIALECT = "duckdb"
"""The one dialect on-demand expressions are written in; each engine gets them transpiled."""

TYPES = ("bigint", "double", "boolean", "varchar", "timestamp")
"""The types of request fields, inputs and results."""

NULL, INTERVAL = "null", "interval"
"""Types of a bare NULL and of an interval: never the type of a result."""

NUMBERS = ("bigint", "double")
INTERVAL_UNITS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days"}
"""Interval unit -> its timedelta argument. Months and years are left out: their length
depends on the calendar, which the engines do not agree on at month ends."""

ALLOWED = (
    "view.feature and request fields; number, 'text', true/false and null literals; + - * / "
    "(double division, null when dividing by zero), // and % (bigint only); = <> < <= > >=; "
    "and, or, not; is [not] null; case when ... then ... [else ...] end; if(); coalesce; nullif; "
    "abs, floor, ceil; cast between bigint and double, bigint to varchar; || on varchar; "
    "epoch(timestamp); timestamp +/- interval n second|minute|hour|day, or bigint * interval"
)

_DATA_TYPES = {
    exp.DataType.Type.BIGINT: "bigint",
    exp.DataType.Type.INT: "bigint",
    exp.DataType.Type.SMALLINT: "bigint",
    exp.DataType.Type.TINYINT: "bigint",
    exp.DataType.Type.DOUBLE: "double",
    exp.DataType.Type.FLOAT: "double",
    exp.DataType.Type.BOOLEAN: "boolean",
    exp.DataType.Type.VARCHAR: "varchar",
    exp.DataType.Type.TEXT: "varchar",
    exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIMESTAMPNTZ: "timestamp",
}


class ExpressionError(Exception):
    """What is wrong with an expression, and what is valid; the meta parser says where."""

    def __init__(self, problem: str, valid: str = ""):
        super().__init__(problem)
        self.problem = problem
        self.valid = valid


def type_of(data_type: str | None) -> str | None:
    """The language's type for a column's data_type (`int8`, `double precision`, `text`,
    ...), or None when it has none (decimal, date, ...) or none is declared."""
    if not data_type:
        return None
    try:
        built = exp.DataType.build(str(data_type), dialect=DIALECT)
    except (sqlglot.errors.ParseError, ValueError):
        return None
    return _DATA_TYPES.get(built.this)


def sql_type(name: str) -> exp.DataType:
    return exp.DataType.build(name)


@dataclass(frozen=True)
class CheckedExpression:
    """An expression made explicit (see the module's docstring), with its type and inputs."""

    tree: exp.Expression
    dtype: str
    inputs: tuple[tuple[str, str], ...]
    """(view, feature) pairs it reads, in order of first use."""
    request_fields: tuple[tuple[str, str], ...]
    """(name, type) of the request fields it reads, in order of first use."""


FeatureType = Callable[[str, str], str]
"""(view, feature) -> its type; raises ExpressionError for an unknown or untyped one."""


def check_expression(
    sql: str, request: Mapping[str, str], feature_type: FeatureType, resolve_view: Callable[[str], str] | None = None
) -> CheckedExpression:
    """Parse, check and type `sql` (DuckDB dialect) over `request` fields (name -> type) and
    view features (`feature_type`). `resolve_view` names the view a written name reads (a
    versioned model's plain name: the version it means); the checked tree and the inputs
    carry that name."""
    if not isinstance(sql, str) or not sql.strip():
        raise ExpressionError("sql must be a non-empty SQL expression")
    try:
        parsed = sqlglot.parse_one(sql, read=DIALECT)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        raise ExpressionError(f"sql '{sql}' is not valid {DIALECT} SQL: {str(error).splitlines()[0]}") from None
    if isinstance(parsed, (exp.Query, exp.Alias)):
        raise ExpressionError(f"sql '{sql}' must be one expression, without SELECT or AS")
    checker = _Checker(request, feature_type, resolve_view or (lambda name: name))
    tree, dtype = checker.check(parsed)
    if dtype in (NULL, INTERVAL):
        raise ExpressionError(f"sql '{sql}' has no result type ({dtype})", f"valid result types: {', '.join(TYPES)}")
    return CheckedExpression(tree, dtype, tuple(dict.fromkeys(checker.inputs)), tuple((f, request[f]) for f in dict.fromkeys(checker.fields)))


class _Checker:
    """One pass over a parsed expression: each handler checks a node's children, returns the
    node rebuilt in explicit form and its type."""

    def __init__(self, request: Mapping[str, str], feature_type: FeatureType, resolve_view: Callable[[str], str]):
        self.request = request
        self.feature_type = feature_type
        self.resolve_view = resolve_view
        self.inputs: list[tuple[str, str]] = []
        self.fields: list[str] = []

    def check(self, node: exp.Expression) -> tuple[exp.Expression, str]:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise ExpressionError(f"'{node.sql(DIALECT)}' is not in the on-demand language", f"allowed: {ALLOWED}")
        return handler(self, node)

    # -- leaves --------------------------------------------------------------------------
    def column(self, node: exp.Column) -> tuple[exp.Expression, str]:
        name, table = node.name, node.table
        if node.args.get("db") is not None:
            raise ExpressionError(f"'{node.sql(DIALECT)}' has too many parts; write view.feature or a request field")
        if table:
            table = self.resolve_view(table)
            dtype = self.feature_type(table, name)
            self.inputs.append((table, name))
            return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table, quoted=True)), dtype
        if name not in self.request:
            hint = closest(name, self.request)
            raise ExpressionError(
                f"'{name}' is neither a request field nor view.feature",
                (f"did you mean '{hint[0]}'? " if hint else "")
                + f"request fields: {', '.join(self.request) or 'none declared'}; a view's feature is written view.feature",
            )
        self.fields.append(name)
        return exp.column(exp.to_identifier(name, quoted=True)), self.request[name]

    def literal(self, node: exp.Literal) -> tuple[exp.Expression, str]:
        if node.is_string:
            return exp.Literal.string(node.this), "varchar"
        text = node.this
        # Typed here, since engines type literals their own way (DuckDB's 60.0 is a decimal,
        # its 2 an int32 that overflows where a bigint would not).
        if text.isdigit():
            return exp.cast(exp.Literal.number(text), sql_type("bigint")), "bigint"
        return exp.cast(exp.Literal.number(text), sql_type("double")), "double"

    def boolean(self, node: exp.Boolean) -> tuple[exp.Expression, str]:
        return exp.Boolean(this=node.this), "boolean"

    def null(self, node: exp.Null) -> tuple[exp.Expression, str]:
        return exp.null(), NULL

    def paren(self, node: exp.Paren) -> tuple[exp.Expression, str]:
        inner, dtype = self.check(node.this)
        return exp.Paren(this=inner), dtype

    # -- arithmetic ----------------------------------------------------------------------
    def add_or_sub(self, node: exp.Add | exp.Sub) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        if left_type == "timestamp" and right_type == INTERVAL:
            return type(node)(this=left, expression=right), "timestamp"
        if isinstance(node, exp.Add) and left_type == INTERVAL and right_type == "timestamp":
            return exp.Add(this=right, expression=left), "timestamp"
        if left_type == right_type == "timestamp" and isinstance(node, exp.Sub):
            raise ExpressionError(
                f"'{node.sql(DIALECT)}' subtracts timestamps, whose difference each engine types its own way",
                "write epoch(a) - epoch(b) for the seconds between them",
            )
        return self._numeric(type(node), node, left, left_type, right, right_type)

    def mul(self, node: exp.Mul) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        if INTERVAL in (left_type, right_type):
            count, count_type = (left, left_type) if right_type == INTERVAL else (right, right_type)
            unit = right if right_type == INTERVAL else left
            if count_type not in ("bigint", NULL):
                raise ExpressionError(f"'{node.sql(DIALECT)}' multiplies an interval by a {count_type}", "the count must be a bigint")
            return exp.Mul(this=count, expression=unit), INTERVAL
        return self._numeric(exp.Mul, node, left, left_type, right, right_type)

    def div(self, node: exp.Div) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        self._require(node, NUMBERS, left_type, right_type)
        # Double division everywhere (PostgreSQL would divide bigints as integers), and a
        # zero divisor gives null (DuckDB would give infinity or fail, PostgreSQL fail).
        divisor = exp.Nullif(this=_as_double(right, right_type), expression=exp.Literal.number(0))
        return exp.Div(this=_as_double(left, left_type), expression=divisor), "double"

    def int_div_or_mod(self, node: exp.IntDiv | exp.Mod) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        symbol = "//" if isinstance(node, exp.IntDiv) else "%"
        self._require(node, ("bigint",), left_type, right_type, hint=f"{symbol} takes bigints; for doubles write floor(a / b)")
        divisor = exp.Nullif(this=right, expression=exp.Literal.number(0))
        # Both truncate toward zero in every engine; PostgreSQL's DIV returns a numeric.
        built = type(node)(this=left, expression=divisor)
        return (exp.cast(built, sql_type("bigint")) if isinstance(node, exp.IntDiv) else built), "bigint"

    def neg(self, node: exp.Neg) -> tuple[exp.Expression, str]:
        inner, dtype = self.check(node.this)
        self._require(node, NUMBERS, dtype)
        return exp.Neg(this=inner), dtype

    def _numeric(self, kind, node, left, left_type, right, right_type) -> tuple[exp.Expression, str]:
        self._require(node, NUMBERS, left_type, right_type)
        if "double" in (left_type, right_type):
            return kind(this=_as_double(left, left_type), expression=_as_double(right, right_type)), "double"
        return kind(this=left, expression=right), ("bigint" if "bigint" in (left_type, right_type) else NULL)

    def _require(self, node, types, *operand_types: str, hint: str = "") -> None:
        for dtype in operand_types:
            if dtype not in (*types, NULL):
                raise ExpressionError(
                    f"'{node.sql(DIALECT)}' applies {_OPERATOR_NAMES.get(type(node), type(node).__name__.lower())} to a {dtype}",
                    hint or f"it takes {' or '.join(types)}",
                )

    def interval(self, node: exp.Interval) -> tuple[exp.Expression, str]:
        amount, unit = node.this, (node.unit.name if node.unit else "").lower().rstrip("s")
        if unit not in INTERVAL_UNITS or not isinstance(amount, exp.Literal) or not str(amount.this).isdigit():
            raise ExpressionError(
                f"'{node.sql(DIALECT)}' is not an interval fs can compute alike everywhere",
                "write INTERVAL n SECOND|MINUTE|HOUR|DAY with a whole number n (months and years depend on the calendar)",
            )
        return exp.Interval(this=exp.Literal.string(str(int(amount.this))), unit=exp.var(unit.upper())), INTERVAL

    # -- comparisons and logic -----------------------------------------------------------
    def compare(self, node: exp.Binary) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        ordered = not isinstance(node, (exp.EQ, exp.NEQ))
        if left_type in NUMBERS and right_type in NUMBERS:
            if left_type != right_type:
                left, right = _as_double(left, left_type), _as_double(right, right_type)
        elif NULL not in (left_type, right_type) and left_type != right_type:
            raise ExpressionError(f"'{node.sql(DIALECT)}' compares a {left_type} with a {right_type}", "cast one side")
        comparable = {left_type, right_type} - {NULL}
        if ordered and comparable & {"varchar", "boolean"}:
            raise ExpressionError(
                f"'{node.sql(DIALECT)}' orders {'text' if 'varchar' in comparable else 'booleans'}, "
                "which engines order by their own collations",
                "compare text with = or <> only",
            )
        if INTERVAL in comparable:
            raise ExpressionError(f"'{node.sql(DIALECT)}' compares intervals", "compare timestamps instead")
        return type(node)(this=left, expression=right), "boolean"

    def logic(self, node: exp.And | exp.Or) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        self._require(node, ("boolean",), left_type, right_type)
        return type(node)(this=left, expression=right), "boolean"

    def not_(self, node: exp.Not) -> tuple[exp.Expression, str]:
        inner, dtype = self.check(node.this)
        self._require(node, ("boolean",), dtype)
        return exp.Not(this=inner), "boolean"

    def is_(self, node: exp.Is) -> tuple[exp.Expression, str]:
        if not isinstance(node.expression, exp.Null):
            raise ExpressionError(f"'{node.sql(DIALECT)}' is not in the on-demand language", "write IS NULL or IS NOT NULL")
        inner, _ = self.check(node.this)
        return exp.Is(this=inner, expression=exp.null()), "boolean"

    # -- conditionals --------------------------------------------------------------------
    def case(self, node: exp.Case) -> tuple[exp.Expression, str]:
        if node.this is not None:
            raise ExpressionError(f"'{node.sql(DIALECT)}' is a simple CASE", "write CASE WHEN x = ... THEN ... END")
        branches = [(branch.this, branch.args.get("true")) for branch in node.args.get("ifs") or []]
        return self._conditional(node, branches, node.args.get("default"))

    def if_(self, node: exp.If) -> tuple[exp.Expression, str]:
        return self._conditional(node, [(node.this, node.args.get("true"))], node.args.get("false"))

    def _conditional(self, node, branches, default) -> tuple[exp.Expression, str]:
        conditions, values = [], []
        for condition, value in branches:
            checked, dtype = self.check(condition)
            self._require(node, ("boolean",), dtype)
            conditions.append(checked)
            values.append(self.check(value))
        if default is not None:
            values.append(self.check(default))
        result_type, values = _unified(node, values)
        ifs = [exp.If(this=c, true=v) for c, v in zip(conditions, values)]
        return exp.Case(ifs=ifs, default=values[len(ifs)] if default is not None else None), result_type

    def coalesce(self, node: exp.Coalesce) -> tuple[exp.Expression, str]:
        checked = [self.check(a) for a in [node.this, *node.expressions]]
        result_type, values = _unified(node, checked)
        return exp.Coalesce(this=values[0], expressions=values[1:]), result_type

    def nullif(self, node: exp.Nullif) -> tuple[exp.Expression, str]:
        result_type, (value, other) = _unified(node, [self.check(node.this), self.check(node.expression)])
        return exp.Nullif(this=value, expression=other), result_type

    # -- functions and casts -------------------------------------------------------------
    def abs_(self, node: exp.Abs) -> tuple[exp.Expression, str]:
        inner, dtype = self.check(node.this)
        self._require(node, NUMBERS, dtype)
        return exp.Abs(this=inner), dtype

    def floor_or_ceil(self, node: exp.Floor | exp.Ceil) -> tuple[exp.Expression, str]:
        if node.args.get("decimals") is not None:
            raise ExpressionError(f"'{node.sql(DIALECT)}' takes decimals", "floor and ceil take one argument")
        inner, dtype = self.check(node.this)
        self._require(node, NUMBERS, dtype)
        # On a double in every engine (PostgreSQL would make a numeric of a bigint).
        return type(node)(this=_as_double(inner, dtype)), "double"

    def epoch(self, node: exp.TimeToUnix) -> tuple[exp.Expression, str]:
        inner, dtype = self.check(node.this)
        self._require(node, ("timestamp",), dtype)
        return exp.TimeToUnix(this=inner), "double"

    def concat(self, node: exp.DPipe) -> tuple[exp.Expression, str]:
        left, left_type = self.check(node.this)
        right, right_type = self.check(node.expression)
        self._require(node, ("varchar",), left_type, right_type, hint="|| joins varchars; cast a bigint to varchar first")
        return exp.DPipe(this=left, expression=right), "varchar"

    def cast(self, node: exp.Cast) -> tuple[exp.Expression, str]:
        target = _DATA_TYPES.get(node.to.this)
        inner, dtype = self.check(node.this)
        if target is None:
            raise ExpressionError(f"'{node.sql(DIALECT)}' casts to {node.to.sql(DIALECT)}", f"cast to one of {', '.join(TYPES)}")
        if dtype not in (target, NULL) and (dtype, target) not in _CASTS:
            raise ExpressionError(
                f"'{node.sql(DIALECT)}' casts a {dtype} to {target}, which engines do not do alike",
                "allowed casts: " + ", ".join(f"{a} to {b}" for a, b in _CASTS),
            )
        return exp.cast(inner, sql_type(target)), target

    def round_(self, node: exp.Round) -> tuple[exp.Expression, str]:
        raise ExpressionError(
            f"'{node.sql(DIALECT)}': round() breaks ties differently in each engine",
            "CAST(x AS BIGINT) rounds half to even everywhere; floor(x + 0.5) rounds half up",
        )


_OPERATOR_NAMES = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.IntDiv: "//", exp.Mod: "%", exp.Neg: "unary -",
    exp.DPipe: "||", exp.TimeToUnix: "epoch()", exp.Abs: "abs()", exp.Floor: "floor()", exp.Ceil: "ceil()",
}
"""How errors name an operator: as it is written, not as sqlglot's class is named."""

_CASTS = (("bigint", "double"), ("double", "bigint"), ("bigint", "varchar"))
"""Casts every engine and Python do alike: double to bigint rounds half to even in DuckDB,
PostgreSQL and Python; a double's or a timestamp's text differs from engine to engine."""


def _as_double(node: exp.Expression, dtype: str) -> exp.Expression:
    return exp.cast(node, sql_type("double")) if dtype == "bigint" else node


def _unified(node: exp.Expression, checked: list[tuple[exp.Expression, str]]) -> tuple[str, list[exp.Expression]]:
    """One type for values that share a column (branches of a CASE, arguments of coalesce):
    bigints mix with doubles as doubles; anything else must agree."""
    types = {dtype for _, dtype in checked} - {NULL}
    if types <= set(NUMBERS) and len(types) == 2:
        return "double", [_as_double(value, dtype) for value, dtype in checked]
    if len(types) > 1:
        raise ExpressionError(f"'{node.sql(DIALECT)}' mixes {' and '.join(sorted(types))}", "cast the values to one type")
    result = types.pop() if types else NULL
    if result == INTERVAL:
        raise ExpressionError(f"'{node.sql(DIALECT)}' returns an interval", "add it to a timestamp")
    return result, [value for value, _ in checked]


_HANDLERS: dict[type, Callable] = {
    exp.Column: _Checker.column,
    exp.Literal: _Checker.literal,
    exp.Boolean: _Checker.boolean,
    exp.Null: _Checker.null,
    exp.Paren: _Checker.paren,
    exp.Add: _Checker.add_or_sub,
    exp.Sub: _Checker.add_or_sub,
    exp.Mul: _Checker.mul,
    exp.Div: _Checker.div,
    exp.IntDiv: _Checker.int_div_or_mod,
    exp.Mod: _Checker.int_div_or_mod,
    exp.Neg: _Checker.neg,
    exp.Interval: _Checker.interval,
    exp.EQ: _Checker.compare,
    exp.NEQ: _Checker.compare,
    exp.LT: _Checker.compare,
    exp.LTE: _Checker.compare,
    exp.GT: _Checker.compare,
    exp.GTE: _Checker.compare,
    exp.And: _Checker.logic,
    exp.Or: _Checker.logic,
    exp.Not: _Checker.not_,
    exp.Is: _Checker.is_,
    exp.Case: _Checker.case,
    exp.If: _Checker.if_,
    exp.Coalesce: _Checker.coalesce,
    exp.Nullif: _Checker.nullif,
    exp.Abs: _Checker.abs_,
    exp.Floor: _Checker.floor_or_ceil,
    exp.Ceil: _Checker.floor_or_ceil,
    exp.TimeToUnix: _Checker.epoch,
    exp.DPipe: _Checker.concat,
    exp.Cast: _Checker.cast,
    exp.Round: _Checker.round_,
}
