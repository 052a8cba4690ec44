"""Rendering profiles.yml as dbt does: env_var() with defaults and filters, Jinja otherwise."""

from __future__ import annotations

import pytest

from featurestore.errors import ProjectError
from featurestore.engines.registry import engine_and_target
from featurestore.project.dbt_project import load_project
from featurestore.project.profiles import load_target

PROFILE = """
demo:
  target: "{{ env_var('T_TARGET', 'dev') }}"
  outputs:
    dev:
      type: postgres
      host: "{{ env_var('T_HOST', '127.0.0.1') }}"
      port: "{{ env_var('T_PORT', '5432') | as_number }}"
      user: "{{ env_var('T_USER') }}"
      dbname: "db_{{ env_var('T_SUFFIX', 'x') }}_{{ env_var('T_USER') }}"
      schema: "{{ env_var('T_SCHEMA', '0042') }}"
      keepalives: "{{ env_var('T_KEEP', 'true') | as_bool }}"
    other:
      type: duckdb
      path: "{{ 'file_' ~ env_var('T_USER') ~ '.duckdb' }}"
"""


def project_with(tmp_path, profile: str):
    (tmp_path / "dbt_project.yml").write_text("name: demo\nprofile: demo\n")
    (tmp_path / "profiles.yml").write_text(profile)
    return load_project(tmp_path)


def test_env_var_idiom_renders_like_dbt(tmp_path, monkeypatch):
    for name in ["T_TARGET", "T_HOST", "T_PORT", "T_SUFFIX", "T_SCHEMA", "T_KEEP"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("T_USER", "ann")
    monkeypatch.setenv("T_PORT", "6543")
    target = load_target(project_with(tmp_path, PROFILE))
    c = target.credentials
    assert (target.name, c["host"], c["port"], c["user"]) == ("dev", "127.0.0.1", 6543, "ann")
    assert c["dbname"] == "db_x_ann"  # text around expressions is kept
    assert c["schema"] == "0042" and target.schema == "0042"  # text stays text without a filter
    assert c["keepalives"] is True


def test_other_jinja_falls_back_to_jinja(tmp_path, monkeypatch):
    monkeypatch.setenv("T_USER", "bob")
    _, target = engine_and_target(project_with(tmp_path, PROFILE), "other")
    assert target.credentials["path"] == str(tmp_path / "file_bob.duckdb")


def test_missing_env_var_without_default_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("T_USER", raising=False)
    project = project_with(tmp_path, PROFILE)
    with pytest.raises(ProjectError) as raised:
        load_target(project, "dev")
    assert str(raised.value).endswith("target 'dev', key 'user': environment variable T_USER is not set and has no default")


def test_a_value_a_filter_cannot_take_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("T_USER", "ann")
    monkeypatch.setenv("T_PORT", "abc")
    with pytest.raises(ProjectError) as raised:
        load_target(project_with(tmp_path, PROFILE), "dev")
    assert str(raised.value).endswith(
        "target 'dev', key 'port': {{ env_var('T_PORT', '5432') | as_number }} cannot be rendered: "
        "its value is not a number (left out: it may be a secret)"
    )
    assert "abc" not in str(raised.value) and "abc" not in str(raised.value.__cause__)


def test_a_broken_template_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("T_USER", "ann")
    broken = PROFILE.replace("{{ 'file_' ~ env_var('T_USER') ~ '.duckdb' }}", "{{ 'file_' ~ }}")
    with pytest.raises(ProjectError) as raised:
        load_target(project_with(tmp_path, broken), "other")
    assert str(raised.value).endswith(
        "target 'other', key 'path': its value is not a valid template (unexpected '…'; the value is left out: it may be a secret)"
    )


@pytest.mark.parametrize("password", ["p@ss{{w0rd!Hunter2", "{{ env_var('PG_PW', 'Hunter2Default' }}", "{{ Hunter2 + }}"])
def test_a_password_that_is_no_template_is_never_printed(tmp_path, monkeypatch, password):
    """A value that looks like Jinja but is not (a password holding `{{`, a typo in the
    env_var idiom with a secret default) is named by its key; neither the value nor a piece
    of it is in the message, nor in any exception it chains (what --debug prints)."""
    profile = f"demo:\n  target: a\n  outputs:\n    a: {{type: postgres, user: ann, password: {password!r}}}\n"
    with pytest.raises(ProjectError) as raised:
        load_target(project_with(tmp_path, profile), "a")
    assert "target 'a', key 'password': its value is not a valid template" in str(raised.value)
    chain, error = [], raised.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert not any("Hunter2" in text or "w0rd" in text for text in chain), chain


def test_a_target_whose_driver_is_not_installed_says_which_extra(monkeypatch):
    # As a user who installed fs without its postgres extra: one line, not an ImportError.
    import sys

    from featurestore.engines import postgres
    from featurestore.errors import EXIT_PROJECT
    from featurestore.project.profiles import Target

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    target = Target(name="pg", adapter="postgres", schema="s", credentials={"host": "127.0.0.1"})
    with pytest.raises(ProjectError) as raised:
        postgres.ENGINE.connect(target)
    assert raised.value.exit_code == EXIT_PROJECT
    assert str(raised.value) == (
        "target 'pg' runs on postgres, whose Python driver is not installed (no module psycopg): "
        "pip install '/path/to/featurestore[postgres]' (fs installs from a clone: docs/your-project.md)"
    )


DUCKDB = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: demo.duckdb\n"


@pytest.mark.parametrize(
    "project_yml, env, origin",
    [
        ("name: demo\nprofile: nope\n", None, "the 'profile' of dbt_project.yml"),
        # dbt's --profile, whose environment variable overrides dbt_project.yml (dbt-core's cli/params.py).
        ("name: demo\nprofile: demo\n", "nope", "the DBT_PROFILE environment variable, which overrides the 'profile' of dbt_project.yml"),
        ("name: nope\n", None, "the project's name: dbt_project.yml has no 'profile'"),
    ],
    ids=["dbt_project.yml", "DBT_PROFILE", "project name"],
)
def test_an_unknown_profile_names_where_its_name_came_from(tmp_path, monkeypatch, cli, project_yml, env, origin):
    from featurestore.errors import EXIT_PROJECT

    monkeypatch.delenv("DBT_PROFILE", raising=False)
    if env:
        monkeypatch.setenv("DBT_PROFILE", env)
    (tmp_path / "dbt_project.yml").write_text(project_yml)
    (tmp_path / "profiles.yml").write_text(DUCKDB)
    code, out, err = cli("catalog", "--project-dir", str(tmp_path))
    assert (code, out) == (EXIT_PROJECT, "")
    assert err == f"error: {tmp_path / 'profiles.yml'}: no profile 'nope' ({origin}); valid: demo\n"

