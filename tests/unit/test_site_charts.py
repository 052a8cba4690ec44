"""The feature site's SVG charts and page helpers, without I/O: marks drawn from the data,
text escaped, file names safe."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from featurestore.governance.charts import histogram_svg, history_svg, number, top_values_svg
from featurestore.governance.history import CheckHistory
from featurestore.sql.check_history import HistoryRow as CheckResult
from featurestore.governance.profile import Histogram, Kind, TopValues, bin_edges
from featurestore.governance.site import Freshness, _embedded_json, page_file

SVG = "{http://www.w3.org/2000/svg}"


def marks(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # also proves the markup is well-formed XML
    return [e for e in root.iter() if "mark" in (e.get("class") or "").split()]


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40))
def test_a_histogram_draws_one_bar_per_non_empty_bin_scaled_to_the_fullest(counts):
    edges = tuple(float(i) for i in range(len(counts) + 1))
    bars = marks(histogram_svg(Histogram(edges, tuple(counts), integer=False), "h"))
    assert len(bars) == sum(1 for c in counts if c)
    heights = [float(b.get("height")) for b in bars]
    shown = [c for c in counts if c]
    if shown:
        tallest = max(shown)
        assert max(heights) == max(1.0, 104 * 1.0)  # the fullest bin fills the plot height
        for height, count in zip(heights, shown):
            assert abs(height - max(1.0, 104 * count / tallest)) <= 0.05  # (drawn to 0.1 px)
        # Each bar says its bin and count.
        totals = [int(re.search(r": ([\d,]+) rows", b.find(f"{SVG}title").text)[1].replace(",", "")) for b in bars]
        assert totals == shown


def test_integer_bins_are_labelled_with_whole_numbers():
    edges = bin_edges(0, 5, Kind.INTEGER)
    assert edges == (0, 1, 2, 3, 4, 5, 6)
    bars = marks(histogram_svg(Histogram(edges, (1, 0, 2, 0, 0, 7), integer=True), "h"))
    assert [b.find(f"{SVG}title").text for b in bars] == ["0: 1 rows", "2: 2 rows", "5: 7 rows"]
    wide = bin_edges(0, 99, Kind.INTEGER)  # 100 values in 20 bins of 5
    assert len(wide) == 21 and wide[1] == 5


def test_top_values_are_shares_of_the_non_null_values_and_their_text_is_escaped():
    top = TopValues(values=(("<script>alert(1)</script>", 6), ("b&c", 3)), other=1)
    svg = top_values_svg(top, non_null=10, label="v")
    assert "<script>" not in svg
    titles = [b.find(f"{SVG}title").text for b in marks(svg)]
    assert titles == ["<script>alert(1)</script>: 6 rows (60.0%)", "b&c: 3 rows (30.0%)", "(all others): 1 rows (10.0%)"]


def result(run: int, status: str, value: float | None, feature: str | None = "f") -> CheckResult:
    return CheckResult(f"r{run}", datetime(2024, 1, 1) + timedelta(days=run), "v", feature, "nulls", status, value, 0.1, 0.2, None)


def test_a_history_chart_has_a_point_per_run_in_its_status_colour_and_the_threshold():
    results = [result(0, "ok", 0.1), result(1, "warn", 0.25), result(2, "fail", 0.5), result(3, "ok", None)]
    svg = history_svg(results, "nulls of f")
    points = marks(svg)
    assert [p.get("class") for p in points] == ["mark status-ok", "mark status-warn", "mark status-fail"]
    assert [p.get("fill") for p in points] == ["#2e7d32", "#ed8c00", "#c62828"]
    ys = [float(p.get("cy")) for p in points]
    assert ys[0] > ys[1] > ys[2]  # higher values higher up
    root = ET.fromstring(svg)
    assert [line.get("class") for line in root.iter(f"{SVG}line")][1:] == ["threshold", "baseline"]
    assert marks(history_svg([result(0, "ok", None)], "empty")) == []


def test_the_latest_run_of_a_view_is_its_newest_run_id():
    history = CheckHistory((result(0, "ok", 0.1), result(1, "warn", 0.3), result(1, "ok", 1.0, feature=None)), truncated=False)
    assert [r.run_id for r in history.latest_run("v")] == ["r1", "r1"]
    assert history.latest_run("other") == ()


def test_freshness_is_judged_against_the_ttl_at_now():
    now = datetime(2024, 1, 2)
    assert Freshness(now - timedelta(hours=2), None, now, timedelta(hours=3)).status == "fresh"
    assert Freshness(now - timedelta(hours=4), None, now, timedelta(hours=3)).status == "stale"
    assert Freshness(now - timedelta(days=400), None, now, None).label == "no limit"
    assert Freshness(None, None, now, timedelta(hours=3)).status == "empty"


def test_numbers_read_as_people_write_them():
    assert [number(v) for v in (None, 3.0, 1234567.0, 0.12345, 12.3456, -14.0, 2e-7)] == [
        "–", "3", "1,234,567", "0.123", "12.35", "-14", "2e-07"
    ]


def test_page_files_are_safe_names_and_distinct():
    assert page_file("views", "route_daily") == "views/route_daily.html"
    odd = [page_file("views", name) for name in ("../etc", "a b", "a/b", "a_b")]
    assert all(re.fullmatch(r"views/[A-Za-z0-9_.-]+\.html", p) and ".." not in p.split("/")[1][:2] for p in odd)
    assert len(set(odd)) == len(odd)


def test_the_embedded_search_index_cannot_close_its_script_element():
    text = _embedded_json([{"description": "a </script><script>alert(1)</script> & <!--"}])
    assert "<" not in text and ">" not in text and "&" not in text
    import json

    assert json.loads(text)[0]["description"] == "a </script><script>alert(1)</script> & <!--"


def test_the_profile_query_is_sql_every_engine_reads_back():
    """Executed on DuckDB and PostgreSQL (tests/integration/test_feature_profile.py); for the
    other engines, each dialect's parser must read the query it is given."""
    import sqlglot

    from featurestore.catalog import Feature, FeatureView, Relation
    from featurestore.engines.registry import dialects
    from featurestore.governance.history import MAX_ROWS
    from featurestore.sql.check_history import check_history_expression
    from featurestore.sql.profile import profile_expression

    features = (Feature("n", "v", "bigint", ""), Feature("x", "v", "double", ""), Feature("s", "v", "varchar", ""))
    view = FeatureView(
        name="v", description="", entity="e", join_keys=("k",), timestamp="ts", created_at="loaded_at", ttl=None,
        online=True, owner=None, features=features, tags=(), relation=Relation("db", "sch", "v"), yaml_path="", sql_path="",
    )
    kinds = {"n": Kind.INTEGER, "x": Kind.REAL, "s": Kind.CATEGORICAL}
    query = profile_expression(view, kinds, datetime(2024, 1, 1))
    history = check_history_expression(Relation(None, "sch", "fs_check_history"), MAX_ROWS)
    for dialect in dialects():
        for expression in (query, history):
            sql = expression.sql(dialect=dialect)
            assert sqlglot.parse_one(sql, read=dialect) is not None, dialect
