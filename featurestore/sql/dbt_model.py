"""A training set as the SQL of a dbt model: the point-in-time query of each engine, with the
spine and the views read through `{{ ref() }}`, in one file that branches on dbt's
`target.type`.

One file serves every engine because the SQL fs generates differs per engine (DuckDB's ASOF
join, the portable window form elsewhere, each dialect's quoting and intervals): a single
portable query would give up DuckDB's as-of join and still need each dialect's spelling. The
branches are rendered from one tree per engine, as `fs training-set --sql --dialect` renders
it, and engines whose SQL is identical share a branch.

The trees name each relation by a placeholder (`placeholder_relation`) that renders as a
two-part name no query of fs's can hold otherwise; `with_refs` turns each into `{{ ref() }}`.
"""

from __future__ import annotations

import re
from typing import Sequence

from featurestore.catalog import Relation
from featurestore.catalog.versions import VERSION_MARK

SQL_GENERATION_VERSION = 1
"""Bumped whenever the SQL fs generates for a training set changes, so that `fs check` names
every generated model as stale until it is generated again."""

_REF = "__fs_ref__"
_QUOTE_OPEN, _QUOTE_CLOSE = "[`\"\\[]?", "[`\"\\]]?"
_PLACEHOLDER = re.compile(
    f"{_QUOTE_OPEN}{_REF}{_QUOTE_CLOSE}\\s*\\.\\s*{_QUOTE_OPEN}{_REF}(\\d+){_QUOTE_CLOSE}", re.IGNORECASE
)
_JINJA_OPENERS = ("{{", "{%", "{#")


def placeholder_relation(index: int) -> Relation:
    """The relation the trees name the `index`th ref by (see with_refs)."""
    return Relation(None, _REF, f"{_REF}{index}")


def with_refs(sql: str, refs: Sequence[str]) -> str:
    """`sql` with each placeholder relation replaced by the `{{ ref() }}` of `refs[index]` (a
    model, or a version `model@vN`), and any text that Jinja would read (a `{{` in a name or
    literal) kept in a raw block.

    >>> with_refs('SELECT * FROM "__fs_ref__"."__fs_ref__0"', ["labels"])
    "SELECT * FROM {{ ref('labels') }}"
    """
    parts, at = [], 0
    for match in _PLACEHOLDER.finditer(sql):
        parts.append(_literal_text(sql[at : match.start()]))
        parts.append(f"{{{{ {ref_call(refs[int(match.group(1))])} }}}}")
        at = match.end()
    parts.append(_literal_text(sql[at:]))
    return "".join(parts)


def ref_call(name: str) -> str:
    """dbt's `ref()` of a model or of one version of it. A version is always named, the latest
    too: a plain `ref('plane_daily')` means whichever version is latest when dbt builds, while
    the SQL was generated for this version's columns (when the latest moves, `fs check` names
    the model stale: its features resolve to another view).

    >>> ref_call("plane_daily@v1"), ref_call("labels")
    ("ref('plane_daily', v=1)", "ref('labels')")
    """
    model, mark, version = name.partition(VERSION_MARK)
    if not mark:
        return f"ref({jinja_literal(name)})"
    spelt = jinja_literal(int(version) if version.isdigit() else version)
    return f"ref({jinja_literal(model)}, v={spelt})"


def _literal_text(text: str) -> str:
    if any(opener in text for opener in _JINJA_OPENERS):
        return "{% raw %}" + text + "{% endraw %}"
    return text


def jinja_literal(value: object, indent: int = 0) -> str:
    """`value` (JSON-like: dict, list, str, number, bool, None) as a Jinja literal, a dict
    one key a line so that a diff of two generated files shows what changed.

    >>> jinja_literal({"ttl": "1h", "keys": ["origin"], "unique": False, "at": None})
    "{\\n  'ttl': '1h',\\n  'keys': ['origin'],\\n  'unique': false,\\n  'at': none\\n}"
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jinja_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = " " * (indent + 2)
        items = [f"{inner}{jinja_literal(str(k))}: {jinja_literal(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    raise TypeError(f"no Jinja literal for {type(value).__name__}")


def branched_model_sql(header: str, config: dict, branches: Sequence[tuple[Sequence[str], str]]) -> str:
    """The model file: `header` (comment lines), its `config(...)`, and one branch per
    (dbt adapter types, SQL) on `target.type`; any other adapter fails to compile with a line
    saying which ones the model has SQL for."""
    settings = ", ".join(f"{key}={jinja_literal(value, 4)}" for key, value in config.items())
    lines = [header.rstrip("\n"), "", f"{{{{ config({settings}) }}}}", ""]
    for index, (adapters, sql) in enumerate(branches):
        keyword = "if" if index == 0 else "elif"
        lines.append(f"{{% {keyword} target.type in {_adapter_tuple(adapters)} %}}")
        lines.append(sql.strip("\n"))
    supported = ", ".join(a for adapters, _ in branches for a in adapters)
    message = f"this training set was generated by fs for {supported}; not for the adapter "
    lines.append("{% else %}")
    lines.append(f"{{{{ exceptions.raise_compiler_error({jinja_literal(message)} ~ target.type) }}}}")
    lines.append("{% endif %}")
    return "\n".join(lines) + "\n"


def _adapter_tuple(adapters: Sequence[str]) -> str:
    return "(" + ", ".join(jinja_literal(a) for a in adapters) + ("," if len(adapters) == 1 else "") + ")"
