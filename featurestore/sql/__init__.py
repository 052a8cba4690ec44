"""Every query the feature store generates, as sqlglot trees: building blocks
(expressions.py); the shared point-in-time semantics used by training sets, syncs and parity
checks, a view's timeline included (semantics.py); the training-set query, read downwards:
the spine (spine.py), the forms that join a timeline to it (pit_joins.py) and their
composition (pit.py), with on-demand features over it (on_demand.py) and its output table
(output.py); the landing table of pushed rows (landing.py); fs check's query (checks.py) and
history table (check_history.py); the feature site's profile query (profile.py). Engine
differences come from the engine record (featurestore.engines); nothing here runs a query."""
