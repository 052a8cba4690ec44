"""Options that take lists accumulate when repeated (issue 20, item 13): `fs training-set
--features a --features b` joins both, as `--view` and `--entity` do, and `fs build
--select a --select b` selects both (as dbt's own --select does)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration


def test_repeated_features_options_accumulate(tiny, tmp_path, cli):  # noqa: F811
    tiny.set_rows([row("c1", 20, orders=3, spend=1.5, tier="gold")])
    spine = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"customer_id": ["c1"], "event_timestamp": pa.array([tiny.store().now()], pa.timestamp("us"))}), spine)
    out = tmp_path / "out.parquet"
    code, _, err = cli(
        "training-set", "--spine", str(spine), "--features", f"{TINY_VIEW}:orders", "-f", f"{TINY_VIEW}:spend,{TINY_VIEW}:tier",
        "--features", f"{TINY_VIEW}:orders", "-o", str(out), "--project-dir", str(tiny.root),
    )
    assert code == 0, err
    assert pq.read_table(out).to_pylist() == [
        {"customer_id": "c1", "event_timestamp": tiny.store().now(), "orders": 3, "spend": 1.5, "tier": "gold"}
    ]
    code, out_text, err = cli(
        "training-set", "--spine", str(spine), "-f", f"{TINY_VIEW}:orders", "-f", f"{TINY_VIEW}:spend", "--sql",
        "--project-dir", str(tiny.root),
    )
    assert code == 0 and '"orders"' in out_text and '"spend"' in out_text, err
