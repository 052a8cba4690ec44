"""The warehouse engines: one module per engine (its facts as an `Engine` record, and its
`Warehouse` connection where fs runs queries), a registry from dbt adapter types and sqlglot
dialects to them (registry.py), and reading the user's local files (local_files.py).

Above this package nothing names an engine: SQL builders ask the record how to spell things,
use cases open a `Warehouse` and catch the `WarehouseError`s it raises.
"""
