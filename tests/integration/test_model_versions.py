"""dbt model versions as feature-view versions (catalog/versions.py), on a small versioned
dbt-duckdb project that one real `dbt build` makes for the module: `orders_daily` v1 (the
seed's orders, deprecated on 2024-02-15) and v2 (ten times the orders, and `big_order`),
latest_version 2, each in the relation dbt builds for it; a service pinned to v1 by its
`ref('orders_daily', v=1)` and one that follows the latest. The project's clock is
2024-03-01, so v1 is deprecated."""

from __future__ import annotations

import copy
import json
from datetime import datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.catalog.versions import DeprecationNotices
from featurestore.errors import EXIT_DIFF_BREAKING, EXIT_PROJECT, EXIT_USAGE, MetaError
from featurestore.governance.diff import Impact, diff_manifests
from tests.generated_project import GeneratedProject
from tests.online_fixtures import online  # noqa: F401

pytestmark = pytest.mark.integration

ORDERS = [("c1", "2024-02-01 00:00:00", 3), ("c1", "2024-02-10 00:00:00", 4), ("c2", "2024-02-02 00:00:00", 5)]
V1_SQL = "select customer_id, event_timestamp, orders from {{ ref('raw_orders') }}\n"
V2_SQL = "select customer_id, event_timestamp, orders * 10 as orders, orders >= 4 as big_order from {{ ref('raw_orders') }}\n"
YAML = """models:
  - name: orders_daily
    description: Orders per customer and day.
    latest_version: 2
    config:
      materialized: table
      meta: {feature_store: {entity: customer, join_keys: [customer_id], timestamp: event_timestamp}}
    columns:
      - {name: customer_id}
      - {name: event_timestamp}
      - {name: orders, description: Orders that day.}
      - {name: big_order}
    versions:
      - v: 1
        deprecation_date: 2024-02-15
        columns: [{include: all, exclude: [big_order]}]
      - v: 2
exposures:
  - name: pinned_service
    type: ml
    owner: {name: ml}
    depends_on: ["ref('orders_daily', v=1)"]
    config: {meta: {feature_store: {features: ["orders_daily:orders"]}}}
  - name: latest_service
    type: ml
    owner: {name: ml}
    depends_on: ["ref('orders_daily')"]
    config: {meta: {feature_store: {features: ["orders_daily:*"]}}}
"""
V1_DEPRECATED = (
    "warning: feature service 'pinned_service' uses orders_daily@v1, deprecated since 2024-02-15; "
    "the latest is orders_daily@v2\n"
)


@pytest.fixture(scope="module")
def versioned(tmp_path_factory):
    """The project, built once by plain dbt; tests only read it (the diff edits copies of its manifest)."""
    root = tmp_path_factory.mktemp("versioned")
    project = GeneratedProject(root / "shop")
    project.file("seeds/raw_orders.csv", "customer_id,event_timestamp,orders\n" + "".join(f"{c},{t},{n}\n" for c, t, n in ORDERS))
    project.file("models/orders_daily_v1.sql", V1_SQL)
    project.file("models/orders_daily_v2.sql", V2_SQL)
    project.file("models/orders_daily.yml", YAML)
    project.file("feature_store.yml", 'clock:\n  now: "2024-03-01T06:00:00"\n')
    project.profiles(project.root, root / "shop.duckdb")
    project.dbt("build", env=project.env(root))
    return project.root


def manifest(root) -> dict:
    return json.loads((root / "target" / "manifest.json").read_text())


