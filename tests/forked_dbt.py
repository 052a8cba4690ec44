"""Plain `dbt` for the dbt runs the tests make themselves, each in a process of its own forked
from one that has imported dbt already: a dbt process costs 2 to 4 s of CPU, 1.5 to 2 of them
its imports, which this pays once per test process instead of once per run.

    result = run_dbt(["build", "--vars", "x: 1"], cwd=project, env=env)   # a CompletedProcess

Each run is still a process of its own, as a user's `dbt` is: fresh dbt state (nothing runs
in the parent before the fork but the imports and one throwaway parse, `_warm_up`, whose
generated code every run reuses; each run sets dbt's flags and logging anew), the run's own working folder, environment,
argv, stdout and stderr (files), and its own exit code; what it leaves open (a DuckDB file)
is closed when it exits. What differs from `dbt ...` in a shell: dbt's modules were imported
in another folder and environment (dbt reads neither at import time: its options,
`--profiles-dir`'s default and the env_var() of a project are read when it runs; the time
zone and sys.path are set anew for each run), and every run of a test process shares one
string-hash seed, which a fork cannot change: a test that compares two dbt runs' output for
an order that could differ between processes needs a real `dbt`.

fs's own dbt child (featurestore/project/dbt_runner.py), when fs runs in the test process,
is such a run too: fs starts tests/dbt_launcher.py (`launcher()`) in place of a new Python
(dbt_runner.PYTHON, tests/conftest.py `forked_dbt_child`), which hands this process its stdin,
stdout and stderr, argv (`-c CODE args...`), folder and environment, and exits with the run's
exit code. `fs` run as a subprocess, and a test marked `real_dbt_child`, start the real child.
What such a run does not show (a review listed them): Python's start-up variables
(PYTHONIOENCODING, PYTHONWARNINGS, PYTHONHASHSEED, PYTHONUTF8) took effect once, when the
forking process started, not per run; a run waits until its inputs are START_S old, so fs's 1 s
freshness margin around dbt's start is met only by real children; and a run is not in fs's
process group, so a terminal's Ctrl-C does not reach it. A test about any of these needs the
real child.

The forking process (`python -m tests.forked_dbt SOCKET`) is this test process's child; it
listens on a Unix socket, forks a run per request (runs may overlap: a test's own dbt while
fs's child waits for its go-ahead), and exits when the test process does.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_S = 1.2
"""How old a forked run's newest input is when dbt starts (it waits until then): a real dbt
process's imports take longer than that."""
_server: tuple[subprocess.Popen, str] | None = None
_SITE_PATH: list[str] = []
"""The forking process's sys.path without its own folder and PYTHONPATH: the interpreter's."""


