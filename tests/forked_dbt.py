"""Plain `dbt` for the dbt runs the tests make themselves, each in a process of its own forked
from one that has imported dbt already: a dbt process costs 2 to 4 s of CPU, 1.5 to 2 of them
its imports, which this pays once per test process instead of once per run.

    result = run_dbt(["build", "--vars", "x: 1"], cwd=project, env=env)   # a CompletedProcess

Each run is still a process of its own, as a user's `dbt` is: fresh dbt state (nothing runs
in the parent before the fork but the imports), the run's own working folder, environment,
argv, stdout and stderr (files), and its own exit code; what it leaves open (a DuckDB file)
is closed when it exits. What differs from `dbt ...` in a shell: dbt's modules were imported
in another folder and environment (dbt reads neither at import time: its options,
`--profiles-dir`'s default and the env_var() of a project are read when it runs; the time
zone and sys.path are set anew for each run), and every run of a test process shares one
string-hash seed, which a fork cannot change: a test that compares two dbt runs' output for
an order that could differ between processes needs a real `dbt`.

Not for fs's own dbt child (featurestore/project/dbt_runner.py): that process is the product.

The forking process (`python -m tests.forked_dbt SOCKET`) is this test process's child; it
listens on a Unix socket, takes one run at a time (a worker runs its tests one after
another), and exits when the test process does.
"""

from __future__ import annotations

import atexit
import json
import os
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


def _forking_process() -> tuple[subprocess.Popen, str]:
    global _server
    if _server is None or _server[0].poll() is not None:
        path = os.path.join(tempfile.mkdtemp(prefix="fs-forked-dbt-"), "socket")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FS_", "DBT_"))}
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
        server = subprocess.Popen([sys.executable, "-m", "tests.forked_dbt", path], env=env, cwd=os.path.dirname(path),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise AssertionError(f"the forking dbt process did not start: exit {server.wait()}")
        atexit.register(_stop, server, path)
        _server = (server, path)
    return _server


def _stop(server: subprocess.Popen, path: str) -> None:
    import shutil

    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _serve(path: str) -> None:
    """The forking process: import dbt and its DuckDB and PostgreSQL adapters, then fork a
    child per request and report its pid and exit code."""
    import dbt.adapters.duckdb  # noqa: F401  (imported here, not in each run)
    import dbt.adapters.postgres  # noqa: F401
    from dbt.cli.main import cli  # noqa: F401

    own = {p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    _SITE_PATH[:] = [p for p in sys.path[1:] if p not in own]
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    listener.settimeout(1)
    print("ready", flush=True)
    while os.getppid() == parent:  # the test process ended: so does this one
        try:
            connection, _ = listener.accept()
        except (TimeoutError, socket.timeout):
            continue
        with connection:
            connection.settimeout(None)
            message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 2)
            size = int.from_bytes(message[:8], "big")
            while len(message) < 8 + size:
                message += connection.recv(1 << 20)
            request = json.loads(message[8:])
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.close()
                _child(request, *fds)
            for fd in fds:
                os.close(fd)
            try:
                connection.sendall(f"{pid}\n".encode())
            except OSError:  # the test gave up (its timeout): the run is killed, this goes on
                pass
            _, status = os.waitpid(pid, 0)
            try:
                connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass


SKIPPED_FOLDERS = frozenset({"target", "logs", ".fs", ".spark", "__pycache__"})
"""What dbt writes, not reads: its artifacts, logs, fs's and Spark's state."""


def _newest_input(request: dict, now: float) -> float:
    """The latest modification time (s), up to `now`, of what the run may read: every file
    and folder under its working folder but dbt's output, and its profiles folder
    (`--profiles-dir`, DBT_PROFILES_DIR, ~/.dbt); symbolic links not followed (their own
    time counts). A time after `now` (a clock moved back, an archive's times) is not waited
    for: a real dbt would not wait either."""
    args, env = request["args"], request["env"]
    roots = [request["cwd"]]
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


def _child(request: dict, out: int, err: int) -> None:
    """The forked run: the request's folder, environment, argv and output, then dbt's cli;
    never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
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
        sys.path[:] = [os.getcwd(), *[p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p], *_SITE_PATH]
        try:
            if request["module"]:
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
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # as the interpreter's exit would: logging's flush of dbt's log file
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    _serve(sys.argv[1])
