"""`FeatureStore`'s training sets with their records (offline/record.py) and reproduction
(offline/reproduce.py), and the OpenLineage runs of training sets, syncs and pushes
(governance/lineage_events.py). A mixin, so that store.py keeps one method per use case
without holding the wiring of records and lineage."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from featurestore.catalog import Catalog
    from featurestore.governance.lineage_events import Dataset, LineageJob
    from featurestore.offline.as_model import GeneratedModel
    from featurestore.offline.record import RecordContext
    from featurestore.offline.reproduce import Reproduction
    from featurestore.offline.request import TrainingSetRequest
    from featurestore.offline.training_set import TrainingSet


class TrainingSets:
    """`training_set`, `training_set_sql`, `training_set_model`, `reproduce_training_set` and lineage, for
    FeatureStore (which provides catalog, manifest, warehouse, engine, target, project and
    console)."""

    def training_set(self, spine: Any = None, features: Sequence[str] = (), **options: Any) -> "TrainingSet":
        """A point-in-time-correct training set: every spine row, in order, with each
        feature as it was known at the row's timestamp, and its record (`.record`: what made
        it and a content hash of what it holds, written beside a file output or in
        .fs/records/; docs/reproducibility.md).

        `spine` is a parquet/CSV path, a dbt model or relation name, or a pandas/polars/Arrow
        frame; `features` holds `view:feature`, `view:*` or feature service names. Options
        (featurestore.offline.request.TrainingSetRequest.of): `spine_sql`,
        `timestamp_column` (default event_timestamp), `full_names`, `as_of` (knowledge or
        event-time), `output` (.parquet/.csv) or `output_table`; without an output the result
        holds the rows (`.to_pandas()`, `.to_arrow()`).

        >>> store = FeatureStore(project_dir=".")                              # doctest: +SKIP
        >>> frame = store.training_set("flight_delay_labels", ["flight_delay_model"]).to_pandas()  # doctest: +SKIP
        """
        from featurestore.catalog.versions import read_selections
        from featurestore.offline.request import TrainingSetRequest
        from featurestore.offline.training_set import run_training_set

        request = TrainingSetRequest.of(spine, features, **options)
        catalog = self.catalog()
        self._deprecations.of(read_selections(catalog, request.features), "this training set")
        job = self._training_set_job(request, catalog)
        job.outputs = self._training_set_outputs(request, catalog, None)  # START names them too
        with self.lineage().run(job):
            with self.warehouse(read_only=request.output_table is None) as warehouse:
                result = run_training_set(request, catalog, warehouse, self.console, self._record_context())
            job.sql = result.record["sql"]
            job.outputs = self._training_set_outputs(request, catalog, result.summary.rows)
        return result

    def reproduce_training_set(self, record: "str | Path", spine: Any = None) -> "Reproduction":
        """Run the training set a record describes again (into a scratch output, removed
        after) and compare: `.identical`, `.changes` (a model's checksum, the spine, the
        data, fs's version) and `.exit_code` (docs/reproducibility.md). `record` is a record
        file, or a table output's name (`table:T`, or `T` when no such file exists) whose
        record is read from the warehouse. `spine` gives the frame again when the recorded
        spine was one.

        >>> FeatureStore(project_dir=".").reproduce_training_set("train.parquet.record.json").identical  # doctest: +SKIP
        True
        """
        import tempfile

        from featurestore.offline.record import read_record
        from featurestore.offline.record_table import read_record_table, record_source
        from featurestore.offline.reproduce import compare_records, drop_scratch_table, reproduction_request
        from featurestore.offline.training_set import run_training_set

        given = str(record)
        table, path = record_source(given)
        recorded = read_record(path) if path is not None else None
        catalog = self.catalog()
        # A table's record always has a table output, whose scratch table needs writing.
        read_only = recorded is not None and recorded["request"].get("output_table") is None
        with tempfile.TemporaryDirectory(prefix="fs-reproduce-") as scratch, self.warehouse(read_only=read_only) as warehouse:
            if recorded is None:
                recorded = read_record_table(given, table, warehouse)
            request = reproduction_request(recorded, Path(scratch), spine)
            try:
                result = run_training_set(request, catalog, warehouse, self.console, self._record_context(), write=False)
            finally:
                drop_scratch_table(request, warehouse)
        return compare_records(given, recorded, result.record)

    def training_set_sql(
        self, spine: Any = None, features: Sequence[str] = (), dialect: str | None = None, **options: Any
    ) -> str:
        """The training-set query as SQL text for `dialect` (default: the target's); the
        options are those of `training_set`. Relation names are the current target's."""
        from featurestore.engines.registry import engine_for_dialect
        from featurestore.offline.plan import plan_training_set
        from featurestore.offline.request import TrainingSetRequest
        from featurestore.offline.spine import read_spine
        from featurestore.offline.training_set import probe_views

        engine = engine_for_dialect(dialect) if dialect else self.engine
        request = TrainingSetRequest.of(spine, features, **options)
        catalog = self.catalog()
        selections, on_demand = catalog.resolve_all(request.features)
        # Printing SQL needs the warehouse only to read a table or query spine's columns; a
        # file spine is read locally, so SQL for any dialect can be printed from any target.
        opened = self.warehouse() if self.engine.runs_queries else nullcontext(None)
        with opened as warehouse:
            usable = warehouse if engine is self.engine or request.spine.path is None else None
            spine = read_spine(request.spine, catalog, engine, usable)
            # The query the target would run: its views' indexes choose their joins there too.
            indexes = probe_views(selections, on_demand, engine, warehouse, request.event_time_only)
        for hint in indexes.hints:
            self.console.hint(hint)
        return plan_training_set(request, selections, spine, engine, on_demand, indexes.indexed).sql(pretty=True)

    # -- records and lineage -------------------------------------------------------------------
    def _record_context(self) -> "RecordContext":
        from featurestore.offline.record import RecordContext

        return RecordContext(
            self.project.name, self.project.root, self.manifest(), self.project.manifest_path, self.target.name, self.target.adapter
        )

    def lineage(self) -> Any:
        """The OpenLineage emitter (governance/lineage_events.py): a no-op unless configured."""
        if getattr(self, "_lineage_emitter", None) is None:
            from featurestore.governance.lineage_events import LineageEmitter

            self._lineage_emitter = LineageEmitter(self.project.settings, self.console)
        return self._lineage_emitter

    def lineage_job(self, command: str, views: Sequence[Any] = ()) -> "LineageJob":
        """A job named `<project>.<command>`, the views' relations its inputs, the dbt run its parent."""
        from featurestore.governance.lineage_events import LineageJob, dbt_parent, relation_datasets

        if self.lineage().client is None:
            return LineageJob(name=f"{self.project.name}.{command}")
        parent = dbt_parent(self.project.name, self.project.manifest_path.parent / "run_results.json")
        inputs = relation_datasets(self.manifest(), list(views), self._lineage_namespace())
        return LineageJob(name=f"{self.project.name}.{command}", inputs=inputs, parent=parent)

    def redis_datasets(self, location: Any, views: Sequence[str]) -> "list[Dataset]":
        """Each view's key space in Redis: the URL (without its password), `<prefix>:<view>`."""
        from featurestore.governance.lineage_events import Dataset

        return [Dataset(location.shown_url, f"{location.keyspace.prefix}:{view}") for view in views]

    def _lineage_namespace(self) -> str | None:
        return self.engine.lineage_namespace(self.target.rendered or self.target.credentials)

    def _training_set_job(self, request: "TrainingSetRequest", catalog: "Catalog") -> "LineageJob":
        from featurestore.governance.lineage_events import Dataset, file_dataset
        from featurestore.offline.indexes import joined_views

        if self.lineage().client is None:
            return self.lineage_job("training_set")
        output = request.output_table or (request.output_path.name if request.output_path else "rows")
        views = joined_views(*catalog.resolve_all(request.features))
        job = self.lineage_job(f"training_set.{output}", views)
        given, namespace = request.spine, self._lineage_namespace()
        if given.path is not None:
            job.inputs.append(file_dataset(given.path))
        elif given.relation is not None and namespace is not None:
            relation = catalog.relations.get(given.relation)
            # By its relation's identifier, as dbt-ol names it: a versioned spine `labels@v2` is `labels_v2`.
            name = str(relation) if relation else given.relation
            job.inputs.append(Dataset(namespace, name))
        return job

    def _training_set_outputs(self, request: "TrainingSetRequest", catalog: "Catalog", rows: int | None) -> "list[Dataset]":
        from featurestore.governance.lineage_events import Dataset, file_dataset

        if request.output_path is not None:
            return [file_dataset(request.output_path, rows)]
        namespace = self._lineage_namespace()
        if request.output_table is None or namespace is None:
            return []
        database = next((view.relation.database for view in catalog), None)
        parts = request.output_table.split(".")
        qualified = [database, *([self.target.schema] if len(parts) == 1 else []), *parts]
        return [Dataset(namespace, ".".join(p for p in qualified if p), rows)]

    def training_set_model(self, spine: str, features: Sequence[str], path: str, **options: Any) -> "GeneratedModel":
        """Write the training set as the dbt model `path` (under models/) with its YAML, for
        `dbt build` to materialize on any engine (docs/sql-users.md); options as `training_set`'s."""
        from featurestore.offline.as_model import write_training_set_model
        from featurestore.offline.request import TrainingSetRequest

        request = TrainingSetRequest.of(spine, features, **options)
        with self.warehouse() as warehouse:
            return write_training_set_model(request, path, self.project, self.catalog(), warehouse)
