"""Running the feature server: uvicorn, one process or several, and how the workers learn
their settings without a secret in an environment or on a command line.

`fs serve --workers N` starts N processes that each import the app factory and open the
project again. They learn which project, target and Redis, and the access policy (its token
included), from a JSON file written by the parent in a private directory (0700, the file
0600) and removed when the server stops; only the file's path is in their environment. The
parent also removes the token and the Redis URL from its own environment before the
workers start, so `/proc/<pid>/environ` of a worker holds neither.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from featurestore.errors import UsageError
from featurestore.serve.app import require_serve_extra
from featurestore.serve.guard import TOKEN_ENV, AccessPolicy
from featurestore.serve.limits import RequestLimits

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from featurestore.console import Console

log = logging.getLogger("featurestore.serve")

SECRET_ENV = (TOKEN_ENV, "FS_REDIS_URL")
"""What the parent removes from its environment before starting workers (they read the spec)."""


@contextlib.contextmanager
def worker_spec(spec: dict[str, Any], policy: AccessPolicy, limits: RequestLimits) -> Iterator[Path]:
    """A private file holding `spec` with the policy and limits, for the workers; removed
    (with its directory) when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="fs-serve-"))  # mode 0700
    try:
        path = folder / "spec.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        document = {
            **spec,
            "policy": {
                "token": policy.token.decode() if policy.token else None,
                "reads_need_token": policy.reads_need_token,
                "allowed_origins": sorted(policy.allowed_origins),
                "allowed_hosts": sorted(policy.allowed_hosts) if policy.allowed_hosts is not None else None,
            },
            "limits": {"max_bytes": limits.max_bytes, "max_entities": limits.max_entities, "body_seconds": limits.body_seconds},
        }
        with os.fdopen(descriptor, "w") as out:
            json.dump(document, out)
        for name in SECRET_ENV:
            os.environ.pop(name, None)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_worker_spec(path: str) -> tuple[dict[str, Any], AccessPolicy, RequestLimits]:
    """The spec `worker_spec` wrote: the store's settings, the policy and the limits."""
    document = json.loads(Path(path).read_text())
    policy = document.pop("policy")
    hosts = policy["allowed_hosts"]
    return (
        document,
        AccessPolicy(
            token=policy["token"].encode() if policy["token"] else None,
            reads_need_token=policy["reads_need_token"],
            allowed_origins=frozenset(policy["allowed_origins"]),
            allowed_hosts=frozenset(hosts) if hosts is not None else None,
        ),
        RequestLimits(**document.pop("limits")),
    )


def run_server(app: "Starlette | str", host: str, port: int, workers: int, console: "Console", policy: AccessPolicy) -> None:
    """Serve `app` (an app, or with several workers the import path of a factory that makes
    one in each worker process) with uvicorn until interrupted."""
    require_serve_extra()
    import uvicorn
    import uvicorn.config

    if workers < 1:
        raise UsageError(f"--workers {workers}: give 1 or more")
    # uvicorn says a taken port in a logged traceback; say it in one line first.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UsageError(f"cannot listen on {host}:{port}: {error.strerror} (choose another with --port or --host)") from error
    logging_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging_config["loggers"][log.name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    console.print(
        f"serving online features on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}): "
        "POST /get-online-features, POST /push, GET /health, GET /openapi.json; Ctrl-C stops"
    )
    if policy.token is None:
        console.warn("no token is configured, so POST /push answers 403: set FS_SERVE_TOKEN_FILE or FS_SERVE_TOKEN (docs/serving.md)")
    if policy.allowed_hosts is None and host not in ("127.0.0.1", "::1", "localhost"):
        console.warn(f"listening on {host} in plain HTTP: put TLS in front of it (docs/serving.md, \"Who may ask\")")
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(app, str),
        # Each request is logged by nothing but errors: an access log line costs about as
        # much as the read itself.
        access_log=False,
        log_level="warning",
        log_config=logging_config,
        # A service's clients keep their connections open between requests.
        timeout_keep_alive=30,
    )
