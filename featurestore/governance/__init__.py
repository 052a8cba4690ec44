"""Governance and monitoring of the feature views: `fs check` (freshness, volume, nulls,
drift) and its history table."""
