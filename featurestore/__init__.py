"""A warehouse-native feature store for dbt users.

Features are dbt models; `FeatureStore(project_dir=...)` reads them from dbt's manifest,
builds point-in-time-correct training sets in the warehouse and serves the latest values
from Redis.
"""

from __future__ import annotations

from featurestore.version import __version__

__all__ = ["FeatureStore", "__version__"]


def __getattr__(name: str):
    # Imported lazily so that `fs --help` does not pay for the whole package.
    if name == "FeatureStore":
        from featurestore.store import FeatureStore

        return FeatureStore
    raise AttributeError(name)
