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
from featurestore.catalog.versions import DeprecationNotices
from featurestore.console import Console
from featurestore.engines.base import Warehouse, reading_views
from featurestore.engines.engine import Engine
from featurestore.sql.declared_columns import checked_view
from featurestore.store_http import STORE_SPEC_ENV, HttpServing
from featurestore.store_records import TrainingSets
from featurestore.engines.registry import engine_and_target
from featurestore.project.dbt_project import Project, load_project
from featurestore.project.manifest import load_manifest
from featurestore.project.profiles import Target

ONLINE_REQUESTS_KEPT = 256
"""Request shapes (features, entity keys, naming) whose resolution `get_online_features` keeps."""

if TYPE_CHECKING:
    from featurestore.catalog import FeatureSelection, FeatureView
    from featurestore.catalog.model import OnDemandSelection
    from featurestore.governance.check import CheckReport
    from featurestore.governance.site import SiteSummary
    from featurestore.project.dbt_runner import BuildSummary
    from featurestore.project.scaffold import ScaffoldedView
    from pathlib import Path

    from starlette.applications import Starlette

    from featurestore.online.embedded import Stopped
    from featurestore.online.push import PushSummary
    from featurestore.online.reader import OnlineFeatures, OnlineReader
    from featurestore.online.sync import SyncSummary
    from featurestore.online.verify import VerifyReport
    from featurestore.governance.diff import DiffReport


