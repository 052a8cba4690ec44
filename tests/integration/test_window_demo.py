"""The demo's aggregation view (origin_departures: each airport's departures and their mean
and worst delay in the last 1h, 24h and 7d) in a real training set of the built demo, against
a hand-written range join over the same rows; and fs check and fs docs over it."""

from __future__ import annotations

import math
import random

import pytest

from featurestore import FeatureStore

pytestmark = pytest.mark.integration

WINDOWS = {"1h": "1 hour", "24h": "24 hour", "7d": "7 day"}


def window_features(at: str) -> list[str]:
    """The view's 9 features as aggregates of the events `e` (of the last 7 days) filtered
    to each window ending at the SQL expression `at`."""
    features = []
    for name, interval in WINDOWS.items():
        inside = f"e.departure_known_at > {at} - interval {interval}"
        features += [
            f"count(e.origin) filter (where {inside}) as origin_airport__count__{name}",
            f"avg(e.dep_delay) filter (where {inside}) as origin_airport__dep_delay_avg__{name}",
            f"max(e.dep_delay) filter (where {inside}) as origin_airport__dep_delay_max__{name}",
        ]
    return features


def brute_force(database, flight_ids: list[int]) -> dict[int, dict]:
    import duckdb

    features = window_features("l.event_timestamp")
    sql = f"""
        select l.flight_id, {", ".join(features)}
        from main.flight_delay_labels l
        left join main.origin_departures e on e.origin = l.origin
          and e.departure_known_at <= l.event_timestamp and e.departure_known_at > l.event_timestamp - interval 7 day
        where l.flight_id in ({", ".join(map(str, flight_ids))})
        group by l.flight_id"""
    with duckdb.connect(str(database), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def test_the_demo_training_set_is_exact_at_each_scheduled_departure(built_project, clean_env):
    store = FeatureStore(project_dir=built_project)
    frame = store.training_set("flight_delay_labels", ["origin_departures:*"]).to_arrow().to_pylist()
    assert len(frame) == 328_521
    sample = random.Random(22).sample(frame, 400)
    expected = brute_force(built_project / "feature_store.duckdb", [r["flight_id"] for r in sample])
    for row in sample:
        wanted = expected[row["flight_id"]]
        for name, value in wanted.items():
            if isinstance(value, float):
                assert math.isclose(row[name], value, rel_tol=1e-9), (row["flight_id"], name)
            else:
                assert row[name] == value, (row["flight_id"], name)
    assert any(r["origin_airport__count__1h"] > 0 for r in sample) and any(r["origin_airport__count__1h"] == 0 for r in frame)


def test_check_and_docs_cover_the_aggregation_view(built_project, cli, clean_env, tmp_path):
    # Not recorded: the history table of the shared demo is other tests' to count.
    report = FeatureStore(project_dir=built_project).check(["origin_departures"], record=False)
    assert report.status == "ok"
    checked = {(r.check, r.feature) for r in report.results}
    # No ttl and no freshness declared: volume, and nulls and drift of the column aggregated.
    assert checked == {("volume", None), ("nulls", "dep_delay"), ("drift", "dep_delay")}
    code, out, err = cli("docs", "--project-dir", str(built_project), "--out", str(tmp_path / "site"))
    assert (code, err) == (0, "")
    page = (tmp_path / "site" / "views" / "origin_departures.html").read_text()
    assert "origin_airport__dep_delay_max__7d" in page and "max of dep_delay in the last 7d" in page


def test_the_feature_service_trains_on_three_of_its_features(built_project, clean_env):
    """flight_delay_model serves the 1h and 24h departure counts and the 24h mean delay: its
    training set has them, each as the brute force has it at the flight's departure."""
    ids = random.Random(23).sample(range(1, 336_777), 300)
    labels = f"select * from main.flight_delay_labels where flight_id in ({', '.join(map(str, ids))})"
    frame = FeatureStore(project_dir=built_project).training_set(spine_sql=labels, features=["flight_delay_model"]).to_arrow().to_pylist()
    service = ["origin_airport__count__1h", "origin_airport__count__24h", "origin_airport__dep_delay_avg__24h"]
    assert len(frame) > 250 and all(name in frame[0] for name in service)
    assert not any(f"origin_airport__{f}" in frame[0] for f in ("count__7d", "dep_delay_max__24h"))  # only those three
    expected = brute_force(built_project / "feature_store.duckdb", [r["flight_id"] for r in frame])
    for row in frame:
        for name in service:
            got, wanted = row[name], expected[row["flight_id"]][name]
            assert (math.isclose(got, wanted, rel_tol=1e-9) if isinstance(wanted, float) else got == wanted), (row["flight_id"], name)
    assert any(row["origin_airport__count__1h"] > 0 for row in frame)
