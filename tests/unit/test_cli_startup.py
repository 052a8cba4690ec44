"""fs's main pauses the garbage collector while it starts (featurestore/cli/startup.py); a
program that imports fs keeps its collector as it was."""

import gc
import subprocess
import sys

from featurestore.cli import startup


def test_resume_without_pause_leaves_the_collector_alone():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    startup.resume()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_pause_then_resume_enables_it_with_the_start_up_frozen():
    try:
        startup.pause()
        assert not gc.isenabled()
        startup.resume()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        startup.resume()  # once only
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_importing_the_cli_does_not_pause_it():
    probe = "import gc, featurestore.cli, featurestore.cli.app; print(gc.isenabled())"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
