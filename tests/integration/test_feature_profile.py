"""The feature site's profile query (sql/profile.py, run by governance/profile.py) on real
DuckDB and PostgreSQL, against a brute-force reference in Python: row counts, freshness at
now, each feature's null count, range, histogram bins and most frequent values."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.catalog import Feature, FeatureView, Relation
from featurestore.engines.registry import engine_for_dialect
from featurestore.governance.history import read_check_history
from featurestore.sql.check_history import HISTORY_TABLE as CHECK_HISTORY_TABLE
from featurestore.governance.profile import profile_view
from featurestore.sql.profile import BINS, TOP_VALUES, Kind
from featurestore.project.profiles import Target

pytestmark = pytest.mark.integration

NOW = datetime(2024, 3, 1)
COLUMNS = {"k": "varchar", "ts": "timestamp", "x": "double", "n": "bigint", "s": "varchar", "flag": "boolean"}
PG_TYPES = {**COLUMNS, "x": "double precision"}


def view(schema: str, table: str, database: str | None = None) -> FeatureView:
    features = tuple(Feature(name, table, kind, "") for name, kind in COLUMNS.items() if name not in ("k", "ts"))
    return FeatureView(
        name=table, description="", entity="thing", join_keys=("k",), timestamp="ts", created_at=None, ttl=None,
        online=False, owner=None, features=features, tags=(), relation=Relation(database, schema, table),
        yaml_path="t.yml", sql_path="t.sql",
    )


rows_strategy = st.lists(
    st.tuples(
        st.integers(min_value=-200, max_value=200).map(lambda h: NOW + timedelta(hours=h)),
        st.none() | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.none() | st.integers(min_value=-10**6, max_value=10**6) | st.integers(min_value=-3, max_value=3),
        st.none() | st.text(alphabet="abcdefghijklmnop", min_size=1, max_size=2),
        st.none() | st.booleans(),
    ),
    max_size=60,
)


def reference(rows: list[tuple]) -> dict:
    """What the profile must say, computed row by row with the same float arithmetic."""
    expected: dict = {"rows": len(rows)}
    stamps = [r[0] for r in rows]
    expected["newest"] = max(stamps, default=None)
    expected["newest_at_now"] = max((t for t in stamps if t <= NOW), default=None)
    for index, name in ((1, "x"), (2, "n")):
        values = [float(r[index]) for r in rows if r[index] is not None]
        counts = None
        if values:
            lo, hi = min(values), max(values)
            if name == "n":
                width = hi - lo + 1
                bins = min(BINS, width)
                found = Counter(math.floor(((v - lo) * bins) / width) for v in values)
                counts = tuple(found.get(i, 0) for i in range(int(bins)))
            else:
                found = Counter(0 if hi == lo else min(math.floor(((v - lo) / (hi - lo)) * BINS), BINS - 1) for v in values)
                counts = tuple(found.get(i, 0) for i in range(BINS if hi > lo else 1))
        expected[name] = (len(values), min(values, default=None), max(values, default=None), counts)
    for index, name in ((3, "s"), (4, "flag")):
        values = [str(r[index]).lower() for r in rows if r[index] is not None]
        ranked = sorted(Counter(values).items(), key=lambda item: (-item[1], item[0]))[:TOP_VALUES]
        expected[name] = (len(values), tuple(ranked))
    return expected


def observed(profile) -> dict:
    found: dict = {"rows": profile.rows, "newest": profile.newest, "newest_at_now": profile.newest_at_now}
    for name in ("x", "n"):
        f = profile.features[name]
        found[name] = (f.non_null, f.minimum, f.maximum, f.histogram.counts if f.histogram else None)
    for name in ("s", "flag"):
        f = profile.features[name]
        found[name] = (f.non_null, f.top_values.values)
        assert f.top_values.other == f.non_null - sum(n for _, n in f.top_values.values)
    return found


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "profile.duckdb"
    target = Target(name="t", adapter="duckdb", schema="main", credentials={"path": str(path)})
    with engine_for_dialect("duckdb").connect(target, read_only=False) as warehouse:
        yield warehouse


def load(warehouse, table: str, rows: list[tuple], types: dict[str, str]) -> None:
    """The rows as the table's only contents, in one statement."""
    warehouse.execute(f"drop table if exists {table}")
    warehouse.execute(f"create table {table} ({', '.join(f'{c} {t}' for c, t in types.items())})")
    if rows:
        marker = "%s" if types is PG_TYPES else "?"
        values = ", ".join(f"({', '.join([marker] * len(types))})" for _ in rows)
        warehouse.execute(f"insert into {table} values {values}", tuple(v for i, row in enumerate(rows) for v in (f"k{i}", *row)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_the_profile_on_duckdb_is_the_brute_force_one(duckdb_warehouse, rows):
    load(duckdb_warehouse, "things", rows, COLUMNS)
    profile = profile_view(view("main", "things"), duckdb_warehouse, NOW)
    assert observed(profile) == reference(rows)
    assert {f.name: f.kind for f in profile.features.values()} == {
        "x": Kind.REAL, "n": Kind.INTEGER, "s": Kind.CATEGORICAL, "flag": Kind.CATEGORICAL
    }


@pytest.fixture
def postgres_warehouse(postgres_server):
    schema = f"fs_test_{uuid.uuid4().hex[:10]}"
    target = Target(name="pg", adapter="postgres", schema=schema, credentials=postgres_server.credentials())
    with engine_for_dialect("postgres").connect(target, read_only=False) as warehouse:
        warehouse.execute(f"create schema {schema}")
        try:
            yield warehouse, schema
        finally:
            warehouse.execute(f"drop schema {schema} cascade")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_the_profile_on_postgres_is_the_brute_force_one(postgres_warehouse, rows):
    warehouse, schema = postgres_warehouse
    load(warehouse, f"{schema}.things", rows, PG_TYPES)
    assert observed(profile_view(view(schema, "things"), warehouse, NOW)) == reference(rows)


def test_the_check_history_on_postgres(postgres_warehouse):
    warehouse, schema = postgres_warehouse
    relation = Relation(None, schema, CHECK_HISTORY_TABLE)
    assert read_check_history(warehouse, relation) is None  # no fs check has run
    warehouse.execute(
        f"create table {schema}.{CHECK_HISTORY_TABLE} (run_id text, run_at timestamptz, view text, feature text, "
        "check_name text, status text, value double precision, baseline double precision, threshold double precision, detail text)"
    )
    runs = [("r1", "2024-03-01 06:00+00"), ("r2", "2024-03-02 08:00+02"), ("r3", "2024-03-03 06:00+00")]
    for run, at in runs:
        warehouse.execute(
            f"insert into {schema}.{CHECK_HISTORY_TABLE} values (%s, %s, 'v', null, 'volume', 'OK', 1.5, 1, 0.5, null)", (run, at)
        )
    history = read_check_history(warehouse, relation, limit=2)
    assert history.truncated
    assert [(r.run_id, r.run_at, r.status, r.feature, r.value) for r in history.results] == [
        ("r2", datetime(2024, 3, 2, 6, 0), "ok", None, 1.5),  # naive UTC, oldest first
        ("r3", datetime(2024, 3, 3, 6, 0), "ok", None, 1.5),
    ]
    assert read_check_history(warehouse, relation).truncated is False
