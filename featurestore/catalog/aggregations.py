"""Windowed aggregations declared on an event model: the language and its validation.

An event model (one row per event: keys, event time, optional created_at, values) may declare

    aggregations:
      - column: dep_delay
        function: [count, avg, max]
        windows: [1h, 24h, 7d]

Each (column, function, window) is one feature, named `{entity}__{column}_{function}__{window}`
(`{entity}__count__{window}` for `column: "*"`). For a time t, a window w aggregates the events
of the entity's keys with `t - w < event time <= t` (docs/aggregations.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from featurestore.catalog.keys import Fail, refuse_unknown_keys
from featurestore.catalog.ttl import MAX_TTL_TEXT, VALID_TTL, TtlOutOfRange, not_a_duration, parse_ttl, strict_spelling
from featurestore.errors import closest

FUNCTIONS = (
    "count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct", "approx_count_distinct",
)
"""Every aggregate function, in the order docs/aggregations.md lists them."""

COUNTING = frozenset({"count", "count_distinct", "approx_count_distinct"})
"""Functions whose empty window is 0 (the others give null)."""

NUMERIC_ONLY = frozenset({"sum", "avg", "stddev"})
"""Functions that need a number: refused on a column whose declared type is not one."""

ALL_EVENTS = "*"
"""`column: "*"` counts events (only with count)."""

ENTRY_KEYS = {
    "column": 'the column to aggregate, or "*" with count for the number of events',
    "function": "one function or a list: " + ", ".join(FUNCTIONS),
    "windows": "a list of durations such as [1h, 24h, 7d]",
}

_INTEGER = re.compile(r"^(u?(tiny|small|big|huge)?int(eger)?\d*|int[248]|long|short|byte|(u)?int(8|16|32|64|128))$")
_FLOAT = re.compile(r"^(float\d*|double( precision)?|real|float64|float32)$")
_NUMERIC = re.compile(r"^(numeric|decimal|number|bignumeric)(\(.*\))?$")


@dataclass(frozen=True)
class WindowedAggregation:
    """One feature of an aggregation view: `function` of `column` over the last `window`."""

    name: str
    column: str | None
    """The aggregated column; None for "*" (count of events)."""
    function: str
    window: timedelta
    window_text: str
    """The window as the YAML spells it (the feature name's suffix)."""

    @property
    def window_us(self) -> int:
        """The window in microseconds (the resolution of the boundary rule)."""
        return int(self.window.total_seconds()) * 1_000_000


def aggregated_columns(aggregations: tuple[WindowedAggregation, ...]) -> tuple[str, ...]:
    """The distinct columns the aggregations read, in declared order ("*" reads none)."""
    return tuple(dict.fromkeys(a.column for a in aggregations if a.column is not None))


def aggregation_dtype(function: str, column_type: str | None) -> str | None:
    """The type of a feature: counts BIGINT, avg and stddev DOUBLE, the others the column's
    (a sum of integers BIGINT); None when the column declares no type."""
    if function in COUNTING:
        return "BIGINT"
    if function in ("avg", "stddev"):
        return "DOUBLE"
    if function == "sum" and column_type and type_family(column_type) == "integer":
        return "BIGINT"
    return column_type


def type_family(data_type: str) -> str | None:
    """integer, float, numeric, or None (text, time, boolean or not known) for a YAML data_type."""
    text = " ".join(data_type.strip().lower().split())
    if _INTEGER.match(text):
        return "integer"
    if _FLOAT.match(text):
        return "float"
    if _NUMERIC.match(text):
        return "numeric"
    return None


def parse_aggregations(
    raw: object, entity: str, columns: dict[str, str | None], reserved: list[str], fail: Fail
) -> tuple[WindowedAggregation, ...]:
    """The aggregations a model's `meta.feature_store.aggregations` declares.

    `columns` maps each declared column to its YAML data_type (None if it has none);
    `reserved` holds the join keys, timestamp and created_at, which cannot be aggregated.
    Every problem is one MetaError naming the entry and the valid values."""
    place = "meta.feature_store.aggregations"
    if not isinstance(raw, list) or not raw:
        raise fail(f"{place} must be a non-empty list of {{column, function, windows}} entries")
    found: dict[str, WindowedAggregation] = {}
    for index, entry in enumerate(raw):
        where = f"{place}[{index}]"
        if not isinstance(entry, dict):
            raise fail(f"{where} must be a mapping with keys column, function, windows")
        refuse_unknown_keys(entry, ENTRY_KEYS, where, fail)
        for key in ENTRY_KEYS:
            if key not in entry:
                raise fail(f"{where}.{key} is missing", ENTRY_KEYS[key])
        column = _column(entry["column"], where, columns, reserved, fail)
        windows = _windows(entry["windows"], where, fail)
        for function in _functions(entry["function"], where, fail):
            _check_function(function, column, columns, where, fail)
            for text, window in windows:
                aggregation = WindowedAggregation(
                    name=feature_name(entity, column, function, text),
                    column=column,
                    function=function,
                    window=window,
                    window_text=text,
                )
                if aggregation.name in found:
                    raise fail(f"{where} declares feature '{aggregation.name}' a second time")
                found[aggregation.name] = aggregation
    return tuple(found.values())


def feature_name(entity: str, column: str | None, function: str, window_text: str) -> str:
    """`origin__dep_delay_avg__1h`; `origin__count__1h` for the count of events."""
    if column is None:
        return f"{entity}__count__{window_text}"
    return f"{entity}__{column}_{function}__{window_text}"


def _column(value: object, where: str, columns: dict[str, str | None], reserved: list[str], fail: Fail) -> str | None:
    if value == ALL_EVENTS:
        return None
    if not isinstance(value, str) or not value:
        raise fail(f'{where}.column must be a column name or "*", not {value!r}')
    if value not in columns:
        hint = closest(value, list(columns))
        prefix = f"did you mean '{hint[0]}'? " if hint else ""
        raise fail(f"{where}.column '{value}' is not a column of the model", prefix + "declared columns: " + ", ".join(columns))
    if value in reserved:
        raise fail(f"{where}.column '{value}' is a join key or timestamp column", 'aggregate a value column, or "*" with count')
    return value


def _functions(value: object, where: str, fail: Fail) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise fail(f"{where}.function must be one function name or a non-empty list", "valid: " + ", ".join(FUNCTIONS))
    for name in names:
        if name not in FUNCTIONS:
            hint = closest(name, list(FUNCTIONS))
            prefix = f"did you mean '{hint[0]}'? " if hint else ""
            raise fail(f"{where}.function '{name}' is not an aggregate function", prefix + "valid: " + ", ".join(FUNCTIONS))
    if len(set(names)) != len(names):
        raise fail(f"{where}.function names a function twice")
    return names


def _windows(value: object, where: str, fail: Fail) -> list[tuple[str, timedelta]]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise fail(f"{where}.windows must be a non-empty list of durations", VALID_TTL)
    windows = []
    for text in texts:
        try:
            window = parse_ttl(text)
        except TtlOutOfRange as error:
            raise fail(f"{where}: window '{text}' is zero or longer than the maximum", f"valid: more than zero and at most {MAX_TTL_TEXT}") from error
        except ValueError as error:
            raise fail(not_a_duration(f"{where}: window '{text}'", error) + _renames(text), VALID_TTL) from error
        windows.append((text.strip(), window))
    if len({text for text, _ in windows}) != len(windows):
        raise fail(f"{where}.windows names a window twice")
    return windows


def _renames(text: str) -> str:
    """Why fixing the spelling of a window an older fs read (`7D`) is no silent edit."""
    spelling = strict_spelling(text)
    if spelling is None:
        return ""
    return f"; the window's text is in its features' names, so writing it as {spelling} renames them"


def _check_function(function: str, column: str | None, columns: dict[str, str | None], where: str, fail: Fail) -> None:
    if column is None:
        if function != "count":
            raise fail(f'{where}: column "*" takes only count, not {function}', "name a column for " + function)
        return
    family = type_family(columns[column] or "")
    if function in ("count_distinct", "approx_count_distinct") and family == "float":
        raise fail(
            f"{where}: {function} of '{column}' ({columns[column]}): distinct floating-point values are not well defined",
            "cast the column to an integer, decimal or text in the model",
        )
    if function in NUMERIC_ONLY and columns[column] and family is None:
        raise fail(
            f"{where}: {function} of '{column}' needs a number, and its data_type is {columns[column]}",
            "valid: " + ", ".join(f for f in FUNCTIONS if f not in NUMERIC_ONLY) + " for other types",
        )
