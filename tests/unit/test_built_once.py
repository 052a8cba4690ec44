"""tests/built_once.py: xdist workers share one build of the demo and each gets a copy of its
own; a failed build fails every worker with its error, and is not run again. The workers are
threads here: each opens the lock file itself, so flock excludes them as it does processes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests.built_once import BuiltInPlace, built_once


class Worker:
    """What built_once reads of pytest's TempPathFactory, as an xdist worker has it."""

    def __init__(self, shared: Path, name: str):
        self.base = shared / f"popen-{name}"
        self.base.mkdir(parents=True)

    def getbasetemp(self) -> Path:
        return self.base


def run_workers(shared: Path, build, count: int = 3) -> list[Path | BaseException]:
    results: list[Path | BaseException] = [RuntimeError("did not run")] * count

    def work(index: int) -> None:
        try:
            results[index] = built_once(Worker(shared, f"gw{index}"), "demo", build)  # type: ignore[arg-type]
        except BaseException as error:  # noqa: BLE001 - the test looks at what each worker got
            results[index] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_one_build_and_a_copy_for_each_worker(tmp_path):
    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        time.sleep(0.2)  # the other workers arrive while it builds
        (folder / "project").mkdir(parents=True)
        (folder / "project" / "demo.duckdb").write_text("built")

    copies = run_workers(tmp_path, build)
    assert builds == [tmp_path / "demo.shared"]
    assert copies == [tmp_path / f"popen-gw{i}" / "demo" for i in range(3)]
    assert [(copy / "project" / "demo.duckdb").read_text() for copy in copies] == ["built"] * 3


def test_a_failed_build_fails_every_worker_once(tmp_path):
    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        raise AssertionError("dbt build failed: model x")

    errors = run_workers(tmp_path, build)
    assert len(builds) == 1
    assert all(isinstance(error, AssertionError) and "dbt build failed: model x" in str(error) for error in errors)


class Alone:
    """A session without xdist: its temp folder is not a worker's."""

    def __init__(self, base: Path):
        self.base = base

    def getbasetemp(self) -> Path:
        return self.base


def test_without_xdist_the_build_is_made_in_place(tmp_path):
    def build(folder: Path) -> None:
        folder.mkdir()
        (folder / "made").touch()

    folder = built_once(Alone(tmp_path), "demo", build)  # type: ignore[arg-type]
    assert folder == tmp_path / "demo" and (folder / "made").exists()
    assert not list(tmp_path.glob("demo.*"))  # no lock, no shared build


def test_built_in_place_puts_back_files_folders_and_their_times(tmp_path):
    """What fs compares with a dbt run's start: every file's and folder's content and mtime."""
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "models" / "a.sql").write_text("select 1\n")
    (root / "target").mkdir()
    (root / "target" / "manifest.json").write_text("{}")
    an_hour_ago = time.time() - 3600
    for path in (root / "models" / "a.sql", root / "models", root / "target" / "manifest.json", root / "target"):
        os.utime(path, (an_hour_ago, an_hour_ago))

    def state() -> dict[str, tuple[bytes | None, int]]:
        return {
            p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))
        }

    before = state()
    built = BuiltInPlace(root)
    (root / "models" / "a.sql").write_text("select 2\n")
    (root / "models" / "b.sql").write_text("select 3\n")
    (root / "target" / "manifest.json").unlink()
    assert built.restore() == root
    assert state() == before
