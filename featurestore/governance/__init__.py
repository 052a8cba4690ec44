"""Governance and monitoring of the feature views: the feature site (site.py, drawn from
profile.py's one query per view, history.py's fs check results and charts.py's SVG)."""
