"""The SQL the feature store generates, as sqlglot trees: building blocks (expressions.py),
the shared point-in-time semantics used by training sets, syncs and parity checks
(semantics.py), and the training-set join (pit.py). Engine differences come from the engine
record (featurestore.engines); nothing here runs a query."""
