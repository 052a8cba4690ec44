"""The on-demand language at the limits of its types: the rules every path (the engines'
SQL, featurestore.sql.on_demand; the online evaluator, featurestore.online.on_demand) follows
where the engines and Python would otherwise part (docs/configuration.md):

- a bigint result past 64 bits, and a double cast to bigint past them (NaN and the
  infinities included), is an error, as the engines refuse it;
- NaN equals NaN and sorts above every other double, as DuckDB and PostgreSQL order it;
- `timestamp +/- interval` outside FIRST_MOMENT .. LAST_MOMENT is null.
"""

from __future__ import annotations

from sqlglot import exp

UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
"""Seconds in each interval unit."""

FIRST_MOMENT, LAST_MOMENT = "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"
"""The range of a timestamp result of `timestamp +/- interval` (Python's datetime's): outside
it the result is null on every path. DuckDB and PostgreSQL hold timestamps up to the year
294,000, which the online evaluator cannot, and a value past 9999 converts to no Python or
pandas timestamp anyway."""

SHIFT_LIMIT_SECONDS = 320_000_000_000
"""A shift longer than this (about 10,100 years) leaves the range from any timestamp in it:
its result is null without being computed, before the engines' own interval arithmetic
could fail (DuckDB past 2**63 microseconds) where the evaluator would not."""


def is_interval_expression(node: exp.Expression) -> bool:
    """Whether a checked expression is an interval: `interval n unit`, a bigint times one,
    or either in parentheses (the only forms the checker lets an interval take)."""
    if isinstance(node, exp.Interval):
        return True
    if isinstance(node, exp.Paren):
        return is_interval_expression(node.this)
    return isinstance(node, exp.Mul) and (is_interval_expression(node.this) or is_interval_expression(node.expression))
