"""What the plans of an aggregation view's join share (sql/windows.py composes them): the
names of the event and spine CTEs' columns, and the trees every plan orders rows by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

from featurestore.catalog import FeatureView
from featurestore.engines.engine import Engine
from featurestore.sql.expressions import INTERNAL, column, data_type, identifier

TIME = f"{INTERNAL}us"
"""An event's timestamp (a spine row's time) in integer microseconds since 1970."""
KNOWN = f"{INTERNAL}known_us"
"""An event's knowledge time (created_at, else the timestamp) in microseconds: ties on the
timestamp are broken on it (`last`)."""
ACTIVE = f"{INTERNAL}active_us"
"""When an event starts to count: its timestamp, or, under a knowledge cut-off, the later of
its timestamp and knowledge time."""
EVENT = f"{INTERNAL}event"
"""1 on every event row and null on spine rows: count of "*" counts it."""
KIND = f"{INTERNAL}kind"
"""0 for an event's row, 1 for a spine row: events of the spine row's time sort before it."""


@dataclass(frozen=True)
class WindowInputs:
    """One aggregation view's join: the view, the names of its event and spine-row CTEs
    (sql/windows.py), whether a knowledge cut-off applies, and the engine."""

    view: FeatureView
    events: str
    spine: str
    knowledge_cut_off: bool
    engine: Engine

    @property
    def keys(self) -> list[exp.Column]:
        return [column(k) for k in self.view.join_keys]


def along_time(function: exp.Expression, inputs: WindowInputs, order: Sequence[str] = (TIME, KIND)) -> exp.Window:
    """`function` over each entity's rows up to the current one, in `order`."""
    return exp.Window(
        this=function,
        partition_by=inputs.keys,
        order=exp.Order(expressions=[exp.Ordered(this=column(c)) for c in order]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )


def not_null(name: str, table: str | None = None) -> exp.Expression:
    return exp.Not(this=exp.Is(this=column(name, table), expression=exp.null()))


def spine_rows_of(query: exp.Select, name: str, columns: Sequence[str]) -> exp.Select:
    """`columns` of the rows of `query` that are spine rows (KIND 1): window functions are
    computed over every row, then the spine's are kept."""
    # Every node here is this call's own (`query` is the caller's, handed over): no copies.
    return (
        exp.select(*[column(c) for c in columns], copy=False)
        .from_(query.subquery(identifier(f"{name}_all"), copy=False), copy=False)
        .where(exp.EQ(this=column(KIND), expression=exp.Literal.number(1)), copy=False)
    )


def typed(value: exp.Expression, dtype: str | None) -> exp.Expression:
    """`value` cast to the feature's declared BIGINT or DOUBLE (a sum of integers is a wider
    type on some engines, an average a decimal on others); other types are the column's."""
    if dtype in ("BIGINT", "DOUBLE"):
        return exp.cast(value, data_type(dtype.lower()), copy=False)
    return value
