"""`python -S -I tests/dbt_launcher.py SOCKET -c CODE args...`: fs's dbt child in the tests, run
by the forking process of tests/forked_dbt.py instead of a new Python (which would import dbt
again, 2 s of CPU and more).

The tests put this command where fs names the Python its dbt child runs in
(featurestore/project/dbt_runner.py PYTHON; tests/conftest.py `forked_dbt_child`). It is a
process of fs's own, cheap to start (no site, only the standard library): it hands the forking
process its stdin, stdout and stderr (the very pipes fs made), its argv, working folder and
environment, waits, and exits with the run's exit code. So what fs does with its child stays
real: it reads the pipes as dbt writes them, writes to its stdin, waits for it, reads its exit
code; killing this process kills the run."""

import json
import os
import signal
import socket
import sys


def main() -> None:
    path, argv = sys.argv[1], sys.argv[2:]
    if len(argv) < 2 or argv[0] != "-c":
        sys.exit("usage: dbt_launcher.py SOCKET -c CODE [ARG...]")
    request = json.dumps({"code": argv[1], "args": argv[2:], "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:  # closed: the run has /dev/null there
            fds.append(os.open(os.devnull, os.O_RDWR))
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(path)
        socket.send_fds(connection, [len(request).to_bytes(8, "big") + request], fds)
        reply = connection.makefile("rb")
        reply.readline()  # the run's pid
        code = reply.readline()
    if not code.strip():
        sys.exit("dbt_launcher: the forking dbt process ended before the run did")
    code = int(code)
    if code < 0:  # ended by a signal: so does this process
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
