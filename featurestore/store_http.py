"""The HTTP feature server's side of `FeatureStore` (`fs serve`): the ASGI app over the store's
online reads and pushes, and running it in one or more worker processes. A mixin, so that
FeatureStore keeps one method per use case without store.py holding the server's wiring."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from featurestore.errors import OnlineStoreError

if TYPE_CHECKING:
    from starlette.applications import Starlette

STORE_SPEC_ENV = "FS_SERVE_STORE"
"""The path of the private file that tells each `serve` worker which project, target and
Redis to open, and its access policy (featurestore.serve.run.worker_spec)."""



class HttpServing:
    """`feature_server` and `serve`, for FeatureStore (which provides catalog, ping_online,
    get_online_features, unsynced_online_views, push, console, project and target)."""

    def feature_server(
        self, redis_url: str | None = None, push_lock_wait: float | None = None, policy: Any = None, limits: Any = None
    ) -> "Starlette":
        """An ASGI app answering Feast-shaped `POST /get-online-features` requests through
        `get_online_features` and `POST /push` through `push` (waiting up to `push_lock_wait`
        seconds, default 30, for a running sync), with `GET /health` and `GET /openapi.json`
        (featurestore.serve); mount it in your own ASGI server, or let `serve` run it. Who may
        ask (`policy`, a featurestore.serve.guard.AccessPolicy) and how much (`limits`, a
        featurestore.serve.limits.RequestLimits) default to the environment's (docs/serving.md).

        >>> import uvicorn; uvicorn.run(FeatureStore(project_dir=".").feature_server(), port=6566)  # doctest: +SKIP
        """
        from functools import partial

        from featurestore.serve.app import feature_server

        return feature_server(
            partial(self.get_online_features, redis_url=redis_url),
            partial(self.unsynced_online_views, redis_url),
            partial(self.push, redis_url=redis_url, lock_wait=push_lock_wait),
            policy,
            limits,
        )

    def _worker_settings(self, redis_url: str | None) -> dict:
        """What an `fs serve` worker opens (featurestore.store.worker_app): the project, the
        target, and the Redis URL with where it came from (--redis-url or $FS_REDIS_URL, which
        the worker's environment does not hold)."""
        return {
            "project_dir": str(self.project.root), "profiles_dir": str(self.project.profiles_dir), "target": self.target.name,
            "redis_url": redis_url, "environment_redis_url": self._environment_redis_url or os.environ.get("FS_REDIS_URL"),
        }

    def serve(self, host: str = "127.0.0.1", port: int = 6566, workers: int = 1, redis_url: str | None = None) -> None:
        """Run the feature server until interrupted: `workers` processes, each with its own
        FeatureStore and Redis connections, on one listening socket (uvicorn)."""
        from featurestore.serve.guard import AccessPolicy
        from featurestore.serve.limits import RequestLimits
        from featurestore.serve.run import run_server, worker_spec

        policy, limits = AccessPolicy.from_environment(host), RequestLimits.from_environment()
        self.catalog()  # a project error stops here, in one line, before any worker starts
        try:
            self.ping_online(redis_url)
        except OnlineStoreError as error:
            # Serve anyway: Redis may come up after the server; /health says 503 until then.
            self.console.warn(f"{error}; serving anyway, GET /health answers 503 until Redis is up")
        if workers == 1:
            run_server(self.feature_server(redis_url, policy=policy, limits=limits), host, port, workers, self.console, policy)
            return
        # More workers are processes that each open the project again, told how by a private file.
        with worker_spec(self._worker_settings(redis_url), policy, limits) as path:
            os.environ[STORE_SPEC_ENV] = str(path)
            run_server("featurestore.store:worker_app", host, port, workers, self.console, policy)
