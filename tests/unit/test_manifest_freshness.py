"""The manifest's key (what dbt parsed it from) and the one-line reason to parse again."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from featurestore.project import freshness
from featurestore.project.dbt_project import load_project
from featurestore.project.freshness import KEY_FILE, ManifestKey, current_key, difference, record, stale_reason
from featurestore.project.profiles import load_target

SECRET = "pw-9f3k-s3cr3t"
PROFILES = (
    "demo:\n  target: dev\n  outputs:\n"
    "    dev:\n      type: duckdb\n      path: demo.duckdb\n      schema: main\n"
    "    alt:\n      type: duckdb\n      path: demo.duckdb\n      schema: alt\n"
    "    pg:\n      type: postgres\n      host: localhost\n      user: me\n"
    f"      password: {SECRET}\n      dbname: db\n      schema: main\n"
)
KEY = ManifestKey(
    target="dev", adapter="duckdb", schema="main", settings="s1", dbt=("dbt_core-1.11.0", "dbt_duckdb-1.11.1"),
    vars="v1", files={"dbt_project.yml": (40, 1), "models/a.sql": (10, 1), "models/a.yml": (20, 1)}, salt="x",
)


def changed(**fields) -> ManifestKey:
    return dataclasses.replace(KEY, **fields)


@pytest.mark.parametrize(
    "now, reason",
    [
        (KEY, None),
        (changed(target="alt", schema="alt"), "the target changed (dev -> alt)"),
        (changed(schema="alt"), "target 'dev' changed (duckdb, schema main -> duckdb, schema alt)"),
        (changed(settings="s2"), "the settings of target 'dev' changed (profiles.yml or the environment it reads)"),
        (
            changed(dbt=("dbt_core-1.11.1", "dbt_duckdb-1.11.1")),
            "the installed dbt changed (dbt_core-1.11.0 -> dbt_core-1.11.1)",
        ),
        (changed(vars="v2"), "the vars in dbt_project.yml changed"),
        (changed(files={**KEY.files, "models/a.sql": (11, 1)}), "models/a.sql changed since the last parse"),
        (changed(files={**KEY.files, "models/a.sql": (10, 2)}), "models/a.sql changed since the last parse"),
        (changed(files={**KEY.files, "models/b.yml": (5, 1)}), "models/b.yml is new"),
        (
            changed(files={"dbt_project.yml": (40, 1), "models/b.sql": (10, 1), "models/b.yml": (20, 1)}),
            "models/a.sql was deleted (and 3 more files)",  # a rename keeping sizes and mtimes
        ),
        (changed(files={"dbt_project.yml": (40, 1), "models/a.sql": (10, 1)}), "models/a.yml was deleted"),
    ],
)
def test_the_first_difference_is_the_reason(now, reason):
    assert difference(KEY, now) == reason


def test_the_salt_is_not_an_input():
    assert difference(KEY, changed(salt="y")) is None


def project_at(root: Path, target: str | None = None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "profiles.yml").write_text(PROFILES)
    if not (root / "dbt_project.yml").exists():
        (root / "dbt_project.yml").write_text("name: demo\nprofile: demo\nconfig-version: 2\nvars:\n  start: '2024-01-01'\n")
    project = load_project(root)
    return project, load_target(project, target)


def write(path: Path, text: str = "select 1") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def parsed(root: Path, target: str | None = None):
    """The project, its target and a manifest recorded as parsed from them."""
    project, target = project_at(root, target)
    write(project.manifest_path, "{}")
    record(project, current_key(project, target))
    return project, target


def test_the_key_lists_the_files_dbt_reads_and_nothing_else(tmp_path):
    for name in ["models/a.sql", "models/sub/b.yml", "macros/m.sql", "seeds/s.csv", "tests/t.sql", "packages.yml",
                 "models/notes.txt", "target/compiled/a.sql", "analyses/x.py", "dbt_packages/p/models/x.sql",
                 "functions/f.sql", "functions/f.yml", ".dbtignore"]:
        write(tmp_path / name)
    project, target = project_at(tmp_path)
    assert sorted(current_key(project, target).files) == [
        ".dbtignore", "analyses/x.py", "dbt_packages/p/models/x.sql", "dbt_project.yml", "functions/f.sql", "functions/f.yml",
        "macros/m.sql", "models/a.sql", "models/sub/b.yml", "packages.yml", "seeds/s.csv", "tests/t.sql",
    ]


def test_a_recorded_manifest_is_fresh_until_an_input_changes(tmp_path):
    write(tmp_path / "models" / "a.sql")
    project, target = parsed(tmp_path)
    assert stale_reason(project, target)[0] is None
    assert stale_reason(*project_at(tmp_path, "alt"))[0] == "the target changed (dev -> alt)"
    os.rename(tmp_path / "models" / "a.sql", tmp_path / "models" / "b.sql")  # mv keeps the mtime
    assert stale_reason(project, target)[0] == "models/a.sql was deleted (and 1 more file)"


def test_vars_and_the_target_settings_are_inputs(tmp_path):
    parsed(tmp_path, "pg")
    (tmp_path / "dbt_project.yml").write_text("name: demo\nprofile: demo\nconfig-version: 2\nvars:\n  start: '2025-01-01'\n")
    assert stale_reason(*project_at(tmp_path, "pg"))[0] == "the vars in dbt_project.yml changed"
    project, target = parsed(tmp_path, "pg")
    other = dataclasses.replace(target, rendered={**target.rendered, "host": "db.elsewhere"})
    assert stale_reason(project, other)[0] == (
        "the settings of target 'pg' changed (profiles.yml or the environment it reads)"
    )
    # A new password changes nothing dbt writes in the manifest: no parse, and no hash of it kept.
    rotated = dataclasses.replace(target, rendered={**target.rendered, "password": "another"})
    assert stale_reason(project, rotated)[0] is None


def test_the_record_holds_no_secret(tmp_path):
    parsed(tmp_path, "pg")
    text = (tmp_path / "target" / KEY_FILE).read_text()
    assert SECRET not in text and "localhost" not in text
    assert '"schema": "main"' in text and '"target": "pg"' in text


def test_a_manifest_fs_did_not_record_is_parsed_again(tmp_path):
    project, target = project_at(tmp_path)
    assert stale_reason(project, target)[0] == "target/manifest.json is missing"
    project, target = parsed(tmp_path)
    os.utime(project.manifest_path, ns=(1, 1))  # rewritten by a plain `dbt parse`
    assert stale_reason(project, target)[0] == (
        "target/manifest.json was written outside fs since fs last parsed it, and dbt's manifest does not say when its run started"
    )
    (tmp_path / "target" / KEY_FILE).write_text("{not json")
    assert stale_reason(project, target)[0] == (
        "target/manifest.json has no record of the target and files it was parsed from, "
        "and dbt's manifest does not say when its run started"
    )
    freshness.forget(project)
    assert stale_reason(project, target)[0] == (
        "target/manifest.json has no record of the target and files it was parsed from, "
        "and dbt's manifest does not say when its run started"
    )


def test_an_env_var_the_project_files_read_is_an_input(tmp_path, monkeypatch):
    # A schema (or a var) taken from the environment changes what the manifest says.
    monkeypatch.setenv("FEAT_SCHEMA", "a")
    write(tmp_path / "models" / "conf.yml", "models:\n  +schema: \"{{ env_var('FEAT_SCHEMA', 'a') }}\"\n")
    project, target = parsed(tmp_path)
    assert stale_reason(project, target)[0] is None
    monkeypatch.setenv("FEAT_SCHEMA", "b")
    assert stale_reason(project, target)[0] == (
        "an environment variable that the project's files read with env_var() changed"
    )
