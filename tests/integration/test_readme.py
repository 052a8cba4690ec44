"""The README, run: its commands and snippets against the demo built by real dbt, in order, so
what it shows cannot drift from what fs does.

- `console` blocks: each `$ fs ...` line runs in the project (shell quoting and `# comments` as
  a shell reads them) and must succeed with nothing on stderr; lines under a command are its
  expected output (timings and the project's own path aside).
- `pycon` blocks run as doctests (outputs checked), `python` blocks as they are; they share one
  namespace, as a reader's session would, and may raise no Python warning.
- `sql` and `yaml` blocks are the analytics engineer's tour: written to the files the README
  names before them, then built by the next `console` block. The tour runs in a copy of its
  own, since the data scientist's sections show the demo's catalog without its new view.
- `bash` blocks install packages or run the whole demo or suite: each is skipped with its
  reason in SKIPPED, and a new one fails until it is run or given one.
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from featurestore.errors import UsageError
from featurestore.online.embedded import stop_server
from tests.conftest import REPO

pytestmark = pytest.mark.integration

FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.M | re.S)
SKIPPED = {
    "scripts/demo.sh": "installs the package into .venv and runs the whole demo, minutes long; "
    "scripts/check_fresh_machine.sh runs it on a clean clone",
    "FS_TEST_REDIS_URL=": "runs the whole test suite, of which this test is a part",
    "pip install '/path/to/featurestore": "installs packages: tests/integration/test_distribution.py installs the "
    "line as written; test_own_project.py runs fs init and fs new view on a dbt project it generates",
}
TOUR_FILES = {"sql": "models/features/airport_daily.sql", "yaml": "models/features/airport_daily.yml"}
TOUR = "Five-minute tour: an analytics engineer adds a feature"


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int
    before: str
    """The README's text between the previous block and this one."""
    section: str
    """The heading (##) the block is under."""


def readme_blocks(text: str) -> list[Block]:
    found, end, section = [], 0, ""
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[end : match.start()]
        section = ([section] + re.findall(r"^## (.+)$", before, re.M))[-1]
        found.append(Block(match[2], textwrap.dedent(match[3]), line, before, section))
        end = match.end()
    return found


def normalized(text: str, project: Path) -> str:
    """Output as the README shows it: paths relative to the project, any duration."""
    text = text.replace(f"{project}/", "")
    return re.sub(r"\bin \d+(\.\d+)? ?s\b", "in <seconds>", text).strip()


def unquoted_pattern(command: str) -> str | None:
    """A `*`, `?` or `[` outside quotes, which zsh (and bash with failglob) would expand as a
    file pattern, or fail on, before fs sees it."""
    bare = re.sub(r"'[^']*'|\"[^\"]*\"", "", command).split(" #")[0]
    found = re.search(r"[*?\[]", bare)
    return found[0] if found else None


def run_console(block: Block, project: Path, cli) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif line.strip():
            commands[-1][1].append(line)
    for command, expected in commands:
        args = shlex.split(command, comments=True)
        assert args[0] == "fs", f"README.md:{block.line}: only fs commands run here: {command}"
        assert unquoted_pattern(command) is None, f"README.md:{block.line}: quote the pattern in {command}"
        code, out, err = cli(*args[1:])
        where = f"README.md:{block.line}: {command}"
        assert (code, err) == (0, ""), f"{where}\n{out}{err}"
        if expected:
            assert normalized(out, project) == normalized("\n".join(expected), project), where


def run_python(block: Block, namespace: dict) -> None:
    if block.language == "python":
        exec(compile(block.text, f"README.md:{block.line}", "exec"), namespace)
        return
    test = doctest.DocTestParser().get_doctest(block.text, namespace, "README", "README.md", block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)  # (a doctest runs in a copy of the names it is given)
    assert runner.failures == 0, "".join(report)


@pytest.fixture
def projects(built_project, tmp_path, clean_env):
    """Two copies of the built demo, as the README's reader has it: one for the tour, one for
    the rest; with the project's own Redis (none configured, as in the demo), stopped after."""
    copies = {name: tmp_path / name for name in ("tour", "demo")}
    for copy in copies.values():
        shutil.copytree(built_project, copy, ignore=shutil.ignore_patterns(".fs"))
    yield copies
    for copy in copies.values():
        stop_server(copy)


def test_the_readme_runs(projects, cli, monkeypatch):
    namespace: dict = {}
    ran = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for block in readme_blocks((REPO / "README.md").read_text()):
            readme_project = projects["tour" if block.section == TOUR else "demo"]
            monkeypatch.chdir(readme_project)
            if block.language == "bash":
                first = block.text.splitlines()[0]
                assert any(first.startswith(start) for start in SKIPPED), f"README.md:{block.line}: run this bash block, or say in SKIPPED why not"
            elif block.language in TOUR_FILES:
                path = TOUR_FILES[block.language]
                assert path in block.before, f"README.md:{block.line}: the tour's text no longer names {path}"
                (readme_project / path).write_text(block.text)
            elif block.language == "console":
                run_console(block, readme_project, cli)
            elif block.language in ("python", "pycon"):
                run_python(block, namespace)
            else:
                raise AssertionError(f"README.md:{block.line}: no way to run a {block.language} block")
            ran.add(block.language)
    assert ran == {"bash", "sql", "yaml", "console", "pycon", "python"}
    assert [str(w.message) for w in caught] == []


def test_the_engines_pages_cluster_profile_is_a_dbt_target():
    """docs/engines.md's Spark cluster profile cannot run here (no cluster): it must at least
    read as a dbt profile target, with a type."""
    blocks = [b for b in readme_blocks((REPO / "docs" / "engines.md").read_text()) if b.language == "yaml"]
    assert blocks
    for block in blocks:
        assert "type" in next(iter(yaml.safe_load(block.text).values())), f"docs/engines.md:{block.line}"


def test_to_polars_says_how_to_install_polars(built_project, clean_env):
    from featurestore import FeatureStore

    training = FeatureStore(built_project).training_set("flight_delay_labels", ["carrier_daily:carrier__flights__7d"])
    try:
        import polars  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match=r"^to_polars\(\) needs polars, which is not installed: pip install polars$"):
            training.to_polars()
    else:
        assert training.to_polars().height == training.summary.rows


def test_the_demos_commands_quote_their_patterns():
    commands = [line for line in (REPO / "scripts" / "demo.sh").read_text().splitlines() if line.startswith("fs ")]
    assert len(commands) >= 5
    assert [c for c in commands if unquoted_pattern(c)] == []
    assert unquoted_pattern("fs get carrier_daily:* -e carrier=UA") == "*"
