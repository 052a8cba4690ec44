"""A feature view's YAML columns against the relation dbt built: every declared column there,
each declared `data_type` of the same family as the warehouse's type, and the warehouse's type
taken where the YAML declares none.

Commands that open the warehouse anyway (training sets, sync, verify-online, fs check, fs
build after dbt, fs catalog show) ask this once per view: one query that reads no rows
(`select * from <relation> limit 0`). Its types are the warehouse's own, the ones fs serves;
dbt's catalog.json would say the same only when `dbt docs generate` ran after the last build.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from featurestore.catalog.aggregations import aggregation_dtype
from featurestore.catalog.data_types import type_family
from featurestore.errors import MetaError, ViewNotBuilt, WarehouseError
from featurestore.sql.expressions import relation_probe, render

if TYPE_CHECKING:
    from featurestore.catalog import Feature, FeatureView
    from featurestore.engines.base import Warehouse


def checked_view(view: "FeatureView", warehouse: "Warehouse") -> "FeatureView":
    """`view` with the warehouse's type on each feature that declares none, once its YAML
    agrees with the relation dbt built.

    Raises MetaError (exit 3) for a column the model's SQL does not produce or a declared
    data_type of another family than the warehouse's, and ViewNotBuilt (exit 4) for a
    relation older than the model's SQL. A relation that is not built at all is left for the
    reading to report, as before."""
    actual = _relation_types(view, warehouse)
    if actual is None:
        return view
    missing = [c for c in view.columns if _stored(view, c, actual) is None]
    if missing:
        raise missing_columns_error(view, missing, warehouse)
    for column, declared in view.declared_types:
        found = actual[_stored(view, column, actual)]
        if type_family(declared) and type_family(found) and type_family(declared) != type_family(found):
            raise MetaError(
                view.name, view.yaml_path,
                f"column '{column}' declares data_type {declared}, but {view.relation} has it as {found}",
                f"declare data_type: {found}, or cast the column in the model's SQL",
            )
    def typed(feature: "Feature") -> "Feature":
        if feature.dtype:
            return feature
        if view.is_aggregation:
            aggregation = view.aggregation(feature.name)
            source = actual[_stored(view, aggregation.column, actual)] if aggregation.column else None
            return dataclasses.replace(feature, dtype=aggregation_dtype(aggregation.function, source))
        return dataclasses.replace(feature, dtype=actual[_stored(view, feature.name, actual)])

    features = tuple(typed(f) for f in view.features)
    return dataclasses.replace(view, features=features)


def _relation_types(view: "FeatureView", warehouse: "Warehouse") -> dict[str, str] | None:
    try:
        return warehouse.column_kinds(render(relation_probe(view.relation), warehouse.dialect))
    except WarehouseError:
        # Not built (the reading says so, naming the view), or a column fs does not read has
        # a type the driver cannot describe (PostgreSQL's jsonb): nothing to compare here.
        return None


def _stored(view: "FeatureView", column: str, actual: dict[str, str]) -> str | None:
    """The relation's name for a declared column: as declared when quoted, else in any case."""
    if column in actual:
        return column
    if column in view.quoted_columns:
        return None
    return next((name for name in actual if name.lower() == column.lower()), None)


def missing_columns_error(view: "FeatureView", missing: list[str], warehouse: "Warehouse") -> Exception:
    """Whether the model's SQL lacks the columns (the YAML is wrong) or the relation is older
    than the SQL (build again): told by the compiled SQL of the manifest, when dbt wrote it."""
    produced = None
    if view.compiled_sql:
        try:
            produced = warehouse.column_kinds(view.compiled_sql)
        except WarehouseError:
            produced = None  # the SQL cannot run outside dbt's build: say what is known
    if produced is not None:
        lacking = [c for c in missing if _stored(view, c, produced) is None]
        if lacking:
            names = ", ".join(f"'{c}'" for c in lacking)
            return MetaError(
                view.name, view.yaml_path,
                f"column{'s' if len(lacking) > 1 else ''} {names} {'are' if len(lacking) > 1 else 'is'} "
                f"declared in the YAML, but the model's SQL ({view.sql_path}) does not produce "
                f"{'them' if len(lacking) > 1 else 'it'}",
                "add it to the SQL's select, or remove it from the YAML's columns",
            )
        return ViewNotBuilt(view.name, str(view.relation), missing)
    return ViewNotBuilt(view.name, str(view.relation), missing, unsure=True)
