"""The feature catalog: the model (model.py: views, features, entities, services, lookups),
how it is read from dbt's manifest (from_manifest.py), the strict validation of each model's
`feature_store` meta (meta.py), on-demand groups and their expression language
(on_demand_meta.py, on_demand_sql.py), windowed aggregations (aggregations.py), and ttl
strings (ttl.py)."""

from featurestore.catalog.aggregations import WindowedAggregation

from featurestore.catalog.model import (
    Catalog,
    Entity,
    Feature,
    FeatureSelection,
    FeatureService,
    FeatureView,
    OnDemandFeature,
    OnDemandGroup,
    OnDemandSelection,
    Relation,
    view_to_dict,
)

__all__ = ["Catalog", "Entity", "Feature", "FeatureSelection", "FeatureService", "FeatureView",
    "OnDemandFeature", "OnDemandGroup", "OnDemandSelection", "Relation", "WindowedAggregation", "view_to_dict"]
