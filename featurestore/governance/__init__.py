"""Governance and monitoring of the feature views: `fs check` (freshness, volume, nulls,
drift; check.py, stability.py) and its history table (history.py); `fs diff`, what changed
between the deployed project and this one and whether it breaks a feature service (diff.py,
with the deployed manifest read by state.py and the inputs a view is built from compared by
lineage.py); `fs docs`, the feature site (site.py, drawn from profile.py's one query per view,
the fs check history and charts.py's SVG)."""
