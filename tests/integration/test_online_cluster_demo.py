"""The demo on a Redis Cluster (tests/cluster_server.py): `fs sync`, `fs get` and
`fs verify-online` over the built demo project, as scripts/local_cluster.py --demo runs them,
with the same values as on a single server and the keys spread over every primary."""

from __future__ import annotations

import json

import pytest

from tests.cluster_server import on_cluster, redis_cluster_url  # noqa: F401  (fixtures)
from tests.integration.test_online_demo import close, departures_at_now, latest_rows

pytestmark = pytest.mark.integration


def test_the_demo_syncs_reads_and_verifies_on_a_cluster(built_project, cli, on_cluster):
    code, out, err = cli("sync", "--json", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    views = json.loads(out)["views"]
    assert all(view["error"] is None and view["mode"] == "full" for view in views)
    # An entity of a plain view is one key; an airport of the aggregation view two (its
    # events and its tiles, in one hash slot).
    written = sum(view["keys_written"] * (2 if view["view"] == "origin_departures" else 1) for view in views)
    per_node = {name: sum(counts.values()) for name, counts in _keys_per_node(on_cluster, views).items()}
    assert sum(per_node.values()) == written and len(per_node) == 3 and min(per_node.values()) > 0

    code, out, err = cli("get", "carrier_daily:*", "--entity", "carrier=UA", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    (ua,) = json.loads(out)
    carrier = {r["carrier"]: r for r in latest_rows(built_project, "carrier_daily")}["UA"]
    assert ua["values"] == {f"carrier_daily:{k}": v for k, v in carrier.items() if k.startswith("carrier__")}
    assert set(ua["statuses"].values()) == {"present"}
    code, out, err = cli("get", "origin_departures:*", "--entity", "origin=JFK", "--project-dir", str(built_project))
    assert (code, err) == (0, "")
    (jfk,) = json.loads(out)
    wanted = {k: v for k, v in departures_at_now(built_project)["JFK"].items() if k.startswith("origin_airport__")}
    assert close(jfk["values"], {f"origin_departures:{k}": v for k, v in wanted.items()})
    code, out, err = cli("verify-online", "--project-dir", str(built_project))
    assert code == 0, out + err
    code, again, err = cli("sync", "--json", "--project-dir", str(built_project))
    modes = {view["view"]: view["mode"] for view in json.loads(again)["views"]}
    assert code == 0 and modes.pop("origin_departures") == "full" and set(modes.values()) == {"incremental"}, err


def _keys_per_node(area, views) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for node in area.client.get_primaries():
        own = area.client.get_redis_connection(node)
        counts[node.name] = {
            view["view"]: sum(1 for _ in own.scan_iter(match=f"{area.prefix}:{view['view']}:gen*", count=1000))
            for view in views
        }
    return counts
