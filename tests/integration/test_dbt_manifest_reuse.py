"""fs takes the manifest a plain `dbt build` wrote when dbt's artifacts show it was written
for the same target, vars, environment and files (featurestore/project/dbt_artifacts.py), and
parses again - saying why in one line - in each way it could be stale. Real dbt runs on a
small generated dbt-duckdb project (tests/tiny_projects.py)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import warnings
from pathlib import Path

import pytest

from featurestore import FeatureStore
from featurestore.console import Console
from featurestore.project.freshness import KEY_FILE
from tests.built_once import BuiltInPlace
from tests.tiny_projects import PROFILES, dbt_env, run_dbt, write_tiny_project

PARSE = ": running dbt parse"


@pytest.fixture(scope="module")
def as_built(tmp_path_factory) -> BuiltInPlace:
    """The tiny project after one plain `dbt build`, once for the module."""
    root = write_tiny_project(tmp_path_factory.mktemp("reuse") / "tiny", extra_sql="  -- note: {{ env_var('TINY_NOTE', 'none') }}")
    run_dbt(root, "build")
    return BuiltInPlace(root)


@pytest.fixture
def built(as_built, clean_env, monkeypatch) -> Path:
    """The tiny project right after a plain `dbt build` (fs has not run on it), put back as
    dbt left it for each test."""
    root = as_built.restore()
    monkeypatch.setenv("DBT_PROFILES_DIR", str(root / "profiles"))
    return root


def first_command(root: Path, capsys, target: str | None = None) -> str:
    """What the first fs command on the project said about the manifest ('' for nothing)."""
    capsys.readouterr()
    store = FeatureStore(project_dir=root, target=target, console=Console(verbose=True))
    assert [v.name for v in store.catalog()] == ["customer_orders"]
    return capsys.readouterr().err


def test_no_parse_right_after_a_plain_dbt_build(built, capsys):
    assert first_command(built, capsys) == ""
    assert (built / "target" / KEY_FILE).is_file()  # recorded: the next commands compare as usual
    assert first_command(built, capsys) == ""


def test_another_target_is_parsed_again(built, capsys):
    said = first_command(built, capsys, target="prod")
    assert "dbt wrote it for target 'dev', not 'prod'" + PARSE in said and said.count("\n") == 1


def test_a_changed_file_is_parsed_again(built, capsys):
    model = built / "models" / "customer_orders.sql"
    model.write_text(model.read_text().replace("orders", "orders ", 1))
    assert "models/customer_orders.sql changed after (or as) dbt started writing it" + PARSE in first_command(built, capsys)


def test_an_added_file_is_parsed_again(built, capsys):
    (built / "models" / "more.sql").write_text("select 1 as one\n")
    said = first_command(built, capsys)
    assert "models/ (and 1 more) changed after (or as) dbt started writing it" + PARSE in said


def test_a_deleted_file_is_parsed_again(built, capsys):
    (built / "seeds" / "raw_orders.csv").rename(built / "raw_orders.csv")  # out of dbt's folders
    with pytest.raises(Exception):  # the model's ref has nothing left to point at
        first_command(built, capsys)
    assert "seeds/ changed after (or as) dbt started writing it" + PARSE in capsys.readouterr().err


def test_a_changed_profiles_file_is_parsed_again(built, capsys):
    profiles = built / "profiles" / "profiles.yml"
    profiles.write_text(PROFILES.replace("dev.duckdb", "other.duckdb"))
    assert f"{profiles} changed after (or as) dbt started writing it" + PARSE in first_command(built, capsys)


def test_other_vars_are_parsed_again(built, capsys):
    run_dbt(built, "build", "--vars", "{limit: 1}")
    assert "dbt wrote it with --vars" + PARSE in first_command(built, capsys)


def test_a_manifest_of_another_dbt_version_is_parsed_again(built, capsys):
    path = built / "target" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["metadata"]["dbt_version"] = "1.7.0"  # as a dbt 1.7 would have written it
    path.write_text(json.dumps(manifest))
    said = first_command(built, capsys)
    assert "it was written by dbt 1.7.0, and dbt " in said and said.endswith(" is installed" + PARSE + "\n")


def test_a_changed_environment_variable_the_project_reads_is_parsed_again(built, capsys, monkeypatch, tmp_path):
    import shutil

    monkeypatch.setenv("TINY_NOTE", "a")
    run_dbt(built, "build", env=dbt_env(built, TINY_NOTE="a"))
    # dbt's artifacts of that run, put back after fs's command as they were (times too): the
    # state a second `dbt build` with the same value would leave, without its dbt process.
    shutil.copytree(built / "target", tmp_path / "target")
    assert first_command(built, capsys) == ""  # the value dbt parsed with
    shutil.rmtree(built / "target")
    shutil.copytree(tmp_path / "target", built / "target")
    monkeypatch.setenv("TINY_NOTE", "b")
    assert "the environment variable TINY_NOTE changed since dbt wrote it" + PARSE in first_command(built, capsys)


def test_a_manifest_of_a_plain_dbt_parse_is_parsed_again_once(built, capsys):
    run_dbt(built, "parse")
    said = first_command(built, capsys)
    assert ", and no target/run_results.json of the dbt run that wrote it says its target (dbt parse writes none)" + PARSE in said
    assert first_command(built, capsys) == ""


def test_a_dbt_installed_after_the_run_is_refused(built):
    """A dbt or adapter installed after the run (an upgrade of the adapter alone keeps
    dbt_version): the install times are the input; the shared test environment cannot be
    upgraded, so they are given."""
    import time

    from featurestore.project import freshness
    from featurestore.project.dbt_artifacts import refusal
    from featurestore.project.dbt_project import load_project
    from featurestore.project.profiles import load_target

    project = load_project(built)
    target = load_target(project)
    installed = freshness._installed_dbt_times()
    assert refusal(project, target, {}, {}, installed) is None  # as installed: taken
    adapter = next(name for name in installed if name.startswith("dbt_duckdb"))
    later = {**installed, adapter: time.time_ns()}
    assert refusal(project, target, {}, {}, later) == f"{adapter} was installed after dbt wrote it"


@contextlib.contextmanager
def no_pipe_left_open():
    """The block leaves no pipe open: fs closes its dbt child's pipes once the child ends,
    whatever happened (an open one is a ResourceWarning in the user's program; the README's
    tour asserts none)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_fs_build_on_a_stale_manifest_builds_what_it_parsed_and_records_it(built, capsys):
    """A stale manifest: `fs build` parses, checks the catalog and builds in one dbt process
    (dbt_runner.run_dbt_after_parse); the change is built, no pipe of the dbt child is left
    open, and the manifest it leaves is fresh for the next command."""
    import duckdb

    model = built / "models" / "customer_orders.sql"
    model.write_text(model.read_text().replace("orders  --", "orders * 10 as orders  --", 1))
    capsys.readouterr()
    with no_pipe_left_open():
        summary = FeatureStore(project_dir=built, console=Console(verbose=True)).build()
    said = capsys.readouterr().err  # verbose: dbt's lines streamed as well
    assert "models/customer_orders.sql changed" in said and PARSE in said
    assert "OK created sql table model main.customer_orders" in said
    assert summary.built == {"customer_orders"}
    with duckdb.connect(str(built / "dev.duckdb"), read_only=True) as con:
        assert con.execute("select customer_id, orders from main.customer_orders order by 1").fetchall() == [("c1", 30), ("c2", 50)]
    assert first_command(built, capsys) == ""