def run_dbt(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float | None = None, module: str | None = None
) -> subprocess.CompletedProcess:
    """`dbt args...` in `cwd` with exactly `env`, in a forked process; its exit code and
    output (text) as subprocess.run(..., capture_output=True, text=True) gives them. With
    `module`, `python -m module args...` instead (a test helper that runs dbt's programmatic
    runner: tests/dbt_inline.py)."""
    server, path = _forking_process()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(60)
        connection.connect(path)
        request = json.dumps({"args": args, "cwd": str(cwd), "env": env, "module": module}).encode()
        socket.send_fds(connection, [len(request).to_bytes(8, "big") + request], [out.fileno(), err.fileno()])
        reply = connection.makefile("r")
        pid = int(reply.readline())
        connection.settimeout(timeout)
        try:
            code = int(reply.readline())
        except (TimeoutError, socket.timeout):
            os.kill(pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired(["dbt", *args], timeout) from None
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(["dbt", *args], code, out.read().decode(), err.read().decode())


def launcher() -> list[str]:
    """The command that runs `-c CODE args...` (what fs's dbt child runs: dbt_runner.PYTHON) in
    a process forked from this test process's forking process (tests/dbt_launcher.py)."""
    _, path = _forking_process()
    return [sys.executable, "-S", "-I", str(REPO / "tests" / "dbt_launcher.py"), path]


_SOCKET: list[str] = []
"""The forking process's socket, the same path for a process started again (launcher())."""


def _forking_process() -> tuple[subprocess.Popen, str]:
    global _server
    if _server is None or _server[0].poll() is not None:
        if not _SOCKET:
            _SOCKET.append(os.path.join(tempfile.mkdtemp(prefix="fs-forked-dbt-"), "socket"))
            atexit.register(shutil.rmtree, os.path.dirname(_SOCKET[0]), True)
        path = _SOCKET[0]
        if os.path.exists(path):
            os.unlink(path)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
        server = subprocess.Popen([sys.executable, "-m", "tests.forked_dbt", path], env=env, cwd=os.path.dirname(path),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise AssertionError(f"the forking dbt process did not start: exit {server.wait()}")
        atexit.register(_stop, server)
        _server = (server, path)
    return _server


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


def _serve(path: str) -> None:
    """The forking process: import dbt and its DuckDB and PostgreSQL adapters, then fork a
    child per request and report its pid and exit code. Runs may overlap (a test's own dbt
    while fs's child waits for its go-ahead): each is waited for through a pidfd. A run whose
    requester goes away before it ends (a launcher killed) is killed."""
    import select

    import dbt.adapters.duckdb  # noqa: F401  (imported here, not in each run)
    import dbt.adapters.postgres  # noqa: F401
    from dbt.cli.main import cli  # noqa: F401

    _warm_up()
    # What is loaded now lives in every run: frozen, a run's full collections do not walk it
    # (nor touch its pages, which a fork shares until written).
    gc.collect()
    gc.freeze()
    own = {p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    _SITE_PATH[:] = [p for p in sys.path[1:] if p not in own]
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    print("ready", flush=True)
    runs: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, the requester's connection)
    while os.getppid() == parent:  # the test process ended: so does this one
        by_connection = {connection.fileno(): pidfd for pidfd, (_, connection) in runs.items()}
        ready, _, _ = select.select([listener, *runs, *by_connection], [], [], 1)
        for fd in ready:
            if fd is listener:
                connection, _ = listener.accept()
                started = _start(listener, connection, runs)
                if started:
                    pidfd, pid = started
                    runs[pidfd] = (pid, connection)
            elif fd in runs:
                pid, connection = runs.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                with connection:
                    try:
                        connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                    except OSError:
                        pass
            elif by_connection[fd] in runs:  # the requester is gone: so is its run
                try:
                    os.kill(runs[by_connection[fd]][0], signal.SIGKILL)
                except ProcessLookupError:
                    pass


WARM_UP_FILES = {
    "dbt_project.yml": "name: warm_up\nversion: '1.0'\nprofile: warm_up\n",
    "profiles.yml": "warm_up:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: warm_up.duckdb\n",
    "models/one.sql": "select 1 as id",
    "models/one.yml": "models:\n  - name: one\n    columns:\n      - name: id\n        data_tests: [not_null, unique]\n",
}


def _warm_up() -> None:
    """One `dbt parse` of a throwaway project in the forking process, before it forks any run.
    A process's first parse generates code that its later parses reuse (mashumaro's
    (de)serialisers of dbt's classes, jinja's compiled templates: keyed by class and source,
    not by project); made here once, every forked run starts with it. A fork's parse of a tiny
    project took 1.55 s of CPU without it, 0.85-1.0 s with it (docs/testing.md).

    The parse leaves nothing a run reads: each run sets dbt's flags, logging, invocation
    context and tracking anew; what dbt keeps per process beyond those (its metadata
    variables, the adapter, the loggers) is reset below; the project's folder is gone, and
    this process's environment and folder are put back. It must leave no
    thread either, Python's or native: a fork copies only the calling thread, so a lock held by
    another (or a thread pool the fork believes it has) hangs the run. dbt's static parser of
    model SQL (dbt_extractor) starts a native thread pool on first use, hence
    `--no-static-parser` here, and the count of this process's threads checked after."""
    from dbt.cli.main import dbtRunner

    environment, folder = dict(os.environ), os.getcwd()
    project = tempfile.mkdtemp(prefix="fs-dbt-warm-up-")
    try:
        for name, text in WARM_UP_FILES.items():
            Path(project, name).parent.mkdir(parents=True, exist_ok=True)
            Path(project, name).write_text(text)
        os.chdir(project)
        os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        args = ["parse", "--project-dir", project, "--profiles-dir", project, "--quiet", "--no-static-parser"]
        result = dbtRunner().invoke(args)
        if not result.success:
            raise AssertionError(f"the forking process's warm-up parse failed: {result.exception}")
    finally:
        # What dbt keeps per process and a run would not set again (found by a review): the
        # `DBT_ENV_CUSTOM_ENV_*` it read once (a run would report the warm-up's, none), the
        # warm-up's adapter (its lock, a semaphore every fork would share: a run killed
        # holding it would hang the next), and its loggers (one on a deleted dbt.log).
        from dbt.adapters.factory import reset_adapters
        from dbt_common.events.event_manager_client import cleanup_event_logger
        from dbt_common.events.functions import reset_metadata_vars

        reset_adapters()
        reset_metadata_vars()
        cleanup_event_logger()
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        shutil.rmtree(project, ignore_errors=True)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise AssertionError(f"the warm-up parse left {threads - 1} thread(s) running: a forked run could hang on them")


def _start(listener: socket.socket, connection: socket.socket, runs: dict) -> tuple[int, int] | None:
    """Read the request on `connection`, fork its run and send the run's pid; the run's pidfd
    and pid."""
    connection.settimeout(60)
    try:
        message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
        size = int.from_bytes(message[:8], "big")
        while len(message) < 8 + size:
            message += connection.recv(1 << 20)
        request = json.loads(message[8:])
    except (OSError, ValueError):
        connection.close()
        return None
    connection.settimeout(None)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        listener.close()
        connection.close()
        for pidfd, (_, other) in runs.items():
            os.close(pidfd)
            other.close()
        _child(request, fds)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        connection.sendall(f"{pid}\n".encode())
    except OSError:  # the requester gave up (its timeout): the run is killed, this goes on
        os.kill(pid, signal.SIGKILL)
    return pidfd, pid


SKIPPED_FOLDERS = frozenset({"target", "logs", ".fs", ".spark", "__pycache__"})
"""What dbt writes, not reads: its artifacts, logs, fs's and Spark's state."""


def _newest_input(request: dict, now: float) -> float:
    """The latest modification time (s), up to `now`, of what the run may read: every file
    and folder under its working folder but dbt's output, and its profiles folder
    (`--profiles-dir`, DBT_PROFILES_DIR, ~/.dbt); symbolic links not followed (their own
    time counts). A time after `now` (a clock moved back, an archive's times) is not waited
    for: a real dbt would not wait either."""
    env = request["env"]
    roots = [request["cwd"]]
    for args in _dbt_arguments(request):
        if "--profiles-dir" in args[:-1]:
            roots.append(os.path.join(request["cwd"], args[args.index("--profiles-dir") + 1]))
    roots.append(env.get("DBT_PROFILES_DIR") or os.path.join(env.get("HOME", os.path.expanduser("~")), ".dbt"))
    newest = 0.0
    for root in roots:
        for folder, folders, files in os.walk(root):
            folders[:] = [f for f in folders if f not in SKIPPED_FOLDERS]
            for name in (".", *folders, *files):
                try:
                    mtime = os.lstat(os.path.join(folder, name)).st_mtime
                    newest = max(newest, mtime if mtime <= now else 0.0)
                except OSError:  # removed while walked
                    pass
    return newest


def _dbt_arguments(request: dict) -> list[list[str]]:
    """The dbt command lines of a request: its arguments, and for `-c` code given its dbt
    commands as JSON (fs's parse-then child, featurestore/project/dbt_runner.py), theirs."""
    found = [request["args"]]
    if request.get("code") is not None:
        for arg in request["args"]:
            try:
                commands = json.loads(arg)
            except ValueError:
                continue
            if isinstance(commands, dict):
                found += [c for c in commands.values() if isinstance(c, list)]
    return found


def _child(request: dict, fds: list[int]) -> None:
    """The forked run: the request's folder, environment, argv, stdin (/dev/null unless sent)
    and output, then dbt's cli (or the request's `python -c` code); never returns."""
    code = 1
    try:
        if len(fds) < 3:
            fds = [os.open(os.devnull, os.O_RDONLY), *fds]
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _new_standard_streams()
        # A real dbt notes its start (the manifest's invocation_started_at) after 1.5 s or more
        # of imports: a file the test wrote just before is older than fs's margin by then
        # (featurestore/project/dbt_artifacts.py MARGIN_NS, 1 s), and not taken as changed
        # during the run. A fork starts at once, so it waits until its newest input is that
        # old, without CPU; most runs' inputs are older already and it does not wait at all.
        now = time.time()
        time.sleep(min(START_S, max(0.0, _newest_input(request, now) + START_S - now)))
        # What a new process takes from its environment at start, and a fork does not: the
        # time zone, and sys.path from the folder and PYTHONPATH (the forking process's
        # path[0] is its own folder, and it has the repository on its PYTHONPATH).
        time.tzset()
        first = "" if request.get("code") is not None else os.getcwd()  # `python -c`: ""
        sys.path[:] = [first, *[p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p], *_SITE_PATH]
        try:
            if request.get("code") is not None:
                import types

                main = types.ModuleType("__main__")
                sys.modules["__main__"] = main
                sys.argv = ["-c", *request["args"]]
                exec(compile(request["code"], "<string>", "exec"), main.__dict__)
            elif request.get("module"):
                import runpy

                sys.argv = [request["module"], *request["args"]]
                runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            else:
                from dbt.cli.main import cli

                sys.argv = ["dbt", *request["args"]]
                cli.main(args=request["args"], prog_name="dbt")
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if not isinstance(exit.code, (int, type(None))):
                print(exit.code, file=sys.stderr)  # as the interpreter prints SystemExit's message
    except BaseException as error:
        import traceback

        # As the interpreter prints it: from the run's own code, without this function's frame.
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
    finally:
        try:
            atexit._run_exitfuncs()  # as the interpreter's exit would: logging's flush of dbt's log file
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _new_standard_streams() -> None:
    """sys.stdin, stdout and stderr made anew on fds 0 to 2, as a new process's are: buffered
    as the request's environment says (PYTHONUNBUFFERED: fs's streamed dbt output)."""
    import io

    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    streams = []
    for fd, mode in ((0, "rb"), (1, "wb"), (2, "wb")):
        raw = io.FileIO(fd, mode, closefd=False)
        writing = fd > 0
        buffer = raw if writing and unbuffered else (io.BufferedWriter(raw) if writing else io.BufferedReader(raw))
        old = (sys.stdin, sys.stdout, sys.stderr)[fd]
        streams.append(io.TextIOWrapper(
            buffer, encoding=old.encoding, errors=old.errors,
            line_buffering=fd == 2 or (writing and os.isatty(fd)), write_through=writing and unbuffered,
        ))
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams


if __name__ == "__main__":
    _serve(sys.argv[1])
