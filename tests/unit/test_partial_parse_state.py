"""featurestore.project.partial_parse against dbt's saved state written by hand, as dbt 1.11
writes it (a manifest's `files`, msgpack): which YAML file dbt's partial parse would take as
unchanged though its contents are not the ones it saved. The real dbt case is in
tests/integration/test_dbt_manifest_reuse.py."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgpack

from featurestore.project.dbt_project import load_project
from featurestore.project.partial_parse import unseen_change


def saved_file(root: str, project: str, relative: str, text: str, mtime: float, kind: str = "schema") -> tuple[str, dict]:
    searched, rest = relative.split("/", 1)
    return f"{project}://{relative}", {
        "path": {"searched_path": searched, "relative_path": rest, "modification_time": mtime, "project_root": root},
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(text.strip().encode()).hexdigest()},
        "project_name": project,
        "parse_file_type": kind,
    }


def project_with_state(tmp_path: Path, saved_root: str, saved: dict[str, tuple[str, str]]):
    """A project whose files hold what they hold now, and dbt's state saved in `saved_root`
    with each file's saved text (relative path -> (project name, text)) at its time now."""
    write_project(tmp_path)
    files = {}
    for relative, (name, text) in saved.items():
        path = tmp_path / relative
        root = saved_root if name == "shop" else f"{saved_root}/dbt_packages/{name}"
        within = relative if name == "shop" else relative.split("/", 2)[2]
        file_id, entry = saved_file(root, name, within, text, os.stat(path).st_mtime, "schema" if path.suffix == ".yml" else "model")
        files[file_id] = entry
    (tmp_path / "target").mkdir(exist_ok=True)
    (tmp_path / "target" / "partial_parse.msgpack").write_bytes(msgpack.packb({"files": files}))
    return load_project(tmp_path)


def write_project(root: Path) -> None:
    write(root / "dbt_project.yml", "name: shop\nprofile: shop\n")
    write(root / "profiles.yml", "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: shop.duckdb\n")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_yaml_file_with_the_saved_time_and_other_contents_is_named(tmp_path):
    write(tmp_path / "models/a.yml", "ttl: 3d\n")
    write(tmp_path / "models/b.yml", "same\n")
    project = project_with_state(tmp_path, str(tmp_path), {"models/a.yml": ("shop", "ttl: 2d"), "models/b.yml": ("shop", "same")})
    assert unseen_change(project) == "models/a.yml"


def test_sql_files_and_a_newer_time_are_dbts_to_read(tmp_path):
    write(tmp_path / "models/a.sql", "select 2")
    write(tmp_path / "models/b.yml", "ttl: 3d\n")
    project = project_with_state(tmp_path, str(tmp_path), {"models/a.sql": ("shop", "select 1"), "models/b.yml": ("shop", "ttl: 3d")})
    assert unseen_change(project) is None  # SQL is always hashed by dbt
    os.utime(tmp_path / "models/b.yml", (1, os.stat(tmp_path / "models/b.yml").st_mtime + 5))
    write(tmp_path / "models/b.yml", "ttl: 2d\n")  # an edit: a newer time, which dbt reads
    assert unseen_change(project) is None


def test_a_moved_project_and_its_packages_are_matched_by_relative_path(tmp_path):
    write(tmp_path / "models/a.yml", "ttl: 3d\n")
    write(tmp_path / "dbt_packages/featurestore/models/p.yml", "p: 2\n")
    project = project_with_state(
        tmp_path, "/elsewhere/shop", {"models/a.yml": ("shop", "ttl: 3d"), "dbt_packages/featurestore/models/p.yml": ("featurestore", "p: 1")}
    )
    assert unseen_change(project) == "dbt_packages/featurestore/models/p.yml"


def test_no_state_or_an_unreadable_one_is_no_answer(tmp_path):
    write_project(tmp_path)
    project = load_project(tmp_path)
    assert unseen_change(project) is None
    write(tmp_path / "target/partial_parse.msgpack", "not msgpack")
    assert unseen_change(project) is None
