"""Would dbt's partial parse see the project's files as they are now?

dbt (1.11, dbt/parser/read_files.py `load_source_file`) does not read a YAML file whose
modification time equals the one saved in target/partial_parse.msgpack: it takes the saved
checksum, so the file counts as unchanged. And when a YAML file changes, partial parsing
saves its new checksum but keeps its old time (dbt/parser/partial.py `change_schema_file`).
A copy of the file put back with that old time (`cp -p`, `rsync -a`, `tar x`, a backup) is
then never read again: every partial parse keeps the edit's values, and so would the manifest
fs takes as fresh. SQL, seeds and the other files are always read and hashed.

fs asks this before a dbt command that parses, and runs it with `--no-partial-parse` when
the answer is a file: a full parse reads every file and saves their times anew, so the next
partial parse is right again. The usual edit (a newer time) keeps its fast partial parse.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from featurestore.project.dbt_project import Project

FLAG = "--no-partial-parse"


def state_path(project: Project) -> Path:
    """Where dbt keeps its partial-parse state: $DBT_PARTIAL_PARSE_FILE_PATH (relative to the
    project, where fs runs dbt) or target/partial_parse.msgpack."""
    configured = os.environ.get("DBT_PARTIAL_PARSE_FILE_PATH")
    return project.root / configured if configured else project.target_path / "partial_parse.msgpack"


def unseen_change(project: Project) -> str | None:
    """A YAML file (relative to the project) that changed though dbt's partial parse would
    take it as unchanged; None when there is none, or no state a partial parse would use."""
    try:
        import msgpack

        files = msgpack.unpackb(state_path(project).read_bytes(), strict_map_key=False)["files"]
    except Exception:  # absent or unreadable: dbt parses every file itself
        return None
    saved_root = _saved_root(project, files)
    for saved in files.values():
        if not isinstance(saved, dict) or saved.get("parse_file_type") != "schema":
            continue
        where, checksum = saved.get("path") or {}, saved.get("checksum") or {}
        saved_time = where.get("modification_time") or 0.0
        if not saved_time or checksum.get("name") != "sha256":
            continue
        path = _current_path(project, saved_root, where)
        try:
            if os.stat(path).st_mtime != saved_time:
                continue  # dbt reads it and compares its contents itself
            # dbt's checksum: the sha256 of the text, stripped (dbt_common load_file_contents).
            text = path.read_bytes().decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != checksum.get("checksum"):
            return _shown(project, path)
    return None


def _saved_root(project: Project, files: dict) -> str | None:
    """The project's folder when dbt saved the state (a copied project keeps the old one)."""
    for saved in files.values():
        if isinstance(saved, dict) and saved.get("project_name") == project.name:
            return (saved.get("path") or {}).get("project_root")
    return None


def _current_path(project: Project, saved_root: str | None, where: dict) -> Path:
    """The file now: dbt matches saved files by project and relative path, so a file under the
    folder the state was saved in is the same file under the project's folder now."""
    saved = Path(where.get("project_root") or "", where.get("searched_path") or "", where.get("relative_path") or "")
    if saved_root and saved.is_relative_to(saved_root):
        return project.root / saved.relative_to(saved_root)
    return saved


def _shown(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix() if path.is_relative_to(project.root) else str(path)
