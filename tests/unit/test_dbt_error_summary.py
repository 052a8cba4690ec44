"""The one line fs gives when dbt fails, from dbt's own output (as dbt 1.11 writes it): dbt's
reason and the file it names, never only the kind of error ("Parsing Error"); exit 3 for a
project dbt cannot read, 1 when dbt fails its own build; never a profile's password."""

from __future__ import annotations

from featurestore.errors import EXIT_FAILURE, EXIT_PROJECT, EXIT_WAREHOUSE
import pytest

from featurestore.project.dbt_runner import dbt_failure, without_profile_values

YAML_SYNTAX = """\x1b[0m17:29:48  Running with dbt=1.11.16
\x1b[0m17:29:48  Registered adapter: duckdb=1.11.1
\x1b[0m17:29:48  Encountered an error:
Parsing Error
  Error reading shop: features/cust_more.yml - Runtime Error
    Syntax error near line 5
    ------------------------------
    2  | models:
    3  |   - name: cust_view
    4  |     config: {meta: {feature_store: {entity: customer

    Raw Error:
    ------------------------------
    while parsing a flow mapping
      in "<unicode string>", line 4, column 36
    did not find expected ',' or '}'
      in "<unicode string>", line 5, column 1

"""

PROJECT_VERSION = """\x1b[0m17:29:50  Running with dbt=1.11.16
\x1b[0m17:29:50  Encountered an error:
Runtime Error
  at path ['version']: '1' is not valid under any of the given schemas

Error encountered in /tmp/p2/dbt_project.yml
"""

FAILED_TEST = """\x1b[0m17:29:39  1 of 2 START sql table model main.customer_score ............................... [RUN]
\x1b[0m17:29:39  1 of 2 OK created sql table model main.customer_score .......................... [\x1b[32mOK\x1b[0m in 0.11s]
\x1b[0m17:29:39  2 of 2 START test featurestore_feature_unique_entity_timestamp_customer_score_customer_id__ts  [RUN]
\x1b[0m17:29:39  2 of 2 FAIL 2 featurestore_feature_unique_entity_timestamp_customer_score_customer_id__ts  [\x1b[31mFAIL 2\x1b[0m in 0.04s]
\x1b[0m17:29:39  
\x1b[0m17:29:39  Finished running 1 table model, 1 test in 0 hours 0 minutes and 0.29 seconds (0.29s).
\x1b[0m17:29:39  
\x1b[0m17:29:39  \x1b[31mCompleted with 1 error, 0 partial successes, and 0 warnings:\x1b[0m
\x1b[0m17:29:39  
\x1b[0m17:29:39  \x1b[31mFailure in test featurestore_feature_unique_entity_timestamp_customer_score_customer_id__ts (models/features/customer_score.yml)\x1b[0m
\x1b[0m17:29:39    Got 2 results, configured to fail if != 0
\x1b[0m17:29:39  
\x1b[0m17:29:39    compiled code at target/compiled/shop/models/features/customer_score.yml/featurestore_feature_unique_en_cd85c627cb71a44f4e94efcac38653df.sql
\x1b[0m17:29:39  
\x1b[0m17:29:39  Done. PASS=1 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=2
"""

BAD_CREDENTIALS = """\x1b[0m17:30:17  Running with dbt=1.11.16
\x1b[0m17:30:17  Encountered an error:
Runtime Error
  Credentials in profile "shop", target "pg" invalid: 'SuperSecretPw123' is not of type 'integer'
"""


def test_a_yaml_syntax_error_names_the_file_the_line_and_yamls_reason_exit_3():
    error = dbt_failure("parse", YAML_SYNTAX)
    assert str(error) == (
        "dbt parse failed: Parsing Error: Error reading shop: features/cust_more.yml - Runtime Error; "
        "Syntax error near line 5; while parsing a flow mapping at line 4, column 36; "
        "did not find expected ',' or '}' at line 5, column 1"
    )
    assert error.exit_code == EXIT_PROJECT


def test_an_invalid_dbt_project_yml_names_the_file_and_the_reason_exit_3():
    error = dbt_failure("deps", PROJECT_VERSION)
    assert str(error) == (
        "dbt deps failed: Runtime Error: at path ['version']: '1' is not valid under any of the given "
        "schemas; Error encountered in /tmp/p2/dbt_project.yml"
    )
    assert error.exit_code == EXIT_PROJECT