def test_each_version_is_a_view_reading_the_relation_dbt_built_for_it(versioned, clean_env, cli):
    catalog = catalog_from_manifest(manifest(versioned))
    assert list(catalog.views) == ["orders_daily@v1", "orders_daily@v2"]
    v1, v2 = catalog.views.values()
    assert (v1.relation.identifier, v2.relation.identifier) == ("orders_daily_v1", "orders_daily_v2")
    with duckdb.connect(str(versioned.parent / "shop.duckdb"), read_only=True) as db:
        assert db.execute("select orders from main.orders_daily_v2 order by all").fetchall() == [(30,), (40,), (50,)]
    assert (v1.feature_names, v2.feature_names) == (("orders",), ("orders", "big_order"))
    assert (v1.version, v1.latest_version, str(v1.deprecation_date), v2.deprecation_date) == ("1", "2", "2024-02-15", None)
    # A plain name is the latest version; a service pinned by its ref('orders_daily', v=1) reads v1.
    assert catalog.view("orders_daily") is v2
    assert catalog.services["pinned_service"].features == ("orders_daily@v1:orders",)
    assert [(s.view.name, [f.name for f in s.features]) for s in catalog.resolve(["pinned_service", "latest_service"])] == [
        ("orders_daily@v1", ["orders"]), ("orders_daily@v2", ["orders", "big_order"]),
    ]
    assert catalog.relations["orders_daily"] == v2.relation  # a spine named plainly: ref('orders_daily')

    code, out, err = cli("catalog", "show", "orders_daily@v1", "--project-dir", str(versioned))
    assert (code, err) == (0, V1_DEPRECATED)
    assert "version            1 of orders_daily (latest: orders_daily@v2)" in out.splitlines()
    assert "deprecation date   2024-02-15" in out.splitlines()
    code, out, _ = cli("catalog", "--json", "--project-dir", str(versioned))
    shown = {view["name"]: (view["version"], view["latest_version"], view["deprecation_date"]) for view in json.loads(out)["views"]}
    assert shown == {"orders_daily@v1": ("1", "2", "2024-02-15"), "orders_daily@v2": ("2", "2", None)}


def reference(version: int, customer: str, at: str) -> int | None:
    """The newest order count of `customer` at or before `at`, as the version defines it."""
    known = [(t, n) for c, t, n in ORDERS if c == customer and t <= at]
    return max(known)[1] * (10 if version == 2 else 1) if known else None


def test_a_training_set_reads_two_versions_at_once(versioned, clean_env, cli, tmp_path):
    spine = [("c1", "2024-02-05 00:00:00"), ("c1", "2024-02-10 00:00:00"), ("c2", "2024-02-01 00:00:00"), ("c3", "2024-02-20 00:00:00")]
    (tmp_path / "spine.csv").write_text("customer_id,event_timestamp\n" + "".join(f"{c},{t}\n" for c, t in spine))
    out = tmp_path / "train.parquet"
    code, _, err = cli(
        "training-set", "--spine", str(tmp_path / "spine.csv"), "--features", "orders_daily:orders,orders_daily@v1:orders",
        "--full-names", "-o", str(out), "--project-dir", str(versioned),
    )
    assert code == 0, err
    assert err.splitlines()[0] == V1_DEPRECATED.strip()  # said once, by the service that pins it
    table = pq.read_table(out).to_pydict()
    assert table["orders_daily@v2__orders"] == [reference(2, c, t) for c, t in spine]
    assert table["orders_daily@v1__orders"] == [reference(1, c, t) for c, t in spine]


def test_two_versions_are_online_at_once_in_their_own_key_spaces(versioned, online, cli):
    code, out, err = cli("sync", "--full", "--project-dir", str(versioned))
    assert code == 0, err
    assert online.keys() == sorted(
        f"{online.prefix}:orders_daily@v{v}:{part}" for v in (1, 2) for part in ("meta", "gen1:customer_id=c1", "gen1:customer_id=c2")
    )
    assert online.entity("orders_daily@v1", "customer_id=c1")["orders"] == "4"
    assert online.entity("orders_daily@v2", "customer_id=c1")["orders"] == "40"
    code, out, err = cli("get", "orders_daily:orders", "orders_daily@v1:orders", "-e", "customer_id=c1", "--project-dir", str(versioned))
    assert code == 0, err
    assert json.loads(out)[0]["values"] == {"orders_daily@v2:orders": 40, "orders_daily@v1:orders": 4}
    code, out, err = cli("get", "pinned_service", "-e", "customer_id=c2", "--project-dir", str(versioned))
    assert json.loads(out)[0]["values"] == {"orders_daily@v1:orders": 5}


