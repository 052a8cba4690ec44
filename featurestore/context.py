"""`FeatureStore`: the one object that fronts the feature store for Python and the CLI.

It knows the project, its warehouse target and its console; each public method is what one
CLI command does, so the CLI stays a thin layer of option parsing.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from featurestore.catalog import Catalog
from featurestore.console import Console
from featurestore.dbt_runner import run_dbt
from featurestore.manifest import load_manifest
from featurestore.profiles import Target, load_target
from featurestore.project import Project, load_project


class FeatureStore:
    """A dbt project seen as a feature store.

    >>> store = FeatureStore(project_dir=".")          # doctest: +SKIP
    >>> [view.name for view in store.catalog()]        # doctest: +SKIP
    ['carrier_daily', 'plane_daily', 'route_daily', 'weather_hourly']
    """

    def __init__(
        self,
        project_dir: str | os.PathLike | None = None,
        profiles_dir: str | os.PathLike | None = None,
        target: str | None = None,
        console: Console | None = None,
    ):
        self.project: Project = load_project(project_dir, profiles_dir)
        self.target: Target = load_target(self.project, target)
        self.console = console or Console(verbose=False)
        self._catalog: Catalog | None = None

    def catalog(self) -> Catalog:
        """The feature catalog, from the manifest (parsed again first if it is stale)."""
        if self._catalog is None:
            manifest = load_manifest(self.project, self.target, self.console)
            self._catalog = Catalog.from_manifest(manifest)
        return self._catalog

    def now(self) -> datetime:
        """The current time as naive UTC, or the project's frozen clock (feature_store.yml
        `clock.now`) when it sets one. Online reads, ttl expiry and parity checks use it."""
        frozen = self.project.settings.reference_time
        return frozen or datetime.now(timezone.utc).replace(tzinfo=None)

    def build(self, select: str | None = None) -> None:
        """Run `dbt build` (models and their data tests) for the target."""
        command = ["build", *(["--select", select] if select else [])]
        run_dbt(self.project, command, self.target.name, self.console, stream=self.console.verbose)
        self._catalog = None