def test_fs_build_on_a_manifest_dbt_cannot_parse_is_one_line(built, capsys):
    """dbt's parse error, in the dbt process that would build after it: one line, nothing run."""
    from featurestore.errors import DbtError

    (built / "models" / "customer_orders.yml").write_text("version: 2\nmodels:\n  - name: [customer_orders\n")
    with no_pipe_left_open(), pytest.raises(DbtError, match=r"^dbt parse failed: Parsing Error") as raised:
        FeatureStore(project_dir=built, console=Console(verbose=False)).build()
    assert "\n" not in str(raised.value)
    assert json.loads((built / "target" / "run_results.json").read_text())["args"]["which"] == "build"  # dbt's, from before


def _ttl(store: FeatureStore) -> str:
    from featurestore.catalog.ttl import format_ttl

    return format_ttl(next(view for view in store.catalog() if view.name == "customer_orders").ttl)


@pytest.fixture(scope="module")
def as_parsed_by_fs(as_built) -> tuple[BuiltInPlace, str]:
    """The built project after customer_orders.yml was written again (same text, a new time)
    and fs parsed it: dbt's saved state then holds this time (fs's first parse after a plain
    dbt is a full one: another profiles flag). Once for the module (a full dbt parse);
    returns the state and the file's text."""
    root = as_built.restore()
    yml = root / "models" / "customer_orders.yml"
    text = yml.read_text()
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("FS_", "DBT_"))]:
            patch.delenv(key)
        patch.setenv("DBT_PROFILES_DIR", str(root / "profiles"))
        yml.write_text(text)
        assert _ttl(FeatureStore(project_dir=root, console=Console(verbose=False))) == "30d"
    return BuiltInPlace(root, "parsed-by-fs"), text


