"""The feature catalog: the model (model.py: views, features, entities, services, lookups),
how it is read from dbt's manifest (from_manifest.py), the strict validation of each model's
`feature_store` meta (meta.py), and ttl strings (ttl.py)."""

from featurestore.catalog.model import (
    Catalog,
    Entity,
    Feature,
    FeatureSelection,
    FeatureService,
    FeatureView,
    Relation,
    view_to_dict,
)

__all__ = ["Catalog", "Entity", "Feature", "FeatureSelection", "FeatureService", "FeatureView", "Relation", "view_to_dict"]