class FeatureStore(HttpServing, TrainingSets):
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
        self._manifest: dict | None = None
        self._online_readers: dict[str | None, "OnlineReader"] = {}
        self._online_requests: dict[tuple, tuple] = {}
        self._environment_redis_url: str | None = None  # $FS_REDIS_URL as an fs serve worker's parent read it

    def catalog(self) -> Catalog:
        """The feature catalog, from the manifest (parsed again first if it is stale)."""
        if self._catalog is None:
            self._read_catalog(load_manifest(self.project, self.target, self.console))
        return self._catalog

    def _read_catalog(self, manifest: dict) -> None:
        self._manifest = manifest
        self._catalog = catalog_from_manifest(manifest)
        for warning in self._catalog.warnings:  # once per catalog read, not per use
            self.console.warn(warning)
        self._deprecations = DeprecationNotices(self._catalog, self.now, self.console.warn)

    def manifest(self) -> dict:
        """dbt's manifest, as the catalog was read from it."""
        self.catalog()
        return self._manifest

    def now(self) -> datetime:
        """The current time as naive UTC, or the project's frozen clock (feature_store.yml
        `clock.now`) when it sets one. Online reads, ttl expiry and parity checks use it."""
        frozen = self.project.settings.reference_time
        return frozen or datetime.now(timezone.utc).replace(tzinfo=None)

    def clock_moves(self) -> bool:
        """False under a frozen clock (feature_store.yml `clock.now`): online keys then do not
        expire, since a value valid at that clock stays valid (online/sync.py
        validity.remaining_lifetimes_ms)."""
        return self.project.settings.reference_time is None

    def warehouse(self, read_only: bool = True) -> Warehouse:
        """A connection to the target's warehouse (close it, or use it in a `with` block)."""
        return self.engine.connect(self.target, read_only=read_only)

    def build(self, select: str | None = None) -> "BuildSummary":
        """Run `dbt build` (models and their data tests) for the target, once the feature
        metadata is valid: a view dbt builds must be one every other command can read.
        Returns what was built and tested (`.line()` says it in one line)."""
        from featurestore.project.dbt_runner import BuildSummary
        from featurestore.project.manifest import run_dbt_on_checked_manifest, run_dbt_writing_manifest

        command = ["build", *(["--select", *select.split()] if select else [])]  # "a b": both, as dbt reads it
        # dbt build writes the manifest too: recorded, so the next command need not parse again.
        if self._catalog is None:
            # A stale manifest is parsed, its catalog read (which refuses invalid metadata),
            # and built by one dbt process.
            run_dbt_on_checked_manifest(
                self.project, command, self.target, self.console, self._read_catalog, stream=self.console.verbose
            )
        else:
            run_dbt_writing_manifest(self.project, command, self.target, self.console, stream=self.console.verbose)
        self._catalog = None
        summary = BuildSummary.read(self.project, self.target.name)
        # dbt does not hold a model's SQL to its YAML: the views just built are, here, so a
        # column the SQL lacks or a wrong data_type is said now, not by the next command.
        built = [view for view in self.catalog() if view.name in summary.built]
        if built and self.engine.runs_queries:
            with self.warehouse() as warehouse:
                for view in built:
                    with reading_views([view], warehouse):
                        checked_view(view, warehouse)
        return summary

    def described_view(self, name: str) -> "FeatureView":
        """The view `name`, each feature with the warehouse's type where the YAML declares
        none (and its declared types checked), once its relation is built; else as declared.
        The warehouse is opened only for a view with a feature of no declared type."""
        from featurestore.errors import WarehouseError

        view = self.catalog().view(name)
        if not self.engine.runs_queries or all(f.dtype for f in view.features):
            return view
        try:
            with self.warehouse() as warehouse:
                return checked_view(view, warehouse)
        except WarehouseError:
            return view  # not built, or the file is locked: the YAML is all there is to show

    def new_view(
        self, model: str, entity: str, join_keys: Sequence[str] = (), timestamp: str | None = None, out: "str | os.PathLike | None" = None
    ) -> "ScaffoldedView":
        """Write the YAML of a feature view over `model`, a built model with no YAML entry yet:
        its columns and types as the warehouse holds them, the meta, and the uniqueness test
        (featurestore/project/scaffold.py). Refuses to touch an existing entry or file."""
        from dataclasses import replace
        from pathlib import Path

        from featurestore.catalog.from_manifest import entity_keys_refusal
        from featurestore.catalog.model import Relation
        from featurestore.errors import RelationNotBuilt, UsageError
        from featurestore.project import scaffold
        from featurestore.sql.expressions import render
        from featurestore.sql.information_schema import column_types_query

        manifest = load_manifest(self.project, self.target, self.console)
        node = scaffold.model_node(manifest, model, self.project.name)
        path = scaffold.yaml_path(node, self.project.root, Path(out) if out is not None else None)
        relation = Relation(node.get("database"), node["schema"], node.get("alias") or node["name"])
        query = render(column_types_query(self.engine.stored_relation(relation)), self.engine.dialect)
        # information_schema: the types as the warehouse declares them (Spark has none: there
        # the query fails with the warehouse's one line).
        with self.warehouse() as warehouse:
            columns = [(str(name), str(kind)) for name, kind in warehouse.fetch_all(query)]
        if not columns:
            raise RelationNotBuilt(
                str(relation), f"model '{model}' has no table in target '{self.target.name}' ({relation}): "
                f"build it first (dbt run --select {model})"
            )
        # The catalog's rule on an entity's join keys, said before the file is written, with
        # advice the model's columns can follow.
        keys = scaffold.default_join_keys(entity, join_keys)
        refusal = entity_keys_refusal(manifest, entity, keys, [name for name, _ in columns])
        if refusal is not None:
            raise UsageError(f"model '{model}': {refusal}")
        text, view = scaffold.scaffold_text(node, columns, entity, join_keys, timestamp)
        scaffold.write_new(path, text)
        return replace(view, path=path)

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
        from featurestore.project.records_index import read_index, training_sets_by_view

        dbt_site = self.dbt_docs() if dbt else self.project.manifest_path.parent / "static_index.html"
        inputs = read_site_inputs(self.catalog(), self.warehouse, self.target, self.project.name, self.now(), self.console)
        # An older static dbt site is linked too: it is the same project's, if not the newest.
        inputs.dbt_docs = dbt_site if dbt_site.exists() else None
        inputs.training_sets = training_sets_by_view(read_index(self.project.root))
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

    # -- monitoring ----------------------------------------------------------------------------
    def check(self, views: Sequence[str] | None = None, record: bool = True) -> "CheckReport":
        """Check the freshness, volume, nulls and drift of every view (or those named) at
        `now()`, one warehouse query per view, and append the results to the target schema's
        `fs_check_history` table unless `record` is false. `.status` is ok, warn or fail;
        `.findings` the results that are not ok. See docs/monitoring.md.

        >>> FeatureStore(project_dir=".").check().status   # doctest: +SKIP
        'ok'
        """
        from featurestore.governance.check import run_checks

        from featurestore.governance.stale_models import stale_model_results

        report = run_checks(self.catalog(), self.warehouse, self.console, self.now, view_names=views, record=record)
        report.results.extend(stale_model_results(self.catalog(), views, self._spine_columns))
        return report

    def _spine_columns(self, model: str) -> "tuple[str, ...] | None":
        """The columns of the spine model `model` as built in the warehouse; None when it
        cannot be read (not built yet: a generated model over it is not built either)."""
        from featurestore.errors import FeatureStoreError
        from featurestore.offline.request import SpineInput
        from featurestore.offline.spine import read_spine

        try:
            with self.warehouse() as warehouse:
                return read_spine(SpineInput(relation=model), self.catalog(), self.engine, warehouse).columns
        except FeatureStoreError:
            return None

    # -- governance ----------------------------------------------------------------------------
    def diff(self, state: "str | os.PathLike") -> "DiffReport":
        """What changed between the deployed version (`state`: the folder holding its
        manifest.json, as dbt's --state, or the file) and the project now, for every feature
        view and service, and whether it breaks (docs/governance.md).

        >>> report = FeatureStore(project_dir=".").diff("prod-target/")   # doctest: +SKIP
        >>> report.breaking_services                                       # doctest: +SKIP
        ['flight_delay_model']
        """
        from pathlib import Path

        from featurestore.governance.diff import diff_manifests
        from featurestore.governance.state import read_deployed_manifest

        # The deployed manifest first: a bad path fails before any dbt parse of the project.
        path, deployed = read_deployed_manifest(Path(state))
        current = load_manifest(self.project, self.target, self.console)
        return diff_manifests(current, deployed, str(path))

    # -- the online store (Redis) ------------------------------------------------------------
    def sync(
        self, full: bool = False, views: Sequence[str] | None = None, redis_url: str | None = None, lock_wait: float | None = None
    ) -> "SyncSummary":
        """Copy the latest value of each entity of each online view to Redis.

        Incremental unless `full` (rows written since the view's watermark); `views` limits it
        to some views; `redis_url` overrides FS_REDIS_URL and feature_store.yml. A view that
        fails (not built, a type Redis cannot hold) does not stop the others: they are synced,
        and then SyncIncomplete says which failed (its `summary` is what was done). See
        docs/online-store.md. Waits in line up to `lock_wait` seconds (default 30) for
        pushes holding the project's lock; a running sync it does not wait for.

        >>> FeatureStore(project_dir=".").sync().to_dict()["keys_written"]   # doctest: +SKIP
        4231
        """
        from featurestore.online.connection import locate
        from featurestore.online.sync import LOCK_WAIT_SECONDS, run_sync

        catalog = self.catalog()  # an invalid project is refused before a redis-server is started
        location = locate(self.project, redis_url, self._environment_redis_url)
        wait = LOCK_WAIT_SECONDS if lock_wait is None else lock_wait
        online = catalog.online_views(views)
        with self.lineage().run(self.lineage_job("sync", online)) as job:
            job.outputs = self.redis_datasets(location, [view.name for view in online])
            summary = run_sync(
                catalog, self.warehouse, location, self.console, self.now,
                full=full, view_names=views, lock_wait=wait, clock_moves=self.clock_moves(),
            )
            summary.raise_if_failed()
        return summary

    def push(self, view: str, rows: Any, redis_url: str | None = None, lock_wait: float | None = None) -> "PushSummary":
        """Write `rows` into the online view `view` at once, by the rules of a sync, and append
        them to the view's landing table `<view>__fs_pushed` for the next `dbt build`.

        `rows`: a pandas or polars DataFrame, a pyarrow Table or RecordBatch, a list of dicts,
        a dict of columns (name -> list of values; timestamps, dates and decimals may be
        ISO-8601 or decimal text, as JSON gives them), or a .parquet/.csv path; with the view's
        join keys, timestamp and every feature (created_at defaults to `now()`). Bad rows raise UsageError and nothing is written; a
        row older than the one Redis holds for its entity is skipped and counted
        (`skipped_older`). Waits up to `lock_wait` seconds (default 30) for a running sync.
        See docs/online-store.md.

        >>> store.push("carrier_daily", frame).keys_written   # doctest: +SKIP
        1
        """
        from pathlib import Path

        from featurestore.governance.lineage_events import file_dataset
        from featurestore.online.connection import locate
        from featurestore.online.push import LOCK_WAIT_SECONDS, run_push

        online_view = self.catalog().online_views([view])[0]  # before a redis-server is started
        location = locate(self.project, redis_url, self._environment_redis_url)
        wait = LOCK_WAIT_SECONDS if lock_wait is None else lock_wait
        with self.lineage().run(self.lineage_job(f"push.{view}")) as job:
            job.inputs = [file_dataset(Path(rows))] if isinstance(rows, (str, os.PathLike)) else []
            job.outputs = self.redis_datasets(location, [view])
            return run_push(online_view, rows, self.warehouse, location, self.now(), wait, clock_moves=self.clock_moves())

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
        expired. One server call for all rows and views. On-demand features (group:feature)
        are computed here from the values read and the row's request fields (given in the
        entity row beside the join keys), after the view features.

        Features are named view:feature; `bare_names=True` names them as a training set's
        columns (`origin__temp_f`), `full_names=True` as view__feature, so a model trained on
        one reads the other. `.never_synced` lists the views this Redis has never had a sync of.

        >>> store.get_online_features([{"carrier": "UA"}], ["carrier_daily:*"]).to_dict()  # doctest: +SKIP
        """
        selections, on_demand, names = self._online_request(features, entity_rows, bare_names or full_names, full_names)
        reader, now = self._online_reader(redis_url), self.now()
        if on_demand.features:
            from featurestore.online.on_demand import read_with_on_demand

            found = read_with_on_demand(lambda joined: reader.read(joined, entity_rows, now), selections, on_demand, entity_rows)
        else:
            found = reader.read(selections, entity_rows, now)
        return found.renamed(names) if names is not None else found

    def _online_request(
        self, features: Sequence[str], entity_rows: Sequence[dict[str, Any]], renamed: bool, full_names: bool
    ) -> tuple[list["FeatureSelection"], "OnDemandSelection", list[str] | None]:
        """The selections of `features` and, when `renamed`, the features' names; remembered
        per request shape, since a service asks the same again and again and a one-entity
        read takes only a few times what resolving the names does."""
        keys = tuple(dict.fromkeys(key for row in entity_rows for key in row)) if renamed else ()
        shape = (tuple(features), keys, renamed, full_names)
        catalog = self.catalog()
        known = self._online_requests.get(shape)
        if known is None or known[0] is not catalog:
            from featurestore.online.reader import column_names

            selections, on_demand = catalog.resolve_all(features)
            catalog.refuse_offline(on_demand.joined(selections))
            self._deprecations.of(on_demand.joined(selections), "this online read")
            # Named before reading: a clash is the caller's to fix whatever Redis holds.
            names = column_names(selections, [dict.fromkeys(keys)], full_names, on_demand.features) if renamed else None
            if len(self._online_requests) >= ONLINE_REQUESTS_KEPT:
                self._online_requests.clear()
            known = self._online_requests[shape] = (catalog, selections, on_demand, names)
        return known[1], known[2], known[3]

    def ping_online(self, redis_url: str | None = None) -> None:
        """Raise OnlineStoreError unless the online store (Redis) answers a PING."""
        self._online_reader(redis_url).ping()

    def unsynced_online_views(self, redis_url: str | None = None) -> list[str]:
        """The online views of which Redis holds no published sync (a Redis restarted empty,
        or never synced); raises OnlineStoreError unless Redis answers."""
        from featurestore.online.state import unpublished_views

        reader = self._online_reader(redis_url)
        return unpublished_views(reader.client, reader.location, [view.name for view in self.catalog().online_views()])

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
            from featurestore.online.cluster_reader import online_reader
            from featurestore.online.connection import locate, open_client

            location = locate(self.project, redis_url, self._environment_redis_url)
            self._online_readers[redis_url] = online_reader(open_client(location, retries=1), location)
        return self._online_readers[redis_url]


def worker_app() -> "Starlette":
    """The app of one `fs serve --workers N` process (uvicorn's factory): a FeatureStore of
    its own, opened as the parent process described it in the file FS_SERVE_STORE names."""
    from featurestore.serve.run import read_worker_spec

    spec, policy, limits = read_worker_spec(os.environ[STORE_SPEC_ENV])
    store = FeatureStore(spec["project_dir"], spec["profiles_dir"], spec["target"])
    # The URL keeps its origin: a worker's 503 names FS_REDIS_URL as the parent's would.
    store._environment_redis_url = spec.get("environment_redis_url")
    store.catalog()  # read at start-up, not by the first request
    return store.feature_server(spec["redis_url"], policy=policy, limits=limits)