@pytest.fixture
def parsed_by_fs(as_parsed_by_fs, clean_env, monkeypatch) -> tuple[Path, str, os.stat_result]:
    """as_parsed_by_fs put back for the test (the files' times too): the project, and
    customer_orders.yml's text and stat."""
    state, text = as_parsed_by_fs
    root = state.restore()
    monkeypatch.setenv("DBT_PROFILES_DIR", str(root / "profiles"))
    return root, text, (root / "models" / "customer_orders.yml").stat()


def _put_back(path: Path, text: str, stamp) -> None:
    """The file's earlier copy, with its earlier modification time (cp -p, rsync -a, tar x)."""
    path.write_text(text)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_file_put_back_with_its_old_time_is_read_again(parsed_by_fs, capsys):
    """dbt's partial parse skips a YAML file whose modification time is the one it saved,
    and keeps that time when the file changes: a copy put back with its old time kept the
    edit's values. fs parses without partial parsing then, and the catalog and a training set
    follow the file."""
    import pandas as pd

    built, original, stamp = parsed_by_fs
    yml = built / "models" / "customer_orders.yml"
    yml.write_text(original.replace("ttl: 30d", "ttl: 1d"))
    assert _ttl(FeatureStore(project_dir=built, console=Console(verbose=True))) == "1d"
    _put_back(yml, original, stamp)
    capsys.readouterr()
    store = FeatureStore(project_dir=built, console=Console(verbose=True))
    assert _ttl(store) == "30d"
    assert "models/customer_orders.yml has the modification time dbt's partial parse saved for other contents" in capsys.readouterr().err
    spine = pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [pd.Timestamp("2024-02-05")]})
    assert store.training_set(spine, ["customer_orders:orders"]).to_pandas()["orders"].tolist() == [3]
    yml.write_text(original.replace("ttl: 30d", "ttl: 2d"))  # dbt's state is whole again
    assert "without partial parsing" not in first_command(built, capsys)


def test_fs_build_after_a_file_is_put_back_with_its_old_time_builds_what_it_says(parsed_by_fs, capsys):
    built, original, stamp = parsed_by_fs
    yml = built / "models" / "customer_orders.yml"
    yml.write_text(original.replace("ttl: 30d", "ttl: 1d"))
    FeatureStore(project_dir=built, console=Console(verbose=False)).build()
    _put_back(yml, original, stamp)
    capsys.readouterr()
    store = FeatureStore(project_dir=built, console=Console(verbose=True))
    store.build()
    assert _ttl(store) == "30d"
    assert "without partial parsing" in capsys.readouterr().err


def test_a_plain_dbt_build_that_missed_a_file_put_back_is_refused(built, capsys):
    """dbt's own build after the file was put back wrote the edit's values: its manifest is
    not taken."""
    yml = built / "models" / "customer_orders.yml"
    original, stamp = yml.read_text(), yml.stat()
    yml.write_text(original.replace("ttl: 30d", "ttl: 1d"))
    run_dbt(built, "build")
    _put_back(yml, original, stamp)
    run_dbt(built, "build")
    capsys.readouterr()
    assert _ttl(FeatureStore(project_dir=built, console=Console(verbose=True))) == "30d"
    said = capsys.readouterr().err
    assert "dbt's partial parse took models/customer_orders.yml as unchanged" in said and "without partial parsing" in said
