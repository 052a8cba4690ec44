"""dbt's own reason reaches the user when fs runs dbt and dbt fails: the line after dbt's
"Compilation Error in test ..." header says what is wrong ("... is undefined"), and fs used to
cut it off (issue 19: a project without the package saw only the header)."""

from __future__ import annotations

import pytest

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
    result = project.fs("build", expect=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: dbt build failed: Compilation Error in test feature_timestamp_not_in_future_customer_daily_as_of"), lines[0]
    assert "'test_feature_timestamp_not_in_future' is undefined" in lines[0], lines[0]
    assert lines[0].endswith(
        " (fs's dbt package has it as featurestore.feature_timestamp_not_in_future: run fs init, and name it so)"
    ), lines[0]
