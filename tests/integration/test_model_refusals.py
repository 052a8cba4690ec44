"""What a new user's models may be that fs cannot read as declared, each refused with one line
naming the model, the file and what to do, on a small dbt-duckdb project the test writes (not
the demo) and builds with dbt: an ephemeral model (whose leftover table fs once read), a
YAML column the SQL does not produce, a declared data_type the warehouse
does not have; and a missing data_type, taken from the warehouse.

The project is built once for the module by `fs build` (a dbt parse and a dbt build, each a
dbt process of a few seconds of CPU) and put back as that build left it before each test
(tests/built_once.py's BuiltInPlace): a test that changes a model parses and builds from there,
as a user's next command does. The tests' fs commands run in the test's process
(`fs_in_process`), dbt in fs's child processes."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest

from tests.built_once import BuiltInPlace
from tests.generated_project import GeneratedProject, fs_in_process

pytestmark = pytest.mark.integration

SQL = "select 'c1' as customer_id, timestamp '2024-01-01' as event_timestamp, {{ var('amount', 1) }} as amount\n"
SPINE = "select 'c1' as customer_id, timestamp '2024-01-02' as event_timestamp"


def spend_yaml(config: str = "materialized: table", columns: str = "", extra: str = "") -> str:
    return (
        "models:\n  - name: spend\n"
        f"    config:\n      {config}\n      meta: {{feature_store: {{entity: customer, timestamp: event_timestamp}}}}\n"
        f"{extra}"
        "    columns:\n      - {name: customer_id}\n      - {name: event_timestamp}\n"
        f"      - {{name: amount{columns}}}\n"
    )


@pytest.fixture(scope="module")
def as_built(tmp_path_factory):
    """The project after one `fs build`, its database inside it (so that putting the folder
    back puts the tables back)."""
    folder = tmp_path_factory.mktemp("refusals")
    project = GeneratedProject(folder / "shop").model("spend", SQL, spend_yaml())
    project.profiles(project.root, project.root / "shop.duckdb")
    env = project.env(folder)
    built = project.fs("build", env=env)
    assert built.returncode == 0, built.stderr
    return project, env, BuiltInPlace(project.root)


@pytest.fixture
def shop(as_built, cli, monkeypatch):
    """The project as `fs build` left it: spend a table of amount 1."""
    project, env, saved = as_built
    saved.restore()
    fs_in_process(cli, monkeypatch)
    return project, env


def training_set(project, env, out):
    return project.fs("training-set", "--spine-sql", SPINE, "--features", "spend:amount", "-o", str(out), env=env)


def test_an_ephemeral_model_is_refused_not_read_from_a_leftover_table(shop, tmp_path):
    """The user's finding: the model was a table once; made ephemeral with new SQL, fs read
    the old table's values with exit 0."""
    project, env = shop  # built: spend's table is there
    project.model("spend", SQL.replace("{{ var('amount', 1) }}", "2"), spend_yaml("materialized: ephemeral"))
    line = (
        "error: models/spend.yml: model 'spend': is ephemeral, so dbt builds no table or view of it for fs to "
        "read (materialize it as table, view or incremental: `config: {materialized: table}`)\n"
    )
    result = training_set(project, env, tmp_path / "out.parquet")
    assert (result.returncode, result.stderr) == (3, line)
    assert not (tmp_path / "out.parquet").exists()
    built = project.fs("build", env=env)
    assert (built.returncode, built.stderr) == (3, line)


def test_a_yaml_column_the_sql_does_not_produce_is_said_so(shop, tmp_path):
    """The user's finding: this said "the model changed since it was built; run fs build",
    which a build cannot help."""
    project, env = shop
    yaml = spend_yaml().replace("      - {name: amount}\n", "      - {name: amount}\n      - {name: discount}\n")
    (project.root / "models" / "spend.yml").write_text(yaml)
    line = (
        "error: models/spend.yml: model 'spend': column 'discount' is declared in the YAML, but the model's SQL "
        "(models/spend.sql) does not produce it (add it to the SQL's select, or remove it from the YAML's columns)\n"
    )
    built = project.fs("build", env=env)
    assert (built.returncode, built.stderr) == (3, line)
    result = training_set(project, env, tmp_path / "out.parquet")
    assert (result.returncode, result.stderr) == (3, line)


def test_a_relation_older_than_the_sql_is_said_to_need_a_build(shop, tmp_path):
    project, env = shop  # `fs build` exited 0 (as_built)
    # The column is added to the SQL and the YAML, and the model not built again.
    project.model("spend", SQL.replace(" as amount", " as amount, 5 as discount"),
                  spend_yaml().replace("      - {name: amount}\n", "      - {name: amount}\n      - {name: discount}\n"))
    # dbt docs generate compiles every model without building it: its manifest (which fs
    # records) holds the new SQL, so fs knows the SQL has the column and the table does not.
    docs = project.fs("docs", "--dbt", env=env)
    assert docs.returncode == 0, docs.stderr
    result = project.fs("training-set", "--spine-sql", SPINE, "--features", "spend:discount", "-o", str(tmp_path / "o.parquet"), env=env)
    assert result.returncode == 4
    assert result.stderr == (
        "error: feature view 'spend': shop.main.spend has no column(s) discount; the model changed since it was "
        "built; run `fs build` (or `dbt build`)\n"
    )


def test_a_declared_data_type_the_warehouse_does_not_have_is_refused(shop, tmp_path):
    """The user's finding: varchar declared on an integer column was shown while an integer
    was served."""
    project, env = shop
    (project.root / "models" / "spend.yml").write_text(spend_yaml(columns=", data_type: varchar"))
    line = (
        "error: models/spend.yml: model 'spend': column 'amount' declares data_type varchar, but shop.main.spend "
        "has it as integer (declare data_type: integer, or cast the column in the model's SQL)\n"
    )
    built = project.fs("build", env=env)
    assert (built.returncode, built.stderr) == (3, line)
    for command in (
        ["training-set", "--spine-sql", SPINE, "--features", "spend:amount", "-o", str(tmp_path / "o.parquet")],
        ["check"],
    ):
        result = project.fs(*command, env=env)
        assert (result.returncode, result.stderr) == (3, line), command


def test_a_compatible_data_type_is_accepted(shop, tmp_path):
    project, env = shop
    (project.root / "models" / "spend.yml").write_text(spend_yaml(columns=", data_type: bigint"))
    assert project.fs("build", env=env).returncode == 0
    result = training_set(project, env, tmp_path / "out.parquet")
    assert result.returncode == 0, result.stderr
    assert pq.read_table(tmp_path / "out.parquet").column("amount").to_pylist() == [1]


def test_a_missing_data_type_is_the_warehouses(shop, as_built):
    project, env = shop
    (project.root / "shop.duckdb").unlink()  # not built
    before = project.fs("catalog", "show", "spend", "--json", env=env)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["features"][0]["type"] is None  # not built: nothing to ask
    as_built[2].restore()  # as dbt built it
    after = project.fs("catalog", "show", "spend", "--json", env=env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["features"][0]["type"] == "integer"
    table = project.fs("catalog", "show", "spend", env=env)
    assert re.search(r"^spend:amount +integer *$", table.stdout, re.MULTILINE), table.stdout
