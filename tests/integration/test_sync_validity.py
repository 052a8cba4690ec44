"""Historical data and the clock (docs/online-store.md "A changed ttl or clock"): a sync that
expires every row says so and names clock.now; a changed ttl or clock makes the next sync
full, since rows behind the watermark may have changed sides; unchanged ones stay incremental."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from featurestore import FeatureStore
from tests.manifests import manifest, model_node
from tests.conftest import write_manifest_project
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, online, row, tiny  # noqa: F401

ALL = [f"{TINY_VIEW}:orders"]


def configure(root: Path, ttl: str = "30d", now: datetime | None = None) -> None:
    """The tiny project with `ttl`, and clock.now `now` (None: the real clock)."""
    node = model_node(TINY_VIEW, {**TINY_META, "ttl": ttl}, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    write_manifest_project(root, manifest(node))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {now.isoformat()}\n" if now else "")


def synced(root: Path) -> tuple[str, str, int]:
    result = FeatureStore(project_dir=root).sync().views[0]
    return result.mode.value, result.reason, result.keys_written


def test_a_sync_that_expires_every_row_warns_once_naming_clock_now(tiny, online, cli):
    configure(tiny.root)  # the real clock, and rows from February 2024
    tiny.set_rows([row("c1", 20), row("c2", 21)])
    code, out, err = cli("sync", "--project-dir", str(tiny.root))
    assert code == 0
    (line,) = err.splitlines()
    assert line.startswith("warning: view 'customer_stats': 2 rows read, all past the view's ttl (30d) at now (")
    assert line.endswith("), so none is served; for historical data, set clock.now in feature_store.yml to a time the data covers")
    assert online.entity_keys(TINY_VIEW) == []


def test_setting_clock_now_after_a_sync_makes_the_next_sync_full(tiny, online):
    configure(tiny.root)
    tiny.set_rows([row("c1", 20), row("c2", 21)])
    assert synced(tiny.root) == ("full", "no earlier sync in this Redis", 0)
    configure(tiny.root, now=TINY_NOW)
    mode, reason, written = synced(tiny.root)
    assert (mode, written) == ("full", 2)
    assert reason == f"the ttl or clock changed since the last sync (ttl 30d, the real clock -> ttl 30d, clock.now {TINY_NOW.isoformat()})"
    store = FeatureStore(project_dir=tiny.root)
    assert store.get_online_features([{"customer_id": "c1"}], ALL).statuses == [["present"]]
    assert store.verify_online().mismatches == []
    # Nothing changed since: incremental again.
    assert synced(tiny.root) == ("incremental", "rows written after the watermark", 0)


def test_a_longer_ttl_makes_the_next_sync_full_and_serves_the_rows_it_keeps_valid(tiny, online):
    configure(tiny.root, ttl="30d", now=TINY_NOW)
    january = datetime(2024, 1, 20)  # past 30d at TINY_NOW, not past 60d
    tiny.set_rows([{**row("c1", 1), "event_timestamp": january, "loaded_at": january}, row("c2", 29)])
    assert synced(tiny.root)[2] == 1
    configure(tiny.root, ttl="60d", now=TINY_NOW)
    mode, reason, written = synced(tiny.root)
    assert (mode, written) == ("full", 2) and "ttl 30d" in reason and "ttl 60d" in reason
    assert FeatureStore(project_dir=tiny.root).verify_online().mismatches == []


def test_a_clock_moved_back_makes_the_next_sync_full_and_stops_serving_future_rows(tiny, online):
    configure(tiny.root, now=TINY_NOW)
    tiny.set_rows([row("c1", 10), row("c2", 29)])
    assert synced(tiny.root)[2] == 2
    configure(tiny.root, now=datetime(2024, 2, 15))  # c2's row (2024-02-29) is in its future
    assert synced(tiny.root)[:1] == ("full",)
    store = FeatureStore(project_dir=tiny.root)
    read = store.get_online_features([{"customer_id": "c1"}, {"customer_id": "c2"}], ALL)
    assert read.statuses == [["present"], ["missing"]]
    assert store.verify_online().mismatches == []
