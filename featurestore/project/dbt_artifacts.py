"""May fs use a manifest that dbt wrote on its own (a plain `dbt build` or `dbt run`)?

fs records what each parse it runs read (featurestore.project.freshness); a manifest a user's
`dbt build` wrote has no such record, and parsing again costs seconds on every cron run of
`dbt run && fs sync`. dbt's own artifacts say most of what the record would:

- target/manifest.json `metadata`: dbt's version, the adapter, the invocation id and when
  the invocation started;
- target/run_results.json, written by the same invocation (same id): its `args`, the target,
  vars, project and profiles folders it ran with (`dbt parse` writes no run_results.json, so
  its manifest is parsed again once);
- target/partial_parse.msgpack: the values of the environment variables the project's
  files read with env_var(), as dbt last parsed with them (dbt parses again, and rewrites
  it, when one changed).

The project's files are dbt's inputs: every one of them, every folder holding them (a file
added or deleted changes its folder's time) and profiles.yml must be older than the
invocation's start, and so must the installed dbt and adapters. Any doubt is a refusal, said
in one line, after which fs parses as before.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from featurestore.errors import ProjectError
from featurestore.project.dbt_project import Project
from featurestore.project.profiles import Target, load_target

# Filesystem times may trail the clock by a tick (a few ms): a file older than the
# invocation by less than this is taken as possibly read after its change.
MARGIN_NS = 1_000_000_000
DEFAULT_PLACEHOLDER = "DBT_DEFAULT_PLACEHOLDER"  # dbt.constants.DEFAULT_ENV_PLACEHOLDER


def refusal(project: Project, target: Target, inputs: dict[str, int], env: dict[str, str | None], dbt: dict[str, int]) -> str | None:
    """Why the manifest on disk cannot be taken as parsed for `target` from the project as it
    is now; None when it can. `inputs` holds each input file's and folder's mtime (ns,
    relative path -> mtime), `env` the environment variables the project's files read,
    `dbt` each installed dbt distribution's install time (ns)."""
    meta = _manifest_metadata(project.manifest_path)
    results = _json(project.target_path / "run_results.json")
    started = _ns(meta.get("invocation_started_at"))
    if started is None:
        return "dbt's manifest does not say when its run started"
    invocation = meta.get("invocation_id")
    if not invocation or (results or {}).get("metadata", {}).get("invocation_id") != invocation:
        return "no target/run_results.json of the dbt run that wrote it says its target (dbt parse writes none)"
    core = next((name.split("-", 1)[1] for name in dbt if name.startswith(("dbt_core-", "dbt-core-"))), None)
    if meta.get("dbt_version") != core:
        return f"it was written by dbt {meta.get('dbt_version')}, and dbt {core} is installed"
    if meta.get("adapter_type") != target.adapter:
        return f"it was written for a {meta.get('adapter_type')} target, not {target.adapter}"
    reason = _args_refusal(project, target, results.get("args") or {})
    if reason:
        return reason
    late = sorted(name for name, mtime in inputs.items() if mtime > started - MARGIN_NS)
    if late:
        more = f" (and {len(late) - 1} more)" if len(late) > 1 else ""
        return f"{late[0]}{more} changed after (or as) dbt started writing it"
    installed = sorted(name for name, mtime in dbt.items() if mtime > started - MARGIN_NS)
    if installed:
        return f"{installed[0]} was installed after dbt wrote it"
    if env:
        return _env_refusal(project, env)
    return None


def _args_refusal(project: Project, target: Target, args: dict[str, Any]) -> str | None:
    try:
        ran_for = args.get("target") or load_target(project).name  # none given: the profile's default
    except ProjectError:  # fs was given another target; dbt's default one cannot be read
        return "dbt wrote it for the profile's default target, which cannot be read"
    if ran_for != target.name:
        return f"dbt wrote it for target '{ran_for}', not '{target.name}'"
    if args.get("vars"):
        return "dbt wrote it with --vars"
    if not _same_folder(args.get("project_dir"), project.root):
        return f"dbt wrote it for the project in {args.get('project_dir')}"
    if target.profiles_path is None or not _same_folder(args.get("profiles_dir"), target.profiles_path.parent):
        return f"dbt wrote it with the profiles in {args.get('profiles_dir')}, not {target.profiles_path}"
    return None


def _env_refusal(project: Project, env: dict[str, str | None]) -> str | None:
    """The values of the environment variables the project reads, as dbt last parsed with
    them (partial_parse.msgpack, which dbt rewrites when a value it read changed), against
    now."""
    try:
        import msgpack

        state = msgpack.unpackb((project.target_path / "partial_parse.msgpack").read_bytes(), strict_map_key=False)
        parsed = state["env_vars"]
    except Exception:  # absent (partial parsing off), unreadable, another format: no answer
        return "the project reads environment variables, and dbt left no partial_parse.msgpack saying their values"
    for name, value in sorted(env.items()):
        if name not in parsed:
            return f"the project reads the environment variable {name}, and dbt's parse did not record it"
        # An unset variable read with a default is recorded as dbt's placeholder.
        if parsed[name] != (value if value is not None else DEFAULT_PLACEHOLDER):
            return f"the environment variable {name} changed since dbt wrote it"
    return None


def _same_folder(text: Any, folder: Path) -> bool:
    try:
        return text is not None and Path(str(text)).resolve() == folder.resolve()
    except OSError:
        return False


def _ns(text: Any) -> int | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) * 1000


def _manifest_metadata(path: Path) -> dict:
    """The manifest's `metadata` object, which dbt writes first: decoded from the file's head
    alone, since the whole manifest (megabytes) is read once more when it is taken."""
    try:
        with path.open("rb") as file:
            head = file.read(1 << 16).decode("utf-8", errors="replace")
        start = head.index("{", head.index('"metadata"'))
        metadata, _ = json.JSONDecoder().raw_decode(head, start)
        return metadata if isinstance(metadata, dict) else {}
    except (OSError, ValueError):  # not at the head (another writer): read it all
        return ((_json(path) or {}).get("metadata")) or {}


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