def test_fs_serve_reads_the_version_asked_for(versioned, online, monkeypatch):
    from featurestore import FeatureStore
    from tests.integration.test_serve import TOKEN, post, serve_in_thread

    monkeypatch.setenv("FS_SERVE_TOKEN", TOKEN)
    store = FeatureStore(project_dir=versioned)
    store.sync(full=True)
    port, server, thread = serve_in_thread(store.feature_server())
    try:
        body = {"features": ["orders_daily:orders", "orders_daily@v1:orders"], "entities": {"customer_id": ["c1", "c2"]}, "full_feature_names": True}
        status, document = post(port, body)
        assert status == 200, document
        assert document["metadata"]["feature_names"] == ["customer_id", "orders_daily@v2__orders", "orders_daily@v1__orders"]
        assert [column["values"] for column in document["results"]][1:] == [[40, 50], [4, 5]]
        status, document = post(port, {"feature_service": "pinned_service", "entities": {"customer_id": ["c1"]}})
        assert (status, [column["values"] for column in document["results"]]) == (200, [["c1"], [4]])
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("get", "orders_daily@v9:orders", "-e", "customer_id=c1"),
         "error: 'orders_daily@v9': model 'orders_daily' has no feature-view version v9; "
         "versions: orders_daily@v1, orders_daily@v2 (latest)\n"),
        (("catalog", "show", "orders_daily@2"),
         "error: 'orders_daily@2' is not a version's name (orders_daily@v<version>); "
         "versions: orders_daily@v1, orders_daily@v2 (latest)\n"),
        (("training-set", "--spine-sql", "select 'c1' as customer_id, timestamp '2024-02-05' as event_timestamp",
          "--features", "orders_daily@:orders", "--sql"),
         "error: 'orders_daily@' is not a version's name (orders_daily@v<version>); "
         "versions: orders_daily@v1, orders_daily@v2 (latest)\n"),
    ],
)
def test_an_unknown_or_malformed_version_is_one_line_naming_the_versions(versioned, clean_env, cli, args, line):
    code, _, err = cli(*args, "--project-dir", str(versioned))
    assert (code, err.replace(V1_DEPRECATED, "")) == (EXIT_USAGE, line)


def test_a_service_naming_an_unknown_version_is_refused_at_the_exposure(versioned):
    edited = manifest(versioned)
    exposure = next(e for e in edited["exposures"].values() if e["name"] == "latest_service")
    exposure["config"]["meta"]["feature_store"]["features"] = ["orders_daily@v3:orders"]
    with pytest.raises(MetaError) as raised:
        catalog_from_manifest(edited)
    assert raised.value.exit_code == EXIT_PROJECT
    assert str(raised.value) == (
        "models/orders_daily.yml: feature service 'latest_service': feature 'orders_daily@v3:orders': 'orders_daily@v3': "
        "model 'orders_daily' has no feature-view version v3; versions: orders_daily@v1, orders_daily@v2 (latest)"
    )


def test_deprecation_is_said_only_once_the_projects_clock_is_past_the_date(versioned):
    catalog = catalog_from_manifest(manifest(versioned))
    for now, expected in ((datetime(2024, 2, 14, 23), []), (datetime(2024, 2, 15), [V1_DEPRECATED.removeprefix("warning: ").strip()])):
        said: list[str] = []
        notices = DeprecationNotices(catalog, lambda: now, said.append)
        notices.of(catalog.resolve(["orders_daily@v1:orders"]), "this training set")  # already said by the service
        assert said == expected
    said = []
    DeprecationNotices(catalog_from_manifest(without_exposures(manifest(versioned))), lambda: datetime(2024, 3, 1), said.append).of(
        catalog.resolve(["orders_daily@v1:orders", "orders_daily:orders"]), "this online read"
    )
    assert said == ["this online read uses orders_daily@v1, deprecated since 2024-02-15; the latest is orders_daily@v2"]


def without_exposures(edited: dict) -> dict:
    edited["exposures"] = {}
    return edited


def node(edited: dict, version: int) -> dict:
    return edited["nodes"][f"model.shop.orders_daily.v{version}"]


def service_changes(report, name: str) -> dict[str, list[tuple[str, str]]]:
    service = next(s for s in report.services if s.name == name)
    return {f.ref: [(c.kind, c.impact.label) for c in f.changes] for f in service.affected}


