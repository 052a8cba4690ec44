"""dbt's own reason reaches the user when fs runs dbt and dbt fails: the line after dbt's
"Compilation Error in test ..." header says what is wrong ("... is undefined"), and fs used to
cut it off (issue 19: a project without the package saw only the header).

fs runs in the test's process (`UserProject.fs_here`): what is checked is its one line on
stderr, its exit code and what it leaves out of stdout and stderr, which are the same there,
and fs's dbt child is then forked from a process that imported dbt (`forked_dbt_child`)."""

from __future__ import annotations

import pytest

from tests.built_once import BuiltInPlace
from tests.user_project import UserProject

pytestmark = pytest.mark.integration

FEATURE_YAML = """version: 2
models:
  - name: customer_daily
    columns:
      - name: as_of
        data_tests: [feature_timestamp_not_in_future]
"""


def test_an_undefined_test_is_named_in_fs_builds_error_line(tmp_path):
    project = UserProject.shop(tmp_path / "shop", {"models/features/customer_daily.yml": FEATURE_YAML})
    result = project.fs_here("build", expect=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: dbt build failed: Compilation Error in test feature_timestamp_not_in_future_customer_daily_as_of"), lines[0]
    assert "'test_feature_timestamp_not_in_future' is undefined" in lines[0], lines[0]
    assert lines[0].endswith(
        " (fs's dbt package has it as featurestore.feature_timestamp_not_in_future: run fs init, and name it so)"
    ), lines[0]


def test_a_yaml_file_dbt_cannot_parse_is_exit_3_with_the_file_and_yamls_reason(tmp_path):
    """fs catalog parses a changed project: a YAML syntax error is an invalid project (exit 3),
    and the line carries dbt's reason, not only "Parsing Error"."""
    project = UserProject.shop(
        tmp_path / "shop",
        {"models/features/customer_daily.yml": "version: 2\nmodels:\n  - name: customer_daily\n    config: {meta: {x: 1\n"},
    )
    result = project.fs_here("catalog", expect=3)
    assert result.stderr.strip() == (
        "error: dbt parse failed: Parsing Error: Error reading shop: features/customer_daily.yml - Runtime Error; "
        "Syntax error near line 5; while parsing a flow mapping at line 4, column 20; "
        "did not find expected ',' or '}' at line 5, column 1"
    ), result.stderr


def test_an_invalid_dbt_project_yml_is_exit_3_from_fs_init_naming_it(tmp_path):
    project = UserProject.shop(tmp_path / "shop")
    project.write("dbt_project.yml", project.read("dbt_project.yml").replace("version: '1.0.0'", "version: '1'"))
    result = project.fs_here("init", expect=3)
    assert result.stderr.strip() == (
        "error: dbt deps failed: Runtime Error: at path ['version']: '1' is not valid under any of the given "
        f"schemas; Error encountered in {project.root / 'dbt_project.yml'}"
    ), result.stderr


def test_a_failing_data_test_in_fs_build_names_the_test_and_its_result_exit_1(initialized):
    """dbt failing its own build is exit 1 (docs/cli.md); the line names the test that failed."""
    project = shop_failing_a_test(initialized)
    result = project.fs_here("build", expect=1)
    assert result.stderr.strip() == (
        "error: dbt build failed: Failure in test unique_customer_daily_customer_id "
        "(models/features/customer_daily.yml): Got 3 results, configured to fail if != 0"
    ), result.stderr


def test_a_build_streamed_to_a_terminal_gives_the_same_line(initialized, capsys):
    """On a terminal dbt's log is streamed as it runs (the console is verbose); the line and the
    exit code are still dbt's reason, read from what was streamed (a manifest fresh, so the
    build is a dbt process of its own)."""
    from featurestore import FeatureStore
    from featurestore.console import Console
    from featurestore.errors import DbtError

    project = shop_failing_a_test(initialized)
    project.fs_here("catalog")  # the manifest is fresh for the build
    store = FeatureStore(project_dir=project.root, profiles_dir=project.profiles_dir, console=Console(verbose=True))
    with pytest.raises(DbtError) as raised:
        store.build()
    assert str(raised.value) == (
        "dbt build failed: Failure in test unique_customer_daily_customer_id "
        "(models/features/customer_daily.yml): Got 3 results, configured to fail if != 0"
    )
    assert "Got 3 results" in capsys.readouterr().err  # streamed as dbt wrote it


@pytest.fixture(scope="module")
def as_initialized(tmp_path_factory) -> tuple[UserProject, BuiltInPlace]:
    """The shop set up by fs init once for the module (a dbt deps), its folder put back as fs
    init left it for each test that takes it (`initialized`): tests/built_once.py's
    BuiltInPlace, in the same place, with the profiles' folder next to it."""
    project = UserProject.shop(tmp_path_factory.mktemp("errline") / "shop")
    project.fs_here("init")
    return project, BuiltInPlace(project.root.parent)


@pytest.fixture
def initialized(as_initialized) -> UserProject:
    """The shop just after fs init, with an environment of the test's own."""
    project, as_init = as_initialized
    as_init.restore()
    return UserProject(project.root, project.profiles_dir, dict(project.env))


def shop_failing_a_test(project: UserProject) -> UserProject:
    """The shop set up by fs init (`initialized`), with a uniqueness test on customer_daily's
    customer_id, which repeats in each customer's daily rows (3 customers)."""
    project.write(
        "models/features/customer_daily.yml",
        "version: 2\nmodels:\n  - name: customer_daily\n    columns:\n"
        "      - name: customer_id\n        data_tests: [unique]\n",
    )
    return project


PG_TARGET = """shop:
  target: dev
  outputs:
    dev: {{type: duckdb, path: {root}/shop.duckdb, threads: 1}}
    pg:
      type: postgres
      host: 127.0.0.1
      user: postgres
      dbname: test
      schema: fs_secret_test
      threads: 1
{credentials}"""

# (profile lines, the secret, its forms as Python and dbt may print it)
BAD_CREDENTIALS = {
    "short number": ("      port: 5432\n      password: 987\n", ["987"]),
    "escaped": ("      port: 5432\n      password: ['s3cr\\et-Pa55']\n", ["s3cr\\et-Pa55", "s3cr\\\\et-Pa55", "s3cr"]),
    "under port": ("      port: SuperSecretPw123\n      password: '5432'\n", ["SuperSecretPw123"]),
    "as_number of a password": (
        "      port: \"{{ env_var('FS_T_PG_PORT') | as_number }}\"\n      password: \"{{ env_var('FS_T_PG_PASSWORD') }}\"\n",
        ["SuperSecretPw123"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
def test_a_credential_dbt_refuses_never_reaches_stdout_or_stderr(tmp_path, case, capfd):
    """dbt quotes a profile value that does not fit the adapter's schema (a password under
    port, a number where text is due): the line, the --debug log, keep the profile, the target
    and the type and leave the value out (issue: masking only the secret keys' values)."""
    credentials, secrets = BAD_CREDENTIALS[case]
    project = UserProject.shop(tmp_path / "shop")
    project.env.update(FS_T_PG_PORT="SuperSecretPw123", FS_T_PG_PASSWORD="5432")
    project.write_profiles(PG_TARGET.format(root=project.root, credentials=credentials))
    result = project.fs_here("build", "--target", "pg", "--debug", expect=3)
    # fs runs in this process: whatever reached the file descriptors rather than sys.stdout
    # and sys.stderr (where a child of fs would have written it) is checked too.
    leaked = capfd.readouterr()
    for secret in secrets:
        assert secret not in result.stdout + result.stderr + leaked.out + leaked.err, result.stderr
    assert '"pg"' in result.stderr.strip().splitlines()[-1] or "target 'pg'" in result.stderr, result.stderr


def test_a_credential_is_not_echoed_on_a_terminal(tmp_path, capsys):
    """A build on a terminal streams dbt's lines: the credentials line is filtered there too."""
    from featurestore import FeatureStore
    from featurestore.console import Console
    from featurestore.errors import DbtProjectError

    project = UserProject.shop(tmp_path / "shop")
    project.write_profiles(PG_TARGET.format(root=project.root, credentials="      port: 5432\n      password: 98765\n"))
    store = FeatureStore(project_dir=project.root, profiles_dir=project.profiles_dir, target="pg", console=Console(verbose=True, debug=True))
    with pytest.raises(DbtProjectError) as raised:
        store.build()
    streamed = capsys.readouterr()
    assert "98765" not in streamed.out + streamed.err + str(raised.value)
    assert 'Credentials in profile "shop", target "pg" invalid' in streamed.err


@pytest.mark.parametrize("password", ["test", "customer", "postgres", "in"])
def test_a_password_that_is_an_ordinary_word_leaves_dbts_line_as_it_is(initialized, password):
    """Masking the password wherever it appears rewrote ordinary text and so showed it
    (`Failure in *** unique_...` with password 'test'): dbt's line is left as it is."""
    project = shop_failing_a_test(initialized)
    project.write_profiles(
        PG_TARGET.format(root=project.root, credentials=f"      port: 5432\n      password: {password}\n")
    )
    result = project.fs_here("build", expect=1)
    assert result.stderr.strip() == (
        "error: dbt build failed: Failure in test unique_customer_daily_customer_id "
        "(models/features/customer_daily.yml): Got 3 results, configured to fail if != 0"
    ), result.stderr


def test_a_warehouse_that_does_not_answer_is_exit_4(initialized):
    """docs/cli.md: exit 4 when the warehouse cannot answer; a Postgres nobody listens on
    is that, not a failure of the build (exit 1)."""
    project = initialized
    project.write_profiles(PG_TARGET.format(root=project.root, credentials="      port: 5999\n      password: pw\n"))
    result = project.fs_here("build", "--target", "pg", expect=4)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: dbt build failed: Database Error"), line
    assert "Connection refused" in line, line
