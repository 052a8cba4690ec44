"""The repository's own text: no merge left half done (conflict markers in docs do not break
any import, so nothing else would notice)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_conflict_markers_in_tracked_files():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    marked = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".yml", ".yaml", ".toml", ".sh", ".sql", ".cfg", ".txt"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======":
                marked.append(f"{name}:{number}")
    assert marked == []


def engine_table(path: Path) -> dict[str, str]:
    """engine name -> its "tested" cell, from the first engine table of a page; a row may name
    several engines ("BigQuery, Trino")."""
    text = path.read_text()
    header = "| engine | as-of join | fs runs it | tested |"
    rows = text[text.index(header):].split("\n\n")[0].splitlines()[2:]
    tested = {}
    for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows):
        for name in cells[0].split(", "):
            tested[name] = cells[3]
    return tested


def test_the_engine_tables_say_how_far_each_engine_is_tested():
    """Each engine's row, in the README's short table and in docs/engines.md, says what its
    record says (Engine.tested), and every engine has one."""
    from featurestore.engines.registry import ENGINES

    shown = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark", "snowflake": "Snowflake",
             "bigquery": "BigQuery", "trino": "Trino", "databricks": "Databricks"}
    for page in (ROOT / "README.md", ROOT / "docs" / "engines.md"):
        tested = engine_table(page)
        assert sorted(tested) == sorted(shown[engine.name] for engine in ENGINES), page.name
        for engine in ENGINES:
            assert tested[shown[engine.name]].startswith(engine.tested), (page.name, engine.name)


def test_the_readme_stays_at_most_250_lines():
    """The README is the front door: details go to docs/, and merged sections must fit."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
