"""fs as a product: `python -m build` makes a wheel and an sdist that carry the dbt package, and
the wheel installed into a fresh virtualenv sets up a user's project with `fs init` from its
own copy of the package (not this repository's).

The fresh virtualenv gets the wheel with --no-deps and reaches the dependencies through a .pth
line to the test interpreter's site-packages, so the test needs no registry beyond the build's
own (setuptools, which pip's cache or find-links serve) and stays within a minute."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from featurestore import __version__
from tests.user_project import UserProject

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "featurestore"]
PACKAGE_FILES = sorted(
    p.relative_to(REPO).as_posix() for p in (REPO / "featurestore" / "dbt").rglob("*") if p.is_file() and "__pycache__" not in p.parts
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The wheel and sdist, built from a copy of the sources (a build writes egg-info beside them)."""
    work = tmp_path_factory.mktemp("dist")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if (REPO / name).is_dir() else {}))
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(work / "out"), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return work / "out"


def test_the_wheel_and_sdist_carry_the_dbt_package_and_one_version(dist):
    wheel = dist / f"featurestore-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = email.message_from_bytes(archive.read(f"featurestore-{__version__}.dist-info/METADATA"))
    assert set(PACKAGE_FILES) <= names
    assert metadata["Version"] == __version__
    assert set(metadata.get_all("Provides-Extra")) >= {"postgres", "spark", "polars", "serve", "demo", "test"}
    with tarfile.open(dist / f"featurestore-{__version__}.tar.gz") as archive:
        assert {f"featurestore-{__version__}/{name}" for name in PACKAGE_FILES} <= set(archive.getnames())


def test_the_wheel_with_every_extra_resolves(dist, tmp_path):
    """pip resolves the wheel with all its extras (a dry run: nothing is installed), from the
    packages already installed here and the configured index for the rest (polars, which the
    suite leaves out on purpose)."""
    wheel = dist / f"featurestore-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.message_from_bytes(archive.read(f"featurestore-{__version__}.dist-info/METADATA"))
    extras = ",".join(sorted(metadata.get_all("Provides-Extra")))
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--report", str(report), f"{wheel}[{extras}]"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installs = {i["metadata"]["name"]: i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert installs["featurestore"] == __version__


def test_the_readmes_install_line_resolves_from_a_clone(dist, tmp_path):
    """`pip install '/path/to/featurestore[serve]'`, as README.md and docs/your-project.md
    write it, on a copy of the sources (a dry run: nothing is installed)."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "-q", "--report", str(report), f"{dist.parent / 'src'}[serve]"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installs = {i["metadata"]["name"]: i for i in json.loads(report.read_text())["install"]}
    assert installs["featurestore"]["metadata"]["version"] == __version__
    assert installs["featurestore"]["requested_extras"] == ["serve"]


def test_the_installed_wheel_sets_up_a_project_from_its_own_copy(dist, tmp_path):
    venv = tmp_path / "venv"
    # No pip of its own (ensurepip installing pip into it was about 3.5 s of CPU): this pip
    # installs the wheel into it (`--python`: pip run by the venv's interpreter, its scheme).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    wheel = dist / f"featurestore-{__version__}-py3-none-any.whl"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, timeout=120)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies, from the test's environment; its own featurestore is not on this path
    # (an editable install's finder is only set up by site-packages' .pth files, not read here).
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = UserProject.shop(tmp_path / "shop")
    env = {k: v for k, v in project.env.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import featurestore; print(featurestore.__file__)"],
                           capture_output=True, text=True, env=env, cwd=project.root, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), where
    result = subprocess.run([str(venv / "bin" / "fs"), "init"], cwd=project.root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    vendored = project.root / "fs_packages" / "featurestore"
    shipped = site / "featurestore" / "dbt"
    assert sorted(p.relative_to(vendored).as_posix() for p in vendored.rglob("*") if p.is_file()) == [
        name.removeprefix("featurestore/dbt/") for name in PACKAGE_FILES
    ]
    assert all((vendored / n).read_bytes() == (shipped / n).read_bytes() for n in (p.relative_to(vendored) for p in vendored.rglob("*") if p.is_file()))
    assert os.path.islink(project.root / "dbt_packages" / "featurestore")
