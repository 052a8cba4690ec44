"""Governance of the feature store: what changed between the deployed project and this one,
and whether it breaks a feature service (diff.py, with the deployed manifest read by state.py
and the inputs a view is built from compared by lineage.py)."""
