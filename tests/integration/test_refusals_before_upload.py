"""Every refusal planning a training set makes comes before anything is uploaded: the request
is checked (offline/plan.py `check_training_set`) before the spine goes to the warehouse, and
the query is built once, after (offline/training_set.py `prepare_training_set`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from featurestore.catalog.on_demand_meta import parse_on_demand_group
from featurestore.engines.registry import engine_for_dialect
from featurestore.errors import EXIT_USAGE, UsageError
from featurestore.offline.request import SpineInput, TrainingSetRequest
from featurestore.offline.training_set import prepare_training_set
from tests.manifests import on_demand_exposure
from tests.pit_fixtures import catalog_of, duckdb_memory, feature_view
from tests.window_cases import SPINE_SCHEMA as WINDOW_SPINE, TYPES
from tests.window_reference import aggregation_view

pytestmark = pytest.mark.integration

BASE = datetime(2024, 1, 1)

def _on_demand(views, sql: str, name: str = "boosted"):
    """A catalog's on-demand group `calc` with one feature `name` = `sql`, request field r bigint."""
    document = on_demand_exposure("calc", {"r": "bigint"}, [{"name": name, "sql": sql}], [v.name for v in views])
    return parse_on_demand_group(document, document["config"]["meta"]["feature_store"], {v.name: v for v in views})


def _refused_request(case: str):
    """The catalog, the request and the engine of each refusal planning makes, over a spine
    given as a frame (which the warehouse gets as an uploaded table)."""
    customers = feature_view("customer_stats", ("customer_id",), {"spend": "double"}, "main", ttl=timedelta(minutes=5))
    stores = feature_view("store_visits", ("customer_id", "region"), {"visits": "bigint"}, "main", unique=True)
    row = {"customer_id": 1, "region": "n", "event_timestamp": BASE, "label": 0}
    columns, features, timestamp, dialect = dict(row), ("customer_stats:spend", "store_visits:visits"), "event_timestamp", "duckdb"
    catalog = catalog_of(customers, stores)
    if case == "join key":
        del columns["region"]
    elif case == "timestamp column":
        timestamp = "at"
    elif case == "timestamp type":
        columns["event_timestamp"] = 7
    elif case == "output clash":
        columns["spend"] = 1.0
    elif case == "approx_count_distinct":
        view = aggregation_view("events", ("k",), "thing", [("n", "approx_count_distinct", "1h")], TYPES, "main", False)
        spine = pa.Table.from_pylist([{"k": 1, "t": BASE, "label": 0}], WINDOW_SPINE)
        request = TrainingSetRequest(spine=SpineInput(frame=spine, timestamp_column="t"), features=("events:*",))
        return catalog_of(view), request, "postgres"
    else:  # the on-demand refusals: a request field missing or of another type, an output clash
        group = _on_demand([customers], "customer_stats.spend + r", name="spend" if case == "on-demand clash" else "boosted")
        catalog.on_demand["calc"] = group
        features = ("customer_stats:spend", f"calc:{group.features[0].name}")
        if case != "on-demand field":
            columns["r"] = "seven" if case == "on-demand type" else 7
    request = TrainingSetRequest(spine=SpineInput(frame=pa.Table.from_pylist([columns]), timestamp_column=timestamp), features=features)
    return catalog, request, dialect


REFUSALS = {
    "join key": "lacks join key column(s) 'region' (needed by store_visits)",
    "timestamp column": "has no timestamp column 'at' (set --timestamp-column)",
    "timestamp type": "timestamp column 'event_timestamp' has type ",
    "output clash": "output column 'spend' of customer_stats:spend clashes with spine column 'spend'",
    "approx_count_distinct": "uses approx_count_distinct, which postgres has no function for",
    "on-demand field": "lacks column(s) 'r', the request field(s) of the on-demand features asked for",
    "on-demand type": "column 'r' is text, but request field 'r' is a bigint",
    "on-demand clash": "output column 'spend' of calc:spend clashes with another column of the result",
}


@pytest.mark.parametrize("case", [*REFUSALS, None])
def test_every_refusal_of_planning_comes_before_the_spine_is_uploaded(case):
    # Planning checks the request first and builds the query once, after the upload
    # (offline/training_set.py): each refusal must still leave the warehouse untouched.
    # The last case, a request planning accepts, shows the frame is uploaded otherwise.
    catalog, request, dialect = _refused_request(case or "on-demand accepted")
    with duckdb_memory() as warehouse:
        for view in catalog.views.values():
            names = [*view.join_keys, view.timestamp, *(f.name for f in view.features)]
            warehouse.execute(f"create table main.{view.name} as select {', '.join(f'null::varchar as {n}' for n in names)} where false")
        if case is None:
            prepare_training_set(request, catalog, warehouse, engine_for_dialect(dialect))
        else:
            with pytest.raises(UsageError) as raised:
                prepare_training_set(request, catalog, warehouse, engine_for_dialect(dialect))
            assert REFUSALS[case] in raised.value.message and raised.value.exit_code == EXIT_USAGE
        uploaded = warehouse.stream_arrow("select count(*) as n from information_schema.tables where starts_with(table_name, '__fs_spine')").read_all()
        assert uploaded.to_pylist() == [{"n": 0 if case else 1}]
