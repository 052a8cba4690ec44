"""The dbt project as fs sees it: where it is (dbt_project.py), the feature store's settings
(settings.py), the warehouse target of its profile (profiles.py), dbt's manifest kept fresh
(manifest.py), and running dbt itself (dbt_runner.py)."""
