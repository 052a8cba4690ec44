"""fs init on projects as users have them: an existing packages.yml keeps its entries and
comments, bad files stop it with one line naming the file, and a project whose copy of the
package is another version is warned about by every command until fs init updates it."""

from __future__ import annotations

import os

import pytest

from featurestore import __version__
from tests.built_once import BuiltInPlace
from tests.user_project import UserProject

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(tmp_path, clean_env):
    return UserProject.shop(tmp_path / "shop")


@pytest.fixture(scope="module")
def as_initialized(tmp_path_factory):
    """The shop after one `fs init` (its `dbt deps` a dbt process), once for the module."""
    from featurestore.cli import main

    project = UserProject.shop(tmp_path_factory.mktemp("init") / "shop")
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("FS_", "DBT_"))]:
            patch.delenv(key)
        with pytest.raises(SystemExit) as exited:
            main(["init", "--project-dir", str(project.root), "--profiles-dir", str(project.profiles_dir)])
    assert exited.value.code in (0, None)
    return project, BuiltInPlace(project.root)


@pytest.fixture
def initialized(as_initialized, clean_env):
    """The shop as `fs init` left it, put back for each test."""
    project, saved = as_initialized
    saved.restore()
    return project


def fs(cli, project: UserProject, *args: str):
    return cli(*args, "--project-dir", str(project.root), "--profiles-dir", str(project.profiles_dir))


def test_outside_a_dbt_project_fs_init_says_so_and_writes_nothing(cli, tmp_path, clean_env):
    code, out, err = cli("init", "--project-dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"error: no dbt_project.yml in {tmp_path.resolve()} or any folder above it; "
        "run from inside a dbt project or pass --project-dir\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_packages_file_keeps_its_entries_and_comments(cli, shop):
    shop.write("vendor/helpers/dbt_project.yml", "name: helpers\nversion: '1.0.0'\nconfig-version: 2\n")
    before = "# our packages\npackages:\n    - local: vendor/helpers   # shared macros\n"
    shop.write("packages.yml", before)
    code, out, err = fs(cli, shop, "init")
    assert code == 0, err
    assert shop.read("packages.yml") == before + "    - local: fs_packages/featurestore  # the feature store's dbt package (fs init)\n"
    assert (shop.root / "dbt_packages" / "helpers").exists() and (shop.root / "dbt_packages" / "featurestore").exists()
    assert "changed: packages.yml: added local: fs_packages/featurestore" in out


@pytest.mark.parametrize(
    "path, text, message",
    [
        ("packages.yml", "packages: [local: x\n", "{root}/packages.yml: not valid YAML: "),
        ("packages.yml", "packages: {local: x}\n", "{root}/packages.yml: 'packages' must be a list of package entries"),
        (".gitignore/inside", "", "cannot read {root}/.gitignore: Is a directory"),
    ],
    ids=["invalid-yaml", "not-a-list", "gitignore-is-a-folder"],
)
def test_a_file_fs_init_cannot_use_is_named_in_one_line(cli, shop, path, text, message):
    shop.write(path, text)
    code, out, err = fs(cli, shop, "init")
    assert code == 3, err
    assert err.startswith("error: " + message.format(root=shop.root)) and err.count("\n") == 1, err


def test_every_command_warns_while_the_projects_package_is_another_version(cli, initialized):
    shop = initialized
    stamp = shop.root / "fs_packages" / "featurestore" / "dbt_project.yml"
    stamp.write_text(stamp.read_text().replace(f'version: "{__version__}"', 'version: "0.0.1"'))
    code, _, err = fs(cli, shop, "catalog")
    assert code == 0, err
    assert (
        "warning: the project's featurestore dbt package (fs_packages/featurestore) is version 0.0.1, "
        f"fs is {__version__}: run fs init to update the project's copy, or install the fs of that version"
    ) in err.splitlines()

    code, out, err = fs(cli, shop, "init")
    assert code == 0, err
    assert f"changed: fs_packages/featurestore: updated the featurestore dbt package from 0.0.1 to {__version__}" in out
    code, _, err = fs(cli, shop, "catalog")
    assert code == 0 and "warning" not in err, err


def test_fs_new_view_on_a_model_not_built_says_to_build_it(cli, initialized):
    shop = initialized
    shop.dbt("seed")  # the database exists, the model's table does not
    code, out, err = fs(cli, shop, "new", "view", "customer_daily", "--entity", "customer", "--join-key", "customer_id")
    assert (code, out) == (4, "")
    assert err.splitlines()[-1] == (
        "error: model 'customer_daily' has no table in target 'dev' (shop.main.customer_daily): "
        "build it first (dbt run --select customer_daily)"
    )
    assert not (shop.root / "models" / "features" / "customer_daily.yml").exists()


def test_a_package_entry_outside_the_project_is_kept_and_said_to_break_elsewhere(cli, shop, tmp_path):
    import shutil

    from featurestore.project.package import shipped_package

    outside = tmp_path / "site-packages" / "featurestore" / "dbt"
    shutil.copytree(shipped_package(), outside)
    shop.write("packages.yml", f"packages:\n  - local: {outside}\n")
    code, out, err = fs(cli, shop, "init")
    assert code == 0, err
    assert (
        f"ok: packages.yml already points at the featurestore package in {outside}, outside the project, where a new "
        "virtualenv, a teammate's clone or CI will not find it: replace that entry with local: fs_packages/featurestore "
        "and run fs init again"
    ) in out.splitlines()
    assert not (shop.root / "fs_packages").exists()
