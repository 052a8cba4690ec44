"""Issue 20's silent-skew findings on the read path, each as the behaviour we want: what a
training set computes is what `fs get`, get_online_features and the HTTP server serve, and
what Redis still holds of a view taken offline is neither served nor kept.

Real DuckDB, the real Redis (a prefix of each test's own), the real `fs` CLI in process and
the real ASGI app (Starlette's test client), no mocks.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pyarrow as pa
import pytest

from featurestore.errors import EXIT_USAGE
from tests.conftest import write_manifest_project
from tests.manifests import manifest, model_node, on_demand_exposure
from tests.online_fixtures import TINY_COLUMNS, TINY_META, TINY_NOW, TINY_VIEW, TinyProject, online, row  # noqa: F401

pytestmark = pytest.mark.integration

REQUEST = {"minutes": "bigint", "requested_at": "timestamp"}
FEATURES = [
    # reads only request fields: nothing to read from Redis at all
    {"name": "hours", "sql": "minutes / 60"},
    {"name": "requested_day_end", "sql": "requested_at + interval 1 day"},
    # reads a view too
    {"name": "orders_per_hour", "sql": f"{TINY_VIEW}.orders / minutes"},
]


def write_project(root, online_setting: bool = True) -> None:
    meta = {**TINY_META, "online": online_setting}
    node = model_node(TINY_VIEW, meta, list(TINY_COLUMNS), types=TINY_COLUMNS)
    node["database"] = "demo"
    write_manifest_project(root, manifest(node, exposures=[on_demand_exposure("calc", REQUEST, FEATURES, [TINY_VIEW])]))
    (root / "feature_store.yml").write_text(f"clock:\n  now: {TINY_NOW.isoformat()}\n")


@pytest.fixture
def project(tmp_path, online):  # noqa: F811
    write_project(tmp_path)
    tiny = TinyProject(tmp_path)
    tiny.set_rows([row("c1", 28, orders=6)])
    return tiny


def http_read(store, document: dict) -> tuple[int, dict]:
    """POST /get-online-features to the store's real ASGI app, called as a server calls it."""
    body = json.dumps(document).encode()
    scope = {
        "type": "http", "method": "POST", "path": "/get-online-features", "raw_path": b"/get-online-features",
        "query_string": b"", "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 6566), "client": ("127.0.0.1", 50000), "root_path": "",
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(store.feature_server()(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


# -- finding 1: an on-demand feature of request fields only -------------------------------------


def test_request_field_only_features_are_served_by_the_api_the_cli_and_http(project, cli):
    store = project.store()
    rows = [{"customer_id": "c1", "minutes": 90, "requested_at": "2024-02-28T10:00:00"},
            {"customer_id": "c2", "minutes": 30, "requested_at": None}]
    found = store.get_online_features(rows, ["calc:hours", "calc:requested_day_end"])
    assert found.values == [[1.5, datetime(2024, 2, 29, 10)], [0.5, None]]
    assert found.statuses == [["present", "present"], ["present", "present"]]

    offline = store.training_set(
        pa.table({"customer_id": ["c1", "c2"], "event_timestamp": [TINY_NOW, TINY_NOW], "minutes": [90, 30],
                  "requested_at": [datetime(2024, 2, 28, 10), None]}),
        ["calc:hours", "calc:requested_day_end"],
    ).to_arrow().to_pylist()
    assert [[r["hours"], r["requested_day_end"]] for r in offline] == found.values

    code, out, err = cli("get", "calc:hours", "--entity", "customer_id=c1", "--entity", "minutes=90",
                         "--project-dir", str(project.root))
    assert code == 0, err
    assert json.loads(out) == [{"entity": {"customer_id": "c1", "minutes": "90"}, "values": {"calc:hours": 1.5},
                                "statuses": {"calc:hours": "present"}, "event_timestamps": {}}]

    status, document = http_read(store, {"features": ["calc:hours"], "entities": {"customer_id": ["c1", "c2"], "minutes": [90, 30]}})
    assert status == 200, document
    assert document["metadata"]["feature_names"] == ["customer_id", "minutes", "hours"]  # Feast names them bare
    assert document["results"][2]["values"] == [1.5, 0.5]
    assert len(document["results"][2]["statuses"]) == len(document["results"][2]["event_timestamps"]) == 2


def test_request_field_only_features_beside_view_features_keep_their_order(project):
    store = project.store()
    store.sync()
    found = store.get_online_features([{"customer_id": "c1", "minutes": 120, "requested_at": None}],
                                      ["calc:hours", f"{TINY_VIEW}:orders", "calc:orders_per_hour"])
    assert found.features == [f"{TINY_VIEW}:orders", "calc:hours", "calc:orders_per_hour"]
    assert found.values == [[6, 2.0, 0.05]]


# -- finding 3 (online side): a timestamp request field with an offset --------------------------


def test_a_timestamp_request_field_with_an_offset_is_the_same_instant_offline_and_online(project):
    store = project.store()
    texts = ["2024-02-28T02:00:00+02:00", "2024-02-28T00:00:00Z", "2024-02-28T00:00:00", "2024-02-27T19:30:00-04:30"]
    online_values = store.get_online_features(
        [{"customer_id": "c1", "minutes": 1, "requested_at": text} for text in texts], ["calc:requested_day_end"]
    ).values
    spine = pa.table({"customer_id": ["c1"] * 4, "event_timestamp": [TINY_NOW] * 4, "minutes": [1] * 4, "requested_at": texts})
    offline = store.training_set(spine, ["calc:requested_day_end"]).to_arrow()["requested_day_end"].to_pylist()
    assert offline == [v for (v,) in online_values] == [datetime(2024, 2, 29, 0, 0)] * 4


# -- finding 2: a view switched to online: false after a sync -----------------------------------


def test_a_view_taken_offline_is_removed_by_the_next_sync_and_reads_of_it_are_refused(project, online, cli):  # noqa: F811
    project.store().sync()
    assert online.entity_keys(TINY_VIEW)

    write_project(project.root, online_setting=False)
    store = project.store()
    with pytest.raises(Exception) as refused:
        store.get_online_features([{"customer_id": "c1"}], [f"{TINY_VIEW}:orders"])
    assert str(refused.value) == (
        f"feature view '{TINY_VIEW}' has online: false, so it is not served online "
        f"(set online: true in models/{TINY_VIEW}.yml and run fs sync to serve it)"
    )
    code, out, err = cli("get", f"{TINY_VIEW}:orders", "--entity", "customer_id=c1", "--project-dir", str(project.root))
    assert (code, out) == (EXIT_USAGE, "") and err == f"error: {refused.value}\n"
    # An on-demand feature reading it is refused the same way; one of request fields is not.
    with pytest.raises(Exception, match=f"'{TINY_VIEW}' has online: false"):
        store.get_online_features([{"customer_id": "c1", "minutes": 1}], ["calc:orders_per_hour"])
    assert store.get_online_features([{"customer_id": "c1", "minutes": 60}], ["calc:hours"]).values == [[1.0]]
    status, document = http_read(store, {"features": [f"{TINY_VIEW}:orders"], "entities": {"customer_id": ["c1"]}})
    assert (status, document) == (400, {"detail": str(refused.value)})

    code, out, err = cli("sync", "--project-dir", str(project.root))
    assert code == 0, err
    assert online.keys(f"{TINY_VIEW}:*") == []  # the meta hash and every entity key
    assert out.startswith("synced 0 views to ") and "expired; removed customer_stats (online: false) from Redis: 2 keys, in " in out
    assert project.store().sync().views == []  # nothing left to remove
    # What an older fs left of it (a meta hash and a key) is removed by the API too.
    online.client.hset(f"{online.prefix}:{TINY_VIEW}:meta", "generation", "1")
    online.client.hset(f"{online.prefix}:{TINY_VIEW}:gen1:customer_id=c1", "orders", "6")
    summary = store.sync()
    (removed,) = summary.views
    assert (removed.view, removed.mode, removed.reason, removed.removed_keys) == (TINY_VIEW, None, "online: false", 2)
    assert removed.line() == f"{TINY_VIEW}: online: false: its online data was removed from Redis (2 keys)"
    assert summary.to_dict()["views"][0]["mode"] is None and online.keys(f"{TINY_VIEW}:*") == []


# -- item 13: a view's name where features are asked for -----------------------------------------


def test_a_bare_view_name_suggests_its_star(project, cli):
    code, out, err = cli("get", TINY_VIEW, "--entity", "customer_id=c1", "--project-dir", str(project.root))
    assert code == EXIT_USAGE
    assert err == (
        f"error: '{TINY_VIEW}' is a feature view, not a feature: name its features as {TINY_VIEW}:feature, "
        f"or all of them as {TINY_VIEW}:*\n"
    )
    code, out, err = cli("get", "calc", "--entity", "customer_id=c1", "--project-dir", str(project.root))
    assert err == "error: 'calc' is an on-demand group, not a feature: name its features as calc:feature, or all of them as calc:*\n"
    code, out, err = cli("get", "custmer_stats", "--entity", "customer_id=c1", "--project-dir", str(project.root))
    assert err == f"error: 'custmer_stats' is not a feature service and not view:feature; did you mean '{TINY_VIEW}:*'?\n"
