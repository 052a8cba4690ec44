"""Building blocks of the SQL trees: quoted identifiers and columns, a view's relation,
literals, and rendering a tree as text for one dialect.

Functions named `*_expression` (here and in the modules beside this one) return sqlglot
trees; only `render` returns SQL text.

Trees name what dbt built as the project declares it (the model's name, its YAML's column
names), the same for every engine. `render` names them as the engine stores them: a
warehouse that folds unquoted names (PostgreSQL to lower case, Snowflake to upper case)
stores a column the model's SQL left unquoted, `Airport__AvgDelay__1d`, as
`airport__avgdelay__1d` or `AIRPORT__AVGDELAY__1D`. Where a stored name differs from the
declared one, the relation is read through a subquery that renames its columns back, so
the rest of the query, and its result, keep the declared names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlglot
from sqlglot import exp

from featurestore.catalog import FeatureView, Relation
from featurestore.catalog.meta import RESERVED_PREFIX
from featurestore.engines.base import Engine

INTERNAL = RESERVED_PREFIX
"""Prefix of the internal column and table names of generated queries; the catalog and the
spine refuse user columns that start with it, in any case."""


PARSE_ERRORS = (sqlglot.errors.ParseError, sqlglot.errors.TokenError)
"""What sqlglot raises on text it cannot read: catch both wherever the user's SQL or names
are parsed (a name such as `x"; --` fails in the tokenizer, before any parsing)."""


def table_name(name: str, dialect: str) -> exp.Table:
    """`name` read as `[[catalog.]schema.]table` in `dialect`. Raises one of PARSE_ERRORS
    when it is anything else: text that does not tokenize, a function call, several
    statements, more than three parts."""
    table = exp.to_table(name, dialect=dialect)
    parts = [table.args.get(key) for key in ("this", "db", "catalog")] if isinstance(table, exp.Table) else [None]
    if parts[0] is None or not all(part is None or isinstance(part, exp.Identifier) for part in parts):
        raise sqlglot.errors.ParseError(f"not a table name: {type(table).__name__}")
    return table


def identifier(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(identifier(name), table=identifier(table) if table else None)


BUILT_BY_DBT = "fs_built_by_dbt"
"""Key, in the `meta` of a table node, of the `BuiltByDbt` facts `render` names it by."""


@dataclass(frozen=True)
class BuiltByDbt:
    """A relation dbt built, and the columns its YAML declares (name, `quote: true`)."""

    relation: Relation
    columns: tuple[tuple[str, bool], ...] = ()


def relation_table(view: FeatureView, alias: str | None = None) -> exp.Table:
    """The view's relation, its columns read under their declared names."""
    quoted = set(view.quoted_columns)
    table = _built_table(BuiltByDbt(view.relation, tuple((c, c in quoted) for c in dict.fromkeys(view.columns))))
    if alias:
        table.set("alias", exp.TableAlias(this=identifier(alias)))
    return table


def table_of(relation: Relation) -> exp.Table:
    """A relation dbt built (a model, seed or snapshot: its columns are read as they are)."""
    return _built_table(BuiltByDbt(relation))


def _built_table(built: BuiltByDbt) -> exp.Table:
    relation = built.relation
    table = exp.Table(
        this=identifier(relation.identifier),
        db=identifier(relation.schema) if relation.schema else None,
        catalog=identifier(relation.database) if relation.database else None,
    )
    table.meta[BUILT_BY_DBT] = built
    return table


def stored_names_expression(expression: exp.Expression, engine: Engine) -> exp.Expression:
    """`expression` with what dbt built named as `engine` stores it (see the module's
    docstring); the expression itself is left as it is."""
    if not any(BUILT_BY_DBT in table.meta for table in expression.find_all(exp.Table)):
        return expression
    expression = expression.copy()
    for table in list(expression.find_all(exp.Table)):
        built = table.meta.pop(BUILT_BY_DBT, None)
        if built is None:
            continue
        stored = engine.stored_relation(built.relation)
        for key, part in (("this", stored.identifier), ("db", stored.schema), ("catalog", stored.database)):
            table.set(key, identifier(part) if part else None)
        renamed = _renamed_columns(table, built, engine)
        if renamed:
            table.replace(_renaming_subquery(table, renamed, built.relation.identifier))
    return expression


def _renamed_columns(table: exp.Table, built: BuiltByDbt, engine: Engine) -> dict[str, str]:
    """Declared name -> stored name of the columns the query reads from `table`, or nothing
    when every one of them is stored under its declared name."""
    scope = table.parent_select or table.root()
    read = {column.name for column in scope.find_all(exp.Column)}
    names = {name: engine.stored_name(name, quoted) for name, quoted in built.columns if name in read}
    return names if any(stored != name for name, stored in names.items()) else {}


def _renaming_subquery(table: exp.Table, renamed: dict[str, str], name: str) -> exp.Subquery:
    """(SELECT stored AS declared, ... FROM table) under the table's alias, or its declared
    name."""
    alias = table.args.get("alias")
    plain = table.copy()
    plain.set("alias", None)
    columns = [
        column(stored) if stored == name else exp.alias_(column(stored), identifier(name)) for name, stored in renamed.items()
    ]
    return exp.select(*columns).from_(plain).subquery(alias.this.copy() if alias else identifier(name))


def timestamp_literal(value: datetime) -> exp.Expression:
    """A naive UTC timestamp literal, `CAST('2013-12-31 00:30:00' AS TIMESTAMP)`."""
    return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("timestamp"))


def render(expression: exp.Expression, dialect: str, pretty: bool = False) -> str:
    """SQL text of `expression` for `dialect` (the sqlglot dialect of an engine in the
    registry), with what dbt built named as that engine stores it."""
    from featurestore.engines.registry import engine_for_dialect

    return stored_names_expression(expression, engine_for_dialect(dialect)).sql(dialect=dialect, pretty=pretty)