def test_a_failing_data_test_names_the_test_its_file_and_the_result_exit_1():
    error = dbt_failure("build", FAILED_TEST)
    assert str(error) == (
        "dbt build failed: Failure in test featurestore_feature_unique_entity_timestamp_customer_score_customer_id__ts "
        "(models/features/customer_score.yml): Got 2 results, configured to fail if != 0"
    )
    assert error.exit_code == EXIT_FAILURE


def test_a_credential_dbt_quotes_is_left_out_keeping_the_profile_target_and_type():
    error = dbt_failure("parse", "".join(without_profile_values(BAD_CREDENTIALS.splitlines(True))))
    assert str(error) == (
        'dbt parse failed: Runtime Error: Credentials in profile "shop", target "pg" invalid: '
        "a value is not of type 'integer' (the value is left out: dbt debug --target pg shows it)"
    )
    assert "SuperSecretPw123" not in str(error)
    assert error.exit_code == EXIT_PROJECT


@pytest.mark.parametrize(
    "reason",
    ["987 is not of type 'string'", "['s3cr\\\\et-Pa55'] is not of type 'string'", "'hunter22' is not one of ['a', 'b']",
     "'x' is not of type 'integer' is not of type 'string', 'null'"],
)
def test_no_form_of_a_value_in_dbts_credentials_line_is_printed(reason):
    line = f'  Credentials in profile "shop", target "pg" invalid: {reason}'
    (shown,) = without_profile_values([line])
    assert shown.startswith('  Credentials in profile "shop", target "pg" invalid')
    assert not any(value in shown for value in ("987", "s3cr", "hunter22", "'x'")), shown


def test_lines_under_a_credentials_line_are_left_out_up_to_dbts_next_log_line():
    lines = ['  Credentials in profile "shop", target "pg" invalid: oops', "  hunter22 more", "17:30:18  Done."]
    assert list(without_profile_values(lines))[1:] == ["17:30:18  Done."]


def test_a_value_as_number_refused_is_left_out():
    (shown,) = without_profile_values(["  Could not convert value 'SuperSecretPw123' into type 'number'"])
    assert shown == "  Could not convert a value into type 'number' (the value is left out: dbt debug shows it)"


def test_ordinary_lines_are_untouched():
    assert list(without_profile_values(FAILED_TEST.splitlines(True))) == FAILED_TEST.splitlines(True)


NOT_CONNECTED = """\x1b[0m18:04:10  Running with dbt=1.11.16
\x1b[0m18:04:11  Encountered an error:
Database Error
  connection to server at "127.0.0.1", port 5999 failed: Connection refused
  	Is the server running on that host and accepting TCP/IP connections?
"""

MODEL_SQL = """\x1b[0m18:04:12  \x1b[31mDatabase Error in model customer_daily (models/features/customer_daily.sql)\x1b[0m
\x1b[0m18:04:12    column "nope" does not exist
"""


def test_a_warehouse_dbt_cannot_connect_to_is_exit_4_and_a_models_bad_sql_exit_1():
    assert dbt_failure("build", NOT_CONNECTED).exit_code == EXIT_WAREHOUSE
    assert dbt_failure("build", MODEL_SQL).exit_code == EXIT_FAILURE


PROFILES_YAML = """\x1b[0m18:04:50  Encountered an error:
Runtime Error
  dbt encountered an error while trying to read your profiles.yml file.

  Runtime Error
    Syntax error near line 9
    ------------------------------
    6  |       host: 127.0.0.1
    7  |       password: hunter22
    8  |       port: [5432
    9  |       user: postgres

    Raw Error:
    ------------------------------
    while parsing a flow sequence
      in "<unicode string>", line 8, column 13
\x1b[0m18:04:51  Done.
    7  |   a model's line
"""


def test_the_lines_of_profiles_yml_dbt_quotes_are_left_out_and_the_reason_kept():
    shown = "".join(without_profile_values(PROFILES_YAML.splitlines(True)))
    assert "hunter22" not in shown and "127.0.0.1" not in shown
    assert "Syntax error near line 9" in shown and "while parsing a flow sequence" in shown
    assert "a model's line" in shown  # after dbt's next log line, lines are dbt's again
