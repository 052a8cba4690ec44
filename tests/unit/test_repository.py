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


def test_the_readme_engine_table_says_how_far_each_engine_is_tested():
    """Each engine's row says what its record says (Engine.tested), and every engine has one."""
    from featurestore.engines.registry import ENGINES

    shown = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark", "snowflake": "Snowflake",
             "bigquery": "BigQuery", "trino": "Trino", "databricks": "Databricks"}
    readme = (ROOT / "README.md").read_text()
    header = "| engine | as-of join | fs runs it | tested |"
    rows = readme[readme.index(header):].split("\n\n")[0].splitlines()[2:]
    tested = {cells[0]: cells[3] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}
    assert sorted(tested) == sorted(shown[engine.name] for engine in ENGINES)
    for engine in ENGINES:
        assert tested[shown[engine.name]].startswith(engine.tested), engine.name
