"""`fs check`'s SQL for every engine fs knows (it runs on DuckDB and PostgreSQL in the
integration tests; the others must at least be SQL their dialect reads back), and how its
results turn into statuses, exit codes and PSI."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from featurestore.catalog.monitoring import Thresholds
from featurestore.engines.registry import ENGINES
from featurestore.errors import EXIT_CHECK_FAILURES, EXIT_CHECK_WARNINGS
from featurestore.governance.check import CheckReport, CheckResult, kind_of
from featurestore.governance.stability import population_stability_index
from featurestore.sql import checks as q
from featurestore.sql.check_history import HistoryRow, create_history_expression, insert_history_expression
from featurestore.sql.expressions import render
from tests.pit_fixtures import feature_view

NOW = datetime(2013, 12, 31, 0, 30)
VIEW = feature_view("route_daily", ("origin", "dest"), {"flights": "bigint", "rate": "double", "tier": "varchar"}, "main", created_at=True)
FEATURES = [q.ProfiledFeature("flights", q.NUMERIC), q.ProfiledFeature("rate", q.NUMERIC), q.ProfiledFeature("tier", q.CATEGORICAL)]


@pytest.mark.parametrize("engine", ENGINES, ids=[e.name for e in ENGINES])
def test_the_profile_and_history_statements_are_sql_of_every_dialect(engine):
    query = q.check_profile_expression(VIEW, FEATURES, NOW, timedelta(days=7), timedelta(days=28))
    row = HistoryRow("r1", NOW, "route_daily", None, "volume", "ok", 1.5, None, 0.2, "it's fine")
    for expression in (query, create_history_expression("main"), insert_history_expression("main", [row])):
        sql = render(expression, engine.dialect)
        assert sqlglot.parse_one(sql, read=engine.dialect) is not None
    sql = render(query, engine.dialect)
    # The window bounds are the project's now and the two durations before it, as literals.
    assert "2013-12-31 00:30:00" in sql and "2013-12-24 00:30:00" in sql and "2013-11-26 00:30:00" in sql


def result(status: str) -> CheckResult:
    return CheckResult("v", None, "volume", status, 1.0, 1.0, 0.2, "")


@pytest.mark.parametrize(
    "statuses, code, summary",
    [
        (["ok", "ok"], 0, "2 checks: all ok"),
        (["ok", "warn"], EXIT_CHECK_WARNINGS, "2 checks: 1 warning"),
        (["warn", "fail", "warn"], EXIT_CHECK_FAILURES, "3 checks: 1 failure, 2 warnings"),
    ],
)
def test_warnings_and_failures_set_the_exit_code(statuses, code, summary):
    report = CheckReport("r1", NOW, NOW, ["v"], [result(s) for s in statuses])
    assert report.exit_code == code
    assert f"1 view, {summary} (run r1)" in report.summary()
    assert [r.status for r in report.findings] == sorted((s for s in statuses if s != "ok"), key=lambda s: s != "fail")


def test_thresholds_are_inclusive_and_a_missing_level_is_skipped():
    assert [Thresholds(0.1, 0.3).status(v) for v in (0.05, 0.1, 0.29, 0.3)] == ["ok", "warn", "warn", "fail"]
    assert Thresholds(None, 0.3).status(0.2) == "ok" and Thresholds(0.1, None).status(9) == "warn"


@pytest.mark.parametrize(
    "dtype, kind",
    [("bigint", "numeric"), ("double precision", "numeric"), ("DECIMAL(10,2)", "numeric"), ("int64", "numeric"),
     ("varchar", "categorical"), ("text", "categorical"), ("boolean", "categorical"), ("bool", "categorical"),
     ("timestamp", "other"), ("date", "other"), ("interval", "other"), ("", "other")],
)
def test_feature_kinds_from_declared_and_warehouse_types(dtype, kind):
    assert kind_of(dtype) == kind


counts = st.lists(st.integers(0, 10_000), min_size=1, max_size=12)


@given(counts)
def test_psi_of_a_histogram_with_itself_is_zero(histogram):
    assert population_stability_index(histogram, histogram) == pytest.approx(0, abs=1e-12)


@given(st.data())
def test_psi_is_never_negative_and_grows_when_values_move_away(data):
    baseline = data.draw(counts)
    recent = data.draw(st.lists(st.integers(0, 10_000), min_size=len(baseline), max_size=len(baseline)))
    assert population_stability_index(recent, baseline) >= -1e-12
    # Everything piled into one bin (a scale or unit error) scores more than a milder shift.
    if len(baseline) > 1 and sum(baseline) >= 100 * len(baseline) and min(baseline) >= 10:
        total = sum(baseline)
        piled = [0] * (len(baseline) - 1) + [total]
        halfway = [(b + p) // 2 for b, p in zip(baseline, piled)]
        assert population_stability_index(piled, baseline) > population_stability_index(halfway, baseline)


def test_the_docstring_examples_hold():
    import doctest

    from featurestore.governance import stability
    from featurestore.sql import check_history, checks

    for module in (stability, check_history, checks):
        assert doctest.testmod(module).failed == 0, module.__name__
