"""`FeatureStore`: the one object that fronts the feature store for Python and the CLI.

It builds the pieces (project, engine and target, catalog, console) and each public method
runs one use case, so the CLI stays a thin layer of option parsing.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from featurestore.catalog import Catalog
from featurestore.catalog.from_manifest import catalog_from_manifest
from featurestore.console import Console
from featurestore.engines.base import Engine, Warehouse
from featurestore.engines.registry import engine_and_target, engine_for_dialect
from featurestore.project.dbt_project import Project, load_project
from featurestore.project.manifest import load_manifest
from featurestore.project.profiles import Target

if TYPE_CHECKING:
    from featurestore.governance.site import SiteSummary
    from featurestore.offline.training_set import TrainingSet
    from featurestore.project.dbt_runner import BuildSummary
    from pathlib import Path

    from featurestore.online.embedded import Stopped
    from featurestore.online.reader import OnlineFeatures, OnlineReader
    from featurestore.online.sync import SyncSummary
    from featurestore.online.verify import VerifyReport


class FeatureStore:
    """A dbt project seen as a feature store.

    >>> store = FeatureStore(project_dir=".")          # doctest: +SKIP
    >>> [view.name for view in store.catalog()]        # doctest: +SKIP
    ['carrier_daily', 'plane_daily', 'route_daily', 'weather_hourly']
    """

    def __init__(
        self,
        project_dir: str | os.PathLike | None = None,
        profiles_dir: str | os.PathLike | None = None,
        target: str | None = None,
        console: Console | None = None,
    ):
        self.project: Project = load_project(project_dir, profiles_dir)
        self.engine: Engine
        self.target: Target
        self.engine, self.target = engine_and_target(self.project, target)
        self.console = console or Console(verbose=False)
        self._catalog: Catalog | None = None
        self._online_readers: dict[str | None, "OnlineReader"] = {}

    def catalog(self) -> Catalog:
        """The feature catalog, from the manifest (parsed again first if it is stale)."""
        if self._catalog is None:
            self._catalog = catalog_from_manifest(load_manifest(self.project, self.target, self.console))
            for warning in self._catalog.warnings:  # once per catalog read, not per use
                self.console.warn(warning)
        return self._catalog

    def now(self) -> datetime:
        """The current time as naive UTC, or the project's frozen clock (feature_store.yml
        `clock.now`) when it sets one. Online reads, ttl expiry and parity checks use it."""
        frozen = self.project.settings.reference_time
        return frozen or datetime.now(timezone.utc).replace(tzinfo=None)

    def warehouse(self, read_only: bool = True) -> Warehouse:
        """A connection to the target's warehouse (close it, or use it in a `with` block)."""
        return self.engine.connect(self.target, read_only=read_only)

    # -- training sets -----------------------------------------------------------------------
    def training_set(self, spine: Any = None, features: Sequence[str] = (), **options: Any) -> "TrainingSet":
        """A point-in-time-correct training set: every spine row, in order, with each
        feature as it was known at the row's timestamp.

        `spine` is a parquet/CSV path, a dbt model or relation name, or a pandas/polars/Arrow
        frame; `features` holds `view:feature`, `view:*` or feature service names. Options
        (featurestore.offline.request.TrainingSetRequest.of): `spine_sql`,
        `timestamp_column` (default event_timestamp), `full_names`, `as_of` (knowledge or
        event-time), `output` (.parquet/.csv) or `output_table`; without an output the result
        holds the rows (`.to_pandas()`, `.to_arrow()`).

        >>> store = FeatureStore(project_dir=".")                              # doctest: +SKIP
        >>> frame = store.training_set("flight_delay_labels", ["flight_delay_model"]).to_pandas()  # doctest: +SKIP
        """
        from featurestore.offline.request import TrainingSetRequest
        from featurestore.offline.training_set import run_training_set

        request = TrainingSetRequest.of(spine, features, **options)
        catalog = self.catalog()
        with self.warehouse(read_only=request.output_table is None) as warehouse:
            return run_training_set(request, catalog, warehouse, self.console)

    def training_set_sql(
        self, spine: Any = None, features: Sequence[str] = (), dialect: str | None = None, **options: Any
    ) -> str:
        """The training-set query as SQL text for `dialect` (default: the target's); the
        options are those of `training_set`. Relation names are the current target's."""
        from contextlib import nullcontext

        from featurestore.offline.plan import plan_training_set
        from featurestore.offline.request import TrainingSetRequest
        from featurestore.offline.spine import read_spine

        engine = engine_for_dialect(dialect) if dialect else self.engine
        request = TrainingSetRequest.of(spine, features, **options)
        catalog = self.catalog()
        selections = catalog.resolve(request.features)
        # Printing SQL needs the warehouse only to read a table or query spine's columns; a
        # file spine is read locally, so SQL for any dialect can be printed from any target.
        opened = self.warehouse() if self.engine.runs_queries else nullcontext(None)
        with opened as warehouse:
            usable = warehouse if engine is self.engine or request.spine.path is None else None
            spine = read_spine(request.spine, catalog, engine, usable)
        return plan_training_set(request, selections, spine, engine).sql(pretty=True)

    def build(self, select: str | None = None) -> "BuildSummary":
        """Run `dbt build` (models and their data tests) for the target, once the feature
        metadata is valid: a view dbt builds must be one every other command can read.
        Returns what was built and tested (`.line()` says it in one line)."""
        from featurestore.project.dbt_runner import BuildSummary
        from featurestore.project.manifest import run_dbt_writing_manifest

        self.catalog()
        command = ["build", *(["--select", select] if select else [])]
        # dbt build writes the manifest too: recorded, so the next command need not parse again.
        run_dbt_writing_manifest(self.project, command, self.target, self.console, stream=self.console.verbose)
        self._catalog = None
        return BuildSummary.read(self.project, self.target.name)

    def docs(self, out: "str | os.PathLike | None" = None, dbt: bool = False) -> "SiteSummary":
        """Write the feature site (featurestore/governance/site.py) into `out` (default:
        the target folder's `fs-docs/`): the catalog with search, a page per view with its
        freshness, lineage and each feature's null rate and distribution, a page per feature
        service and the fs check history. `dbt=True` first writes dbt's own site as one
        static page (`dbt docs generate --static`), which the feature site links to.

        >>> FeatureStore(project_dir=".").docs().index                # doctest: +SKIP
        PosixPath('.../target/fs-docs/index.html')
        """
        from pathlib import Path

        from featurestore.governance.site import read_site_inputs, write_site

        dbt_site = self.dbt_docs() if dbt else self.project.manifest_path.parent / "static_index.html"
        inputs = read_site_inputs(self.catalog(), self.warehouse, self.target, self.project.name, self.now(), self.console)
        # An older static dbt site is linked too: it is the same project's, if not the newest.
        inputs.dbt_docs = dbt_site if dbt_site.exists() else None
        return write_site(inputs, Path(out) if out is not None else self.project.manifest_path.parent / "fs-docs")

    def dbt_docs(self) -> "Path":
        """Run `dbt docs generate --static` for the target with the project's profiles: dbt's
        site as one page that opens from disk (static_index.html beside the manifest)."""
        from featurestore.project.manifest import run_dbt_writing_manifest

        # dbt docs generate writes the manifest too: recorded, as after fs build.
        command = ["docs", "generate", "--static"]
        run_dbt_writing_manifest(self.project, command, self.target, self.console, stream=self.console.verbose)
        self._catalog = None
        return self.project.manifest_path.parent / "static_index.html"

    # -- the online store (Redis) ------------------------------------------------------------
    def sync(self, full: bool = False, views: Sequence[str] | None = None, redis_url: str | None = None) -> "SyncSummary":
        """Copy the latest value of each entity of each online view to Redis.

        Incremental unless `full` (rows written since the view's watermark); `views` limits it
        to some views; `redis_url` overrides FS_REDIS_URL and feature_store.yml. A view that
        fails (not built, a type Redis cannot hold) does not stop the others: they are synced,
        and then SyncIncomplete says which failed (its `summary` is what was done). See
        docs/online-store.md.

        >>> FeatureStore(project_dir=".").sync().to_dict()["keys_written"]   # doctest: +SKIP
        4231
        """
        from featurestore.online.connection import locate
        from featurestore.online.sync import run_sync

        location = locate(self.project, redis_url)
        summary = run_sync(self.catalog(), self.warehouse, location, self.console, self.now, full=full, view_names=views)
        summary.raise_if_failed()
        return summary

    def get_online_features(
        self,
        entity_rows: Sequence[dict[str, Any]],
        features: Sequence[str],
        redis_url: str | None = None,
        bare_names: bool = False,
        full_names: bool = False,
    ) -> "OnlineFeatures":
        """The latest values of `features` (view:feature, view:* or feature services) for each
        entity row (a mapping of join key -> value), each with a status: present, missing or
        expired. One server call for all rows and views.

        Features are named view:feature; `bare_names=True` names them as a training set's
        columns (`origin__temp_f`), `full_names=True` as view__feature, so a model trained on
        one reads the other. `.never_synced` lists the views this Redis has never had a sync of.

        >>> store.get_online_features([{"carrier": "UA"}], ["carrier_daily:*"]).to_dict()  # doctest: +SKIP
        """
        from featurestore.online.reader import column_names

        selections = self.catalog().resolve(features)
        # Named before reading: a clash is the caller's to fix whatever Redis holds.
        names = column_names(selections, entity_rows, full_names) if bare_names or full_names else None
        found = self._online_reader(redis_url).read(selections, entity_rows, self.now())
        return found.renamed(names) if names is not None else found

    def stop_online_server(self) -> "Stopped":
        """Stop the Redis server fs started for the project (on .fs/redis.sock), if it runs."""
        from featurestore.online.embedded import stop_server

        return stop_server(self.project.root)

    def verify_online(self, sample: int | None = None, redis_url: str | None = None) -> "VerifyReport":
        """Compare Redis with the warehouse's latest values at `now()` (ttl applied), for every
        entity or a random `sample` per view; the report lists each mismatch."""
        from featurestore.online.verify import verify_views

        return verify_views(self.catalog(), self.warehouse, self._online_reader(redis_url), self.now, sample)

    def _online_reader(self, redis_url: str | None) -> "OnlineReader":
        """One reader, with its connection pool, per Redis URL for the life of the store."""
        if redis_url not in self._online_readers:
            from featurestore.online.connection import locate, open_client
            from featurestore.online.reader import OnlineReader

            location = locate(self.project, redis_url)
            self._online_readers[redis_url] = OnlineReader(open_client(location, retries=1), location)
        return self._online_readers[redis_url]
