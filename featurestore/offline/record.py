"""The record of a training set: what made it (the SQL as run, the versions of fs, dbt and
the engine, the manifest, each view's model and checksum, the options, the spine's
fingerprint) and what it holds (rows, coverage, a content hash of the output), so that
`fs training-set --reproduce` can run it again and say what changed (offline/reproduce.py).

Where records go (docs/reproducibility.md): beside a file output as `<output>.record.json`;
for a table output or rows returned to Python, in the project's `.fs/records/` (a table
output's also in the warehouse beside the table: offline/record_table.py). Every record
is also listed, one JSON line each, in `.fs/records/index.jsonl`, which the feature site
reads to link each view to the training sets made from it.

Content hashes are order-independent (the sum of a hash of each row) and computed where the
rows are: by the warehouse for a table, by an in-process DuckDB for a file or Arrow rows.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.engines import local_files
from featurestore.engines.base import Warehouse
from featurestore.errors import UsageError, first_line
from featurestore.offline.request import TrainingSetRequest
from featurestore.project.model_nodes import file_sha256, model_nodes
from featurestore.project.records_index import RECORDS_FOLDER, append_to_index
from featurestore.sql.expressions import render
from featurestore.sql.fingerprint import as_query, content_hash_expression, row_count_expression, rows_of_expression
from featurestore.sql.output import output_table_expression
from featurestore.version import __version__

if TYPE_CHECKING:
    from featurestore.offline.output import Delivered
    from featurestore.offline.plan import Plan

RECORD_FORMAT = 1
RECORD_SUFFIX = ".record.json"


@dataclass(frozen=True)
class RecordContext:
    """What a record needs beyond the run itself: the project, its manifest, the target."""

    project_name: str
    project_root: Path
    manifest: dict
    manifest_path: Path
    target_name: str
    adapter: str


def package_version(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def make_record(
    request: TrainingSetRequest, plan: "Plan", delivered: "Delivered", coverage: dict, context: RecordContext, warehouse: Warehouse
) -> dict[str, Any]:
    """The record of a training set just delivered (its output's content hashed now)."""
    engine = warehouse.engine
    views = [selection.view for selection in plan.selections]
    nodes = model_nodes(context.manifest, views)
    metadata = context.manifest.get("metadata", {})
    started = time.perf_counter()
    output = output_fingerprint(request, delivered, warehouse)
    hashing_seconds = time.perf_counter() - started
    return {
        "fs_record": RECORD_FORMAT,
        "id": uuid.uuid4().hex,
        "created_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
        "project": context.project_name,
        "target": context.target_name,
        "versions": {
            "fs": __version__,
            "dbt": package_version("dbt-core"),
            "engine": {
                "name": engine.name,
                "adapter": context.adapter,
                f"dbt-{context.adapter}": package_version(f"dbt-{context.adapter}"),
                **({engine.driver: package_version(engine.driver)} if engine.driver else {}),
            },
        },
        "manifest": {
            "sha256": file_sha256(context.manifest_path) if context.manifest_path.is_file() else None,
            "invocation_id": metadata.get("invocation_id"),
            "generated_at": metadata.get("generated_at"),
        },
        "request": request_options(request),
        "views": {
            view.name: {
                "unique_id": nodes[view.name].unique_id if view.name in nodes else None,
                "version": nodes[view.name].version if view.name in nodes else None,
                "checksum": nodes[view.name].checksum if view.name in nodes else None,
                "relation": str(view.relation),
            }
            for view in views
        },
        "spine": spine_fingerprint(request, plan, warehouse),
        "sql": plan.sql(),
        "rows": delivered.rows,
        "coverage": coverage,
        "output": {**output, "hash_seconds": round(hashing_seconds, 3)},
    }


def request_options(request: TrainingSetRequest) -> dict[str, Any]:
    """The request as options `TrainingSetRequest.of` takes again (the spine as given)."""
    spine = request.spine
    given = (
        {"path": str(spine.path)} if spine.path is not None
        else {"relation": spine.relation} if spine.relation is not None
        else {"sql": spine.sql} if spine.sql is not None
        else {"frame": True}
    )
    return {
        "spine": given,
        "features": list(request.features),
        "timestamp_column": spine.timestamp_column,
        "full_names": request.full_names,
        "as_of": request.as_of,
        "output": str(request.output_path) if request.output_path is not None else None,
        "output_table": request.output_table,
    }


def output_fingerprint(request: TrainingSetRequest, delivered: "Delivered", warehouse: Warehouse) -> dict[str, Any]:
    """Where the rows went, and their count and content hash (None where the engine has
    no row hash)."""
    if request.output_path is not None:
        file_format = local_files.FORMAT_OF_SUFFIX[request.output_path.suffix.lower()]
        rows, digest = local_files.file_content_hash(warehouse.local_files_connection(), request.output_path, file_format)
        return {"kind": "file", "location": str(request.output_path), "rows": rows, "content_hash": digest}
    if request.output_table is not None:
        table = output_table_expression(request.output_table, warehouse.target.schema, warehouse.dialect)
        rows, digest = warehouse_content_hash(table, warehouse)
        return {"kind": "table", "location": request.output_table, "rows": rows, "content_hash": digest}
    rows, digest = local_files.arrow_content_hash(warehouse.local_files_connection(), delivered.table)
    return {"kind": "frame", "location": None, "rows": rows, "content_hash": digest}


def warehouse_content_hash(source: Any, warehouse: Warehouse) -> tuple[int, str | None]:
    """(rows, content hash) of a table or query, computed in the warehouse."""
    engine = warehouse.engine
    if not engine.hashes_rows:
        (rows,) = warehouse.fetch_all(render(row_count_expression(source), warehouse.dialect))[0]
        return int(rows), None
    columns = None
    if engine.row_hash is None:  # hashed column by column: the source's columns, from its plan
        columns = warehouse.column_kinds(render(as_query(source), warehouse.dialect))
    rows, total = warehouse.fetch_all(render(content_hash_expression(source, engine, columns), warehouse.dialect))[0]
    return int(rows), str(int(total or 0))


def spine_fingerprint(request: TrainingSetRequest, plan: "Plan", warehouse: Warehouse) -> dict[str, Any]:
    """A file's bytes hashed; a relation's or query's rows counted and hashed in the warehouse
    (one scan); a frame's rows hashed in process."""
    given = request.spine
    if given.path is not None:
        return {"kind": "file", "path": str(given.path), "bytes": given.path.stat().st_size, "sha256": file_sha256(given.path)}
    if given.frame is not None:
        upload = plan.spine.upload
        rows, digest = local_files.arrow_content_hash(warehouse.local_files_connection(), upload)
        return {"kind": "frame", "rows": rows, "content_hash": digest}
    rows, digest = warehouse_content_hash(rows_of_expression(plan.spine.source), warehouse)
    if given.relation is not None:
        return {"kind": "relation", "relation": given.relation, "rows": rows, "content_hash": digest}
    return {"kind": "query", "sql": given.sql, "rows": rows, "content_hash": digest}


def write_record(record: dict[str, Any], request: TrainingSetRequest, project_root: Path) -> Path:
    """Write the record (beside a file output, else in .fs/records/) and list it in the
    index. A record that cannot be written is the run's failure: a training set without
    its record is what this exists to prevent."""
    if request.output_path is not None:
        path = request.output_path.with_name(request.output_path.name + RECORD_SUFFIX)
    else:
        name = (request.output_table or "rows").replace("/", "_")
        path = project_root / RECORDS_FOLDER / f"{record['created_at'].replace(':', '')}-{name}-{record['id'][:8]}{RECORD_SUFFIX}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(record_text(record))
        append_to_index(project_root, {
            "record": str(path),
            "id": record["id"],
            "created_at": record["created_at"],
            "output": record["output"]["location"] or "(rows returned to Python)",
            "rows": record["rows"],
            "views": sorted(record["views"]),
            "target": record["target"],
        })
    except OSError as error:
        raise UsageError(f"the training set's record {path} cannot be written: {error.strerror or error}") from error
    return path


def record_text(record: dict[str, Any]) -> str:
    """The record's JSON, as written to its file (and to its table, offline/record_table.py)."""
    return json.dumps(record, indent=2, default=str) + "\n"


def read_record(path: Path) -> dict[str, Any]:
    """A record written by `write_record`; a file that is not one is one line naming it."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise UsageError(f"--reproduce {path}: cannot be read: {error.strerror or error}") from error
    return parse_record(str(path), text)


def parse_record(given: str, text: str) -> dict[str, Any]:
    """The record in `text` (from a file or a record table); one line naming `given` when it is none."""
    try:
        record = json.loads(text)
    except ValueError as error:
        raise UsageError(f"--reproduce {given}: not a training-set record (not JSON: {first_line(error)})") from error
    if not isinstance(record, dict) or record.get("fs_record") != RECORD_FORMAT:
        raise UsageError(f"--reproduce {given}: not a training-set record of format {RECORD_FORMAT} (fs writes <output>{RECORD_SUFFIX})")
    return record
