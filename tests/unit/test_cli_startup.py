"""fs's main pauses the garbage collector while it starts (featurestore/cli/startup.py); a
program that imports fs keeps its collector as it was."""

import gc
import subprocess
import sys

import pytest

from featurestore.cli import startup


@pytest.fixture(autouse=True)
def nothing_frozen():
    """The test process froze what its collection loaded (tests/conftest.py), and frozen objects
    freed later lower the count: each test here counts from none, and the suite's freeze is
    made again afterwards."""
    suite_frozen = gc.get_freeze_count()
    gc.unfreeze()
    yield
    if suite_frozen:
        gc.freeze()


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


def test_main_called_by_a_program_leaves_its_collector_alone(capsys):
    # Tests and programs call main(argv) in their own process: a command that fails before it
    # has a FeatureStore (here: a missing project) must not leave their collector off or frozen.
    from featurestore.cli import main

    frozen = gc.get_freeze_count()
    try:
        main(["catalog", "list", "--project-dir", "/nonexistent/fs-project"])
    except SystemExit:
        pass
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_fs_process_ends_its_pause_when_a_command_fails_early():
    # `fs` itself (main() with no argv): the pause ends even when no FeatureStore was made.
    probe = (
        "import gc, sys\n"
        "from featurestore.cli import main\n"
        "sys.argv = ['fs', 'catalog', 'list', '--project-dir', '/nonexistent/fs-project']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.isenabled())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "True"


def _every_command_line() -> list[list[str]]:
    from featurestore.cli.app import app

    lines = [[info.name] for info in app.registered_commands]
    for group in app.registered_groups:
        lines.append([group.name])
        lines += [[group.name, info.name] for info in group.typer_instance.registered_commands]
    return lines


def test_a_command_runs_in_an_app_of_that_command_alone():
    # Typer builds a click command for every registered command before it parses: fs's main
    # hands it only the one the arguments name (cli/app.py, app_for).
    from featurestore.cli.app import app, app_for

    assert [info.name for info in app_for(["training-set", "--sql"]).registered_commands] == ["training-set"]
    assert [info.name for info in app_for(["catalog", "show", "v"]).registered_groups] == ["catalog"]
    assert not app_for(["catalog", "show", "v"]).registered_commands
    for whole in ([], ["--help"], ["--version"], ["training-sett"]):
        assert app_for(whole) is app
    assert len(app.registered_commands) > 1  # the module's app keeps every command


def test_every_command_answers_alone_as_in_the_whole_app():
    # Its help, and its usage errors (exit 2, the same words), are the same either way.
    from typer.testing import CliRunner

    from featurestore.cli.app import app, app_for

    runner = CliRunner()
    lines = _every_command_line()
    assert ["training-set"] in lines and ["catalog", "show"] in lines
    for line in lines:
        for args in ([*line, "--help"], [*line, "--no-such-option"]):
            whole = runner.invoke(app, args, prog_name="fs")
            alone = runner.invoke(app_for(args), args, prog_name="fs")
            assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args
            assert whole.exit_code in (0, 2) and whole.output
