"""How a training set's views are split into stages (featurestore/offline/stages.py); the
staged build's rows are checked against the one query's and the brute-force reference in
tests/integration/test_staged_training_sets.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from featurestore.catalog import FeatureSelection
from featurestore.offline.stages import BYTES_PER_VALUE, batches, view_bytes
from tests.pit_fixtures import feature_view


def test_views_that_fit_stay_one_batch():
    assert batches([10] * 20, budget=200) == [range(20)]
    assert batches([500], budget=100) == [range(1)]  # one view too big alone: nothing to split


def test_views_past_the_budget_split_into_the_fewest_batches_of_about_equal_size():
    # 50 views of which 18 fit: three batches, not 18 + 18 + 14 (nor a fourth of two).
    assert batches([10] * 50, budget=180) == [range(0, 17), range(17, 34), range(34, 50)]
    # A view too big for any batch gets one of its own.
    assert batches([10, 10, 500, 10], budget=30) == [range(0, 2), range(2, 3), range(3, 4)]


@given(st.lists(st.integers(1, 100), min_size=1, max_size=60), st.integers(1, 400))
def test_batches_cover_every_view_in_order_each_within_the_budget(sizes, budget):
    found = batches(sizes, budget)
    assert [i for batch in found for i in batch] == list(range(len(sizes)))
    assert all(len(batch) > 0 for batch in found)
    assert all(sum(sizes[i] for i in batch) <= budget or len(batch) == 1 for batch in found)
    if sum(sizes) <= budget:
        assert len(found) == 1


def test_a_view_is_sized_by_its_estimated_rows_and_its_columns():
    view = feature_view("orders", ("customer_id",), {"spend": "double", "orders": "bigint"}, "main")
    selection = FeatureSelection(view, view.features[:1])
    # Its timeline: key, time, the one feature asked for; the spine's answer: row, time, feature.
    assert view_bytes(selection, estimated_rows=1_000, spine_rows=10) == BYTES_PER_VALUE * (1_000 * 3 + 10 * 3)
