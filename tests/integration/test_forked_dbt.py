"""tests/forked_dbt.py, the tests' forked `dbt`: a run behaves as a new process's would where
a fork could differ (found by a review)."""

from __future__ import annotations

import os
import time

import pytest

from tests.forked_dbt import run_dbt

pytestmark = pytest.mark.integration


def test_a_file_dated_in_the_future_does_not_hold_a_run_back(tmp_path):
    """A run waits until its newest input is START_S old, as a real dbt's imports make it;
    a file dated an hour ahead (a clock moved back, an archive's times) is not waited for:
    a real dbt would start at once. It waited the hour, past this run's timeout."""
    later = tmp_path / "later.txt"
    later.write_text("from the future\n")
    ahead = time.time() + 3600
    os.utime(later, (ahead, ahead))
    result = run_dbt(["--version"], cwd=tmp_path, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Core" in result.stdout