def test_diff_a_new_version_is_compatible_and_an_edit_of_a_pinned_one_breaks(versioned):
    deployed = manifest(versioned)
    # v3: a copy of v2 without big_order, made the latest (a prerelease would leave latest at 2).
    added = copy.deepcopy(deployed)
    v3 = copy.deepcopy(node(added, 2))
    v3.update(unique_id="model.shop.orders_daily.v3", version=3, alias="orders_daily_v3")
    del v3["columns"]["big_order"]
    added["nodes"][v3["unique_id"]] = v3
    prerelease = diff_manifests(copy.deepcopy(added), deployed, "deployed")
    assert [(v.name, v.status, v.impact.label) for v in prerelease.views if v.changes] == [("orders_daily@v3", "added", "compatible")]
    assert (prerelease.breaking_services, [s.status for s in prerelease.services]) == ([], ["unchanged", "unchanged"])

    for each in (n for n in added["nodes"].values() if n.get("name") == "orders_daily"):
        each["latest_version"] = 3
    moved = diff_manifests(added, deployed, "deployed")
    assert moved.breaking_services == ["latest_service"]  # big_order is not in v3; the pinned service is untouched
    assert service_changes(moved, "latest_service") == {
        "orders_daily:orders": [("latest_version_changed", "values_may_change")],
        "orders_daily:big_order": [("latest_version_changed", "values_may_change"), ("feature_removed", "breaking")],
    }
    assert service_changes(moved, "pinned_service") == {}

    edited = copy.deepcopy(deployed)
    node(edited, 1)["checksum"]["checksum"] = "edited"
    pinned = diff_manifests(edited, deployed, "deployed")
    assert pinned.breaking_services == ["pinned_service"]
    assert service_changes(pinned, "pinned_service") == {
        "orders_daily@v1:orders": [("sql_changed", "values_may_change"), ("pinned_version_changed", "breaking")],
    }
    # The same edit of the latest, which only the following service reads: its values may change.
    edited = copy.deepcopy(deployed)
    node(edited, 2)["checksum"]["checksum"] = "edited"
    latest = diff_manifests(edited, deployed, "deployed")
    assert (latest.breaking_services, latest.services_at(Impact.VALUES)) == ([], ["latest_service"])
    assert service_changes(latest, "pinned_service") == {}


def test_fs_diff_exits_breaking_for_the_pinned_service(versioned, clean_env, cli, tmp_path):
    deployed = manifest(versioned)
    node(deployed, 1)["checksum"]["checksum"] = "as deployed"
    (tmp_path / "manifest.json").write_text(json.dumps(deployed))
    code, out, err = cli("diff", "--state", str(tmp_path / "manifest.json"), "--project-dir", str(versioned))
    assert code == EXIT_DIFF_BREAKING
    assert "orders_daily@v1 is pinned by the service and its definition changed (publish the change as a new version)" in out


def with_on_demand(edited: dict, refs: list, features: list[dict], name: str = "order_request") -> dict:
    """`edited` with an on-demand group depending on orders_daily at `refs` (versions; None
    for a plain ref('orders_daily'), which dbt records as the latest's node). Expressions read
    typed columns: orders declares bigint."""
    for version in (1, 2):
        node(edited, version)["columns"]["orders"]["data_type"] = "bigint"
    edited["exposures"][f"exposure.shop.{name}"] = {
        "name": name, "resource_type": "exposure", "original_file_path": "models/orders_daily.yml",
        "description": "", "owner": {"name": "ml"}, "meta": {},
        "depends_on": {"nodes": [f"model.shop.orders_daily.v{v or 2}" for v in refs]},
        "refs": [{"name": "orders_daily", "package": None, "version": v} for v in refs],
        "config": {"meta": {"feature_store": {"on_demand": {"request": {"quantity": "bigint"}, "features": features}}}},
    }
    return edited


ON_DEMAND = [
    {"name": "v1_orders", "sql": '"orders_daily@v1".orders * quantity'},  # a version named
    {"name": "plain_orders", "sql": "orders_daily.orders * quantity"},  # the plain model: pinned or latest
]


