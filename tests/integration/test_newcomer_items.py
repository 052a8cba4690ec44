"""The small things a newcomer's first hour tripped over (issue 12): versions, plurals, a hint
when nothing was synced, online frames named like training frames, stopping the
project's Redis, catalog search (dbt docs: test_fs_docs.py)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from featurestore import FeatureStore
from featurestore.console import plural
from featurestore.errors import EXIT_USAGE
from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

ENTITY = {"origin": "JFK", "dest": "LAX", "carrier": "UA", "tailnum": "N14228", "scheduled_minutes": 373}


def test_version(cli):
    code, out, err = cli("--version")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"fs \d+\.\d+\.\d+\S* \(dbt-core \d+\.\d+\.\d+\S*, Python 3\.\d+\.\d+\S*\)\n", out), out


def test_counts_of_one_are_singular(tiny, cli):
    assert [plural(1, "feature"), plural(2, "feature"), plural(1_000, "row"), plural(1, "entity", "entities")] == [
        "1 feature", "2 features", "1,000 rows", "1 entity",
    ]  # fmt: skip
    tiny.set_rows([row("c1", 28)])
    code, out, _ = cli("sync", "--project-dir", str(tiny.root))
    assert code == 0 and out.startswith("synced 1 view to ") and ": 1 row read, 1 key written, " in out


def test_get_before_any_sync_says_so_on_stderr(tiny, online, cli):
    tiny.set_rows([row("c1", 28, orders=4)])
    args = ["get", f"{TINY_VIEW}:orders", "-e", "customer_id=c1", "--project-dir", str(tiny.root)]
    code, out, err = cli(*args)
    assert code == 0 and json.loads(out)[0]["statuses"] == {f"{TINY_VIEW}:orders": "missing"}
    assert err == (
        f"warning: {TINY_VIEW} was never synced to {online.url} (key prefix {online.prefix}): "
        "run fs sync (then fs verify-online compares Redis with the warehouse)\n"
    )
    assert cli("sync", "--project-dir", str(tiny.root))[0] == 0
    code, out, err = cli(*args)
    assert (code, err) == (0, "") and json.loads(out)[0]["values"] == {f"{TINY_VIEW}:orders": 4}


def test_online_names_match_the_training_frames_columns(built_project, online, cli):
    project = ["--project-dir", str(built_project)]
    assert cli("sync", "--view", "carrier_daily", "--view", "weather_hourly", *project)[0] == 0
    entity = [f"--entity={key}={value}" for key, value in ENTITY.items()]
    spine = pd.DataFrame([{**ENTITY, "event_timestamp": pd.Timestamp("2013-12-30 12:00")}])
    for option, full_names in [("--bare-names", False), ("--full-names", True)]:
        code, out, _ = cli("get", "flight_delay_model", *entity, option, *project)
        assert code == 0
        frame = FeatureStore(built_project).training_set(spine, ["flight_delay_model"], full_names=full_names).to_pandas()
        assert list(json.loads(out)[0]["values"]) == [c for c in frame.columns if c not in spine.columns]
    store = FeatureStore(built_project)
    online_frame = store.get_online_features([ENTITY], ["carrier_daily:*"], bare_names=True).to_pandas()
    assert list(online_frame.columns) == [*ENTITY, *(f.name for f in store.catalog().view("carrier_daily").features)]
    # A bare name that is also an entity key clashes, as it does with a spine column.
    code, _, err = cli("get", "carrier_daily:carrier__flights__7d", "-e", "carrier=UA", "-e", "carrier__flights__7d=1", "--bare-names", *project)
    assert code == EXIT_USAGE
    assert err == (
        "error: output column 'carrier__flights__7d' of carrier_daily:carrier__flights__7d clashes with spine column "
        "'carrier__flights__7d'; use --full-names (full_names=True) to name features view__feature\n"
    )


def test_catalog_search_lists_matching_features_and_counts_the_others(built_project, cli, clean_env):
    project = ["--project-dir", str(built_project)]
    code, out, _ = cli("catalog", "search", "growth", "--json", *project)  # an owner: views match, no feature
    assert json.loads(out) == [
        {"view": "carrier_daily", "matched": "view", "features": [], "other_features": 5},
        {"view": "route_daily", "matched": "view", "features": [], "other_features": 5},
    ]
    code, out, _ = cli("catalog", "search", "growth", *project)
    assert out.splitlines()[0] == (
        "carrier_daily (carrier) mentions 'growth' itself (name, description, entity, owner or tags), "
        "none of its 5 features: fs catalog show carrier_daily"
    )
    code, out, _ = cli("catalog", "search", "delay", *project)
    assert "carrier_daily (carrier): 3 of its 5 features mention 'delay' (all: fs catalog show carrier_daily)" in out
    assert "carrier__flights__7d" not in out  # only matching features are listed
