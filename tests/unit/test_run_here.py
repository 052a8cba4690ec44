"""tests/conftest.py run_here: a module fixture's setup step run in the test process leaves the
process as it found it, as a child process would (the environment, sys.path), so that the
module's later tests do not depend on what a setup step did."""

import os
import sys

from tests.conftest import run_here


def test_what_a_step_sets_is_gone_after_it(tmp_path):
    script = tmp_path / "step.py"
    script.write_text(
        "import os, sys\n"
        "os.environ['FS_TEST_SET_BY_A_STEP'] = '1'\n"
        "os.environ.setdefault('PYSPARK_PYTHON', 'set-by-a-step')\n"
        "sys.path.insert(0, '/nowhere')\n"
        "print('ran in', os.getcwd())\n"
    )
    environment, path, folder = dict(os.environ), list(sys.path), os.getcwd()
    result = run_here([sys.executable, str(script)], tmp_path, {"PATH": os.environ.get("PATH", "")})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ran in {tmp_path}\n"
    assert dict(os.environ) == environment
    assert sys.path == path
    assert os.getcwd() == folder
