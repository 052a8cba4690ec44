"""CPU seconds per test module, JVMs and servers included: an opt-in pytest plugin.

    scripts/test.sh -p tests.cpu_meter            # a table per module at the end of the run

Wall time on the shared machine depends on what the others run; CPU seconds (user + sys) do
much less. Each process pytest runs the tests in (each xdist worker) becomes a child
subreaper, so the processes its tests' children leave behind (the JVM of a `fs build --target
spark` child, which outlives its Python by a moment) are reparented to it instead of to init,
and are counted when they end. A test's CPU is what the worker, its reaped children and its
live descendants used while it ran, its fixtures included (a module's shared build counts in
the module's first test). Reaping a left-behind child can take one that a test still holds a
`Popen` of (it would then see exit code 0), so this is for measuring runs only.

The run's total leaves out what the process had spent on children before pytest started:
scripts/test.sh `exec`s pytest, and a process keeps its waited-for children's CPU across an
exec, so the shell's `scripts/setup.sh` (a fresh clone's venv and pip install, about 60 s of
CPU) and compileall would otherwise count as the suite's. It is printed apart, and so is where
the rest of the CPU outside the modules goes: the controller's own, each worker's start and
collection, and the workers' time between tests (xdist's messages, the meter itself).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import time
from collections import defaultdict
from pathlib import Path

import psutil
import pytest

PR_SET_CHILD_SUBREAPER = 36


def _children_before() -> float:
    """The CPU of the children this process waited for before pytest (the -p plugins are
    imported before any worker or test starts): an exec'ing shell's setup steps."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_BEFORE_PYTEST = _children_before()


def _become_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the left-behind processes are not counted
        pass


def _reap_left_behind() -> None:
    """Reap every child that has exited (a zombie): waitpid, not a scan of /proc (a scan of the
    machine's processes cost 2 ms, twice a test)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child at all
            return
        if pid == 0:  # children, none of them exited
            return


def _children(pid: int) -> list[int] | None:
    """The pids of `pid`'s children, from /proc/PID/task/TID/children (Linux with
    CONFIG_PROC_CHILDREN); None where that is missing."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # gone
    children: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as file:
                children.extend(int(child) for child in file.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{task}"):
                continue  # the thread ended
            return None  # no such file in this kernel
        except OSError:
            continue
    return children


def _descendants() -> list[psutil.Process]:
    """This process's live descendants: walked down /proc's children lists, which costs
    microseconds a process, instead of psutil's map of every process on the machine."""
    found: list[int] = []
    pending = [os.getpid()]
    while pending:
        children = _children(pending.pop())
        if children is None:
            return psutil.Process().children(recursive=True)
        found.extend(children)
        pending.extend(children)
    processes = []
    for pid in found:
        try:
            processes.append(psutil.Process(pid))
        except psutil.Error:
            pass
    return processes


def own_seconds() -> float:
    """user + sys of this process alone."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def cpu_seconds() -> float:
    """user + sys of this process, the children it reaped (less those of before pytest) and
    every live descendant."""
    _reap_left_behind()
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system - _BEFORE_PYTEST
    for process in _descendants():
        try:
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


class CpuMeter:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.modules: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])  # wall, cpu, tests
        self.start_load = os.getloadavg()
        # This process's CPU outside the tests: up to its first test (start, conftest's and the
        # plugins' imports, collection), and between tests.
        self.first_test: float | None = None
        self.in_tests = 0.0
        self.last_test_end = 0.0

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item):
        cpu, wall = cpu_seconds(), time.monotonic()
        if self.first_test is None:
            self.first_test = cpu
        yield
        end = cpu_seconds()
        entry = self.modules[item.path.relative_to(self.config.rootpath).as_posix()]
        entry[0] += time.monotonic() - wall
        entry[1] += end - cpu
        entry[2] += 1
        self.in_tests += end - cpu
        self.last_test_end = end

    def pytest_sessionfinish(self, session):
        if hasattr(self.config, "workerinput"):  # the controller adds it up
            folder = _log_folder(self.config)
            folder.mkdir(parents=True, exist_ok=True)
            first = self.first_test if self.first_test is not None else cpu_seconds()
            outside = {"start": first, "between": max(self.last_test_end - first - self.in_tests, 0.0)}
            data = {"modules": self.modules, "outside": outside}
            (folder / f"{self.config.workerinput['workerid']}.json").write_text(json.dumps(data))

    def pytest_terminal_summary(self, terminalreporter):
        if hasattr(self.config, "workerinput"):
            return
        modules: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        # This process's own total holds the workers it reaped (or their live time).
        process_cpu = cpu_seconds()
        controller_cpu = own_seconds()
        folder = _log_folder(self.config)
        files = {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}
        shutil.rmtree(folder, ignore_errors=True)
        for data in [self.modules, *(file["modules"] for file in files.values())]:
            for name, (wall, cpu, count) in data.items():
                modules[name][0] += wall
                modules[name][1] += cpu
                modules[name][2] += count
        write = terminalreporter.write_line
        write("")
        write(f"CPU per module (load average at the start {self.start_load[0]:.1f}, at the end {os.getloadavg()[0]:.1f}):")
        write(f"{'module':60} {'tests':>5} {'wall s':>8} {'CPU s':>8}")
        for name, (wall, cpu, count) in sorted(modules.items(), key=lambda kv: -kv[1][1]):
            write(f"{name:60} {count:5d} {wall:8.1f} {cpu:8.1f}")
        total = [sum(v[i] for v in modules.values()) for i in range(3)]
        write(f"{'all modules':60} {int(total[2]):5d} {total[0]:8.1f} {total[1]:8.1f}")
        write(f"every test process in all (collection and start-up included): {process_cpu:.1f} s of CPU")
        if files:
            starts = " + ".join(f"{files[w]['outside']['start']:.1f}" for w in sorted(files))
            between = sum(file["outside"]["between"] for file in files.values())
            rest = process_cpu - total[1] - controller_cpu - sum(file["outside"]["start"] for file in files.values()) - between
            write(
                f"outside the modules: the controller {controller_cpu:.1f} s; the workers' start and collection {starts} s; "
                f"between their tests {between:.1f} s; the rest (the workers' ends, the servers between tests) {rest:.1f} s"
            )
        write(f"not counted: {_BEFORE_PYTEST:.1f} s of CPU of the children this process waited for before pytest started (scripts/test.sh's setup.sh and compileall: it execs pytest)")


def _log_folder(config: pytest.Config) -> Path:
    # The run's shared temp folder's parent is per-user and stable; one folder per run by the
    # controller's pid (the workers know it as their parent).
    run = os.getpid() if not hasattr(config, "workerinput") else os.getppid()
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"fs-cpu-meter-{run}"


def pytest_configure(config: pytest.Config) -> None:
    _become_subreaper()
    config.pluginmanager.register(CpuMeter(config), "fs-cpu-meter")
