"""OpenLineage run events for `fs training-set`, `fs sync` and `fs push`: START when the work
begins, COMPLETE or FAIL when it ends, with the feature views (and the spine) as inputs and
the file, table or Redis as the output, sent through the openlineage-python client.

Off unless configured (docs/reproducibility.md): feature_store.yml's `lineage.transport`
(the client's own transport format), or the client's own environment (OPENLINEAGE_URL,
OPENLINEAGE_CONFIG, OPENLINEAGE__TRANSPORT__*); OPENLINEAGE_DISABLED=true turns it off.

Relations are named as openlineage-dbt (dbt-ol) names the same ones, so both graphs join:
the namespace from the target's profile (`Engine.lineage_namespace`), the name
`database.schema.<alias>` (project/model_nodes.py). The dbt run is the parent when
known: OPENLINEAGE_PARENT_ID (`namespace/job/runId`, as dbt-ol reads it), else the last dbt
invocation of target/run_results.json as job `dbt-run-<project>` (dbt-ol's name for its
wrapping job) with run id dbt's invocation_id.

Lineage never fails a command: the first event that cannot be sent is one warning line, and
the run sends no more.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from featurestore.console import Console
from featurestore.errors import first_line, install_extra
from featurestore.project.settings import Settings
from featurestore.version import __version__

PRODUCER = f"urn:featurestore:fs:{__version__}"
"""The producer URI of fs's events (fs has no public source URL to point at)."""
DEFAULT_NAMESPACE = "fs"
CONFIG_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG")
TRANSPORT_ENV_PREFIX = "OPENLINEAGE__TRANSPORT__"


@dataclass(frozen=True)
class Dataset:
    namespace: str
    name: str
    row_count: int | None = None
    """For an output: the rows written (OpenLineage's outputStatistics facet)."""


@dataclass(frozen=True)
class Parent:
    namespace: str
    name: str
    run_id: str


@dataclass
class LineageJob:
    """One run of one fs command, as OpenLineage will see it."""

    name: str
    inputs: list[Dataset] = field(default_factory=list)
    outputs: list[Dataset] = field(default_factory=list)
    sql: str | None = None
    parent: Parent | None = None


def lineage_configured(settings: Settings) -> bool:
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        settings.lineage_transport
        or any(os.environ.get(name) for name in CONFIG_ENV)
        or any(name.startswith(TRANSPORT_ENV_PREFIX) for name in os.environ)
    )


def job_namespace(settings: Settings) -> str:
    return settings.lineage_namespace or os.environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_NAMESPACE


def dbt_parent(project_name: str, run_results: Path) -> Parent | None:
    """The run fs's run belongs to: OPENLINEAGE_PARENT_ID, else the last dbt invocation."""
    given = os.environ.get("OPENLINEAGE_PARENT_ID")
    if given and given.count("/") >= 2:
        namespace, rest = given.split("/", 1)
        name, run_id = rest.rsplit("/", 1)
        return Parent(namespace, name, run_id)
    try:
        invocation = json.loads(run_results.read_text()).get("metadata", {}).get("invocation_id")
        uuid.UUID(str(invocation))
    except (OSError, ValueError, AttributeError):
        return None
    return Parent(os.environ.get("OPENLINEAGE_NAMESPACE", "dbt"), f"dbt-run-{project_name}", str(invocation))


class LineageEmitter:
    """Sends a job's events; quiet after its first failure (one warning line)."""

    def __init__(self, settings: Settings, console: Console):
        self.namespace = job_namespace(settings)
        self.console = console
        self.client = self._client(settings) if lineage_configured(settings) else None

    def _client(self, settings: Settings) -> Any:
        try:
            from openlineage.client.client import OpenLineageClient
        except ImportError:
            self.console.warn(f"lineage is configured but openlineage-python is not installed: {install_extra('lineage')}")
            return None
        # The client logs its own failures (and tracebacks): fs says them in one line instead.
        quiet = logging.getLogger("openlineage")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        try:
            if settings.lineage_transport:
                return OpenLineageClient(config={"transport": dict(settings.lineage_transport)})
            return OpenLineageClient()
        except Exception as error:  # any client or transport failure: lineage never fails a command
            self._failed(error)
            return None

    def _failed(self, error: BaseException) -> None:
        self.console.warn(f"lineage: events not sent ({type(error).__name__}: {first_line(error)}); the command goes on")
        self.client = None

    @contextmanager
    def run(self, job: LineageJob) -> Iterator[LineageJob]:
        """START now; COMPLETE when the block ends (with the outputs as the block left them
        in `job`), FAIL with the error's line when it raises (and the error goes on)."""
        if self.client is None:
            yield job
            return
        run_id = str(_uuid7())
        self._emit("START", run_id, job)
        try:
            yield job
        except BaseException as error:
            self._emit("FAIL", run_id, job, error=error)
            raise
        self._emit("COMPLETE", run_id, job)

    def _emit(self, state: str, run_id: str, job: LineageJob, error: BaseException | None = None) -> None:
        if self.client is None:
            return
        try:
            self.client.emit(run_event(state, run_id, self.namespace, job, error))
        except Exception as failure:  # a transport's error of any kind: one line, no more events
            self._failed(failure)


def relation_datasets(manifest: dict, views: list, namespace: str | None) -> list[Dataset]:
    """The views' relations as dbt-ol names them (views no model builds are left out)."""
    from featurestore.project.model_nodes import model_nodes

    if namespace is None:
        return []
    nodes = model_nodes(manifest, views)
    return [Dataset(namespace, nodes[view.name].lineage_name) for view in views if view.name in nodes]


def file_dataset(path: Path, row_count: int | None = None) -> Dataset:
    """A local file: OpenLineage's `file` namespace and the absolute path."""
    return Dataset("file", str(Path(path).resolve()), row_count)


def run_event(state: str, run_id: str, namespace: str, job: LineageJob, error: BaseException | None = None) -> Any:
    """One OpenLineage RunEvent (openlineage.client.event_v2)."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, job_type_job, output_statistics_output_dataset, parent_run, sql_job

    run_facets: dict[str, Any] = {}
    if job.parent is not None:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=job.parent.run_id),
            job=parent_run.Job(namespace=job.parent.namespace, name=job.parent.name),
        )
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=first_line(error), programmingLanguage="python"
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="FEATURESTORE", jobType="JOB")
    }
    if job.sql:
        job_facets["sql"] = sql_job.SQLJobFacet(query=job.sql)
    outputs = []
    for dataset in job.outputs if error is None else ():
        facets = {}
        if dataset.row_count is not None and state == "COMPLETE":
            facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=dataset.row_count)
        outputs.append(OutputDataset(namespace=dataset.namespace, name=dataset.name, outputFacets=facets))
    return RunEvent(
        eventType=getattr(RunState, state),
        eventTime=datetime.now(timezone.utc).isoformat(),
        run=Run(runId=run_id, facets=run_facets),
        job=Job(namespace=namespace, name=job.name, facets=job_facets),
        producer=PRODUCER,
        inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in job.inputs],
        outputs=outputs,
    )


def _uuid7() -> uuid.UUID:
    """A time-ordered run id, as OpenLineage recommends (UUIDv7); the client makes them."""
    from openlineage.client.uuid import generate_new_uuid

    return generate_new_uuid()
