"""A push on the built demo, then a real `dbt build` of the view: the model's
feature_store_with_pushed_rows folds the landing table in, and a training set sees the
pushed row from its timestamp on (and not before), while Redis served it at once."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from tests.conftest import run_checked
from tests.online_fixtures import online  # noqa: F401

pytestmark = pytest.mark.integration

FEATURES = [
    "carrier_daily:carrier__flights__7d",
    "carrier_daily:carrier__cancel_rate__7d",
]
PUSHED = {
    "carrier": "UA",
    "as_of": datetime(2013, 12, 31, 0, 15),  # after the stored row of 00:00, before "now" (00:30)
    "carrier__flights__7d": 4242,
    "carrier__cancel_rate__7d": 0.5,
    "carrier__dep_delay_rate__7d": 0.25,
    "carrier__avg_dep_delay_min__7d": 12.5,
    "carrier__dep_delay_rate__28d": 0.125,
}
SPINE = pa.table(
    {
        "carrier": ["UA", "UA", "UA", "AA"],
        "event_timestamp": [
            datetime(2013, 12, 31, 0, 14),  # before the pushed row: the batch row of 00:00
            datetime(2013, 12, 31, 0, 15),  # at it (inclusive)
            datetime(2013, 12, 31, 0, 29),  # after it
            datetime(2013, 12, 31, 0, 20),  # another carrier: untouched
        ],
    }
)


def flights_7d(store: FeatureStore) -> list[int]:
    return store.training_set(SPINE, FEATURES).to_arrow()["carrier__flights__7d"].to_pylist()


def served_flights_7d(store: FeatureStore) -> tuple[int, str]:
    found = store.get_online_features([{"carrier": "UA"}], FEATURES).to_dict()[0]
    return found["values"]["carrier_daily:carrier__flights__7d"], found["event_timestamps"]["carrier_daily"]


def test_pushed_rows_reach_training_sets_after_the_next_dbt_build(built_project, tmp_path, online):
    project = tmp_path / "demo"
    shutil.copytree(built_project, project, ignore=shutil.ignore_patterns(".fs"))
    store = FeatureStore(project_dir=project)
    store.sync(views=["carrier_daily"])
    before = flights_7d(store)
    assert 4242 not in before and before[0] == before[1] == before[2]

    summary = store.push("carrier_daily", [PUSHED])
    assert (summary.keys_written, summary.landing) == (1, "feature_store.main.carrier_daily__fs_pushed")
    assert served_flights_7d(store) == (4242, "2013-12-31T00:15:00")
    assert flights_7d(store) == before  # the view itself is unchanged until it is built

    run_checked([sys.executable, "-m", "featurestore.cli", "build", "--select", "carrier_daily"], project, here=True)
    after = FeatureStore(project_dir=project)
    assert flights_7d(after) == [before[0], 4242, 4242, before[3]]
    # The built view now holds the row too; a sync after the build keeps serving it.
    after.sync(views=["carrier_daily"], full=True)
    assert served_flights_7d(after) == (4242, "2013-12-31T00:15:00")
