"""`fs diff --state` given a file that is not a manifest fs can read (issue 20, item 11): a
manifest nested past Python's recursion limit, nodes that are not objects, a device that
never ends. Each is one line on stderr naming --state, exit 2, no traceback, and bounded
work: fs reads no more of the file than a manifest may hold."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from featurestore.errors import EXIT_USAGE
from featurestore.governance.state import MAX_MANIFEST_BYTES
from tests.conftest import write_manifest_project
from tests.manifests import CUSTOMER_META, manifest, model_node

pytestmark = pytest.mark.integration

SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"


def deployed_document() -> dict:
    document = manifest(model_node("customer_stats", CUSTOMER_META, ["customer_id", "event_timestamp", "orders"]))
    document["metadata"]["dbt_schema_version"] = SCHEMA
    return document


@pytest.fixture
def project(tmp_path) -> Path:
    return write_manifest_project(tmp_path / "now", deployed_document())


def diff(cli, project: Path, state: Path) -> tuple[int, str, str]:
    return cli("diff", "--project-dir", str(project), "--state", str(state))


def assert_one_line(code: int, out: str, err: str, state: Path, problem: str) -> None:
    assert (code, out) == (EXIT_USAGE, ""), err
    assert err.startswith(f"error: --state {state}: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert problem in err, err


def test_a_valid_state_still_diffs(cli, project, tmp_path):
    state = tmp_path / "manifest.json"
    state.write_text(json.dumps(deployed_document()))
    code, out, err = diff(cli, project, state)
    assert code == 0, err


def test_a_manifest_nested_past_the_recursion_limit(cli, project, tmp_path):
    state = tmp_path / "manifest.json"
    depth = 200_000
    text = json.dumps(deployed_document())
    state.write_text(text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}")
    assert_one_line(*diff(cli, project, state), state, f"nests arrays or objects deeper than fs reads")


@pytest.mark.parametrize("depth", [200, 900])
def test_deep_nesting_inside_a_node_that_json_reads(cli, project, tmp_path, depth):
    document = deployed_document()
    nested: object = 1
    for _ in range(depth):
        nested = {"x": nested}
    document["nodes"]["model.demo.customer_stats"]["config"]["meta"]["deep"] = nested
    state = tmp_path / "manifest.json"
    state.write_text(json.dumps(document))
    code, out, err = diff(cli, project, state)
    assert "Traceback" not in err and code in (0, EXIT_USAGE), err
    if code:
        assert_one_line(code, out, err, state, "")


def _set(path: tuple, value):
    def change(document: dict) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


NODE = ("nodes", "model.demo.customer_stats")


@pytest.mark.parametrize(
    "change, problem",
    [
        (_set(NODE, 5), "nodes['model.demo.customer_stats'] is a number, not an object"),
        (_set(NODE, "text"), "nodes['model.demo.customer_stats'] is text, not an object"),
        (_set(NODE, None), "nodes['model.demo.customer_stats'] is null, not an object"),
        (_set(("exposures",), []), "exposures is a list, not an object"),
        (_set(("exposures",), {"exposure.demo.x": [1]}), "exposures['exposure.demo.x'] is a list, not an object"),
        (_set(("sources",), {"source.demo.raw.events": 1}), "sources['source.demo.raw.events'] is a number, not an object"),
        (_set(("parent_map",), "x"), "parent_map is text, not an object"),
        (_set(("metadata",), [SCHEMA]), "not a dbt manifest (no metadata.dbt_schema_version and nodes)"),
        (_set((*NODE, "config"), 5), "not a dbt manifest fs can read"),
        (_set((*NODE, "columns"), [1, 2]), "not a dbt manifest fs can read"),
        (_set((*NODE, "depends_on"), {"nodes": 5}), "not a dbt manifest fs can read"),
        (_set((*NODE, "config", "meta", "feature_store"), [1]), ""),
        (_set((*NODE, "checksum"), 5), "not a dbt manifest fs can read"),  # read when comparing inputs
    ],
)
def test_a_manifest_of_the_wrong_shape(cli, project, tmp_path, change, problem):
    document = deployed_document()
    change(document)
    state = tmp_path / "manifest.json"
    state.write_text(json.dumps(document))
    code, out, err = diff(cli, project, state)
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert code != 0 and problem in err, err


def test_a_device_that_never_ends_is_refused_without_reading_it(cli, project):
    started = time.monotonic()
    state = Path("/dev/zero")
    assert_one_line(*diff(cli, project, state), state, "not a regular file")
    assert time.monotonic() - started < 10


def test_a_file_past_the_size_bound_is_refused_without_reading_it(cli, project, tmp_path):
    state = tmp_path / "manifest.json"
    with state.open("wb") as sparse:  # a hole: no disk used, nothing to read
        sparse.truncate(MAX_MANIFEST_BYTES + 1)
    started = time.monotonic()
    assert_one_line(*diff(cli, project, state), state, f"is {MAX_MANIFEST_BYTES + 1:,} bytes, over the {MAX_MANIFEST_BYTES:,}")
    assert time.monotonic() - started < 10
