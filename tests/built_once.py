"""Builds that a test session makes once, however many pytest-xdist workers it runs.

xdist runs each session fixture once per worker; a demo build (a real `dbt build`) is the
dearest thing a fixture makes, so the first worker to ask builds it in a folder every worker of
the session shares, under a file lock, and the others wait for it and take their copy. Without
xdist the build is made in the session's own temp folder, and no copy is taken.

A worker always gets a copy of its own, since tests write in the demo (output tables, check
history) and DuckDB lets one process at a time open a file for writing.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path
from typing import Callable

import pytest


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """The temp folder of the whole session: the xdist controller's (a worker's own is a
    `popen-gwN` folder inside it), else this process's."""
    base = factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name` that `build(folder)` filled, made once per session: this process's
    own copy when xdist workers share the build. A build that failed fails every worker that
    asks for it, with its error, instead of running again."""
    base = factory.getbasetemp()
    shared = shared_folder(factory)
    if shared == base:
        build(base / name)
        return base / name
    made, failed = shared / f"{name}.shared", shared / f"{name}.failed"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the worker dies
        if failed.exists():
            raise AssertionError(f"the shared build {name!r} failed in another worker:\n{failed.read_text()}")
        if not (shared / f"{name}.done").exists():
            shutil.rmtree(made, ignore_errors=True)  # what a worker that died left
            try:
                build(made)
            except BaseException as error:
                failed.write_text(str(error)[-6000:] or type(error).__name__)
                raise
            (shared / f"{name}.done").touch()
    copy = base / name
    # .fs: a Redis server's socket and pid, should a build have started one.
    shutil.copytree(made, copy, ignore=shutil.ignore_patterns(".fs"))
    return copy


class BuiltInPlace:
    """A project that dbt built once in `root`, put back as dbt left it before each test that
    changes it: for a module whose tests each need a freshly built project of the same files.

        @pytest.fixture(scope="module")
        def as_built(tmp_path_factory):
            root = write_tiny_project(tmp_path_factory.mktemp("m") / "tiny")
            run_dbt(root, "build")
            return BuiltInPlace(root)

        @pytest.fixture
        def built(as_built):
            return as_built.restore()

    In place, not a copy elsewhere: dbt's artifacts name the folder it ran in (run_results.json's
    project and profiles folders, which fs compares), so a copy in another folder is another
    project to fs. copy2 keeps every file's and folder's times, which fs compares with the
    run's start. The module's tests run one after another on one worker (--dist loadscope), so
    they never share the folder at once."""

    def __init__(self, root: Path, state: str = "as-built"):
        """`state` names the saved copy: a module may keep more than one state of `root`."""
        self.root = root
        self.saved = root.with_name(f"{root.name}.{state}")
        shutil.copytree(root, self.saved)

    def restore(self) -> Path:
        shutil.rmtree(self.root)
        shutil.copytree(self.saved, self.root)
        return self.root