def test_an_on_demand_group_reads_the_version_it_names_pins_or_follows(versioned, online, tmp_path, capsys):
    """`"orders_daily@v1".orders` reads v1; a plain `orders_daily.orders` reads v1 where the
    group depends on ref('orders_daily', v=1) alone, else the latest - offline and online
    alike, and the deprecated v1 is warned of when only an on-demand feature reads it; fs diff
    judges each input as a service's feature: an edit of v1 breaks what names or pins it."""
    import shutil

    import pyarrow as pa

    from featurestore import FeatureStore
    from featurestore.project.dbt_project import load_project
    from featurestore.project.manifest import record_manifest
    from featurestore.project.profiles import load_target

    pinned = catalog_from_manifest(with_on_demand(manifest(versioned), [1], ON_DEMAND))
    following = catalog_from_manifest(with_on_demand(manifest(versioned), [1, None], ON_DEMAND))
    for catalog, plain in ((pinned, "orders_daily@v1"), (following, "orders_daily@v2")):
        features = {f.name: f for f in catalog.on_demand["order_request"].features}
        assert features["v1_orders"].expression.inputs == (("orders_daily@v1", "orders"),)
        assert features["plain_orders"].expression.inputs == ((plain, "orders"),)
        # as a service would name them: a pin spelled out, the plain model where it follows the latest
        refs = "orders_daily@v1:orders" if plain.endswith("@v1") else "orders_daily:orders"
        assert (features["v1_orders"].input_refs, features["plain_orders"].input_refs) == (("orders_daily@v1:orders",), (refs,))
    with pytest.raises(MetaError, match=r"reads view 'orders_daily@v1' but does not depend on it \(add ref\('orders_daily', v=1\)"):
        catalog_from_manifest(with_on_demand(manifest(versioned), [None], ON_DEMAND))
    with pytest.raises(MetaError, match=r"feature 'f': reads 'orders_daily@v9': model 'orders_daily' has no feature-view version v9; versions: orders_daily@v1, "):
        catalog_from_manifest(with_on_demand(manifest(versioned), [None], [{"name": "f", "sql": '"orders_daily@v9".orders'}]))

    # Offline and online, from a copy of the project with the group in its manifest.
    project = tmp_path / "shop"
    shutil.copytree(versioned, project, ignore=shutil.ignore_patterns(".fs"))
    # No service of its own: the deprecated v1 is in use by the on-demand group alone.
    alone = with_on_demand(without_exposures(manifest(versioned)), [1, None], ON_DEMAND)
    (project / "target" / "manifest.json").write_text(json.dumps(alone))
    record_manifest(load_project(project), load_target(load_project(project)))  # no dbt parse
    store = FeatureStore(project_dir=project)
    spine = [{"customer_id": "c1", "event_timestamp": datetime(2024, 2, 12), "quantity": 2},
             {"customer_id": "c2", "event_timestamp": datetime(2024, 2, 1), "quantity": 3}]
    frame = store.training_set(pa.Table.from_pylist(spine), ["order_request:*"]).to_arrow().to_pydict()
    assert (frame["v1_orders"], frame["plain_orders"]) == ([8, None], [80, None])
    assert capsys.readouterr().err.splitlines()[0] == (
        "warning: this training set uses orders_daily@v1, deprecated since 2024-02-15; the latest is orders_daily@v2"
    )
    store.sync(full=True)
    read = store.get_online_features([{"customer_id": "c1", "quantity": 2}], ["order_request:*"])
    assert read.values == [[8, 80]]

    # fs diff: v1's SQL edited breaks both features of the pinned group, the one naming v1 in the other.
    for refs, broken in (([1], ["v1_orders", "plain_orders"]), ([1, None], ["v1_orders"])):
        deployed = with_on_demand(manifest(versioned), refs, ON_DEMAND)
        deployed["exposures"]["exposure.shop.using"] = {
            **deployed["exposures"]["exposure.shop.order_request"], "name": "using",
            "config": {"meta": {"feature_store": {"features": ["order_request:*"]}}},
        }
        edited = copy.deepcopy(deployed)
        node(edited, 1)["checksum"]["checksum"] = "edited"
        report = diff_manifests(edited, deployed, "deployed")
        changed = service_changes(report, "using")
        assert sorted(ref for ref, kinds in changed.items() if ("pinned_version_changed", "breaking") in kinds) == [
            f"order_request:{name}" for name in sorted(broken)
        ], changed
