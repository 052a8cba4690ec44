{#
  The feature view a relation is, read from its model's config.meta.feature_store (or the
  older top-level meta) in dbt's graph, as fs reads it (catalog/meta.py): name, relation,
  join_keys (default [<entity>_id]), timestamp, created_at, ttl_seconds and features (the
  meta's list, else every documented column that is not a key or a timestamp), each column
  quoted where its YAML says `quote: true`; whether it is an aggregation view (`aggregated`:
  meta.feature_store.aggregations) and `where` it is declared, for error lines. A version of a
  versioned model is its own node and relation (`ref('plane_daily', v=1)`: alias plane_daily,
  unique_id ...plane_daily.v1), so each version's columns and meta are its own. Anything else is a compile error in one line
  naming `macro_name` (the macro that was given the relation). Only when dbt executes.
#}
{% macro feature_store_view_of(relation, macro_name) %}
    {%- set refuse = "featurestore." ~ macro_name ~ ": " -%}
    {%- if relation.identifier is not defined -%}
        {{ exceptions.raise_compiler_error(refuse ~ "'" ~ relation ~ "' is not a relation; pass ref() of a feature view, e.g. featurestore." ~ macro_name ~ "(ref('carrier_daily'))") }}
    {%- endif -%}
    {%- set found = namespace(node=none) -%}
    {%- for node in graph.nodes.values() if node.resource_type in ('model', 'snapshot') -%}
        {%- if (node.alias or node.name) | lower == relation.identifier | lower
              and (node.schema or '') | lower == (relation.schema or '') | lower
              and (node.database or '') | lower == (relation.database or '') | lower -%}
            {%- set found.node = node -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set node = found.node -%}
    {%- set meta = none -%}
    {%- if node is not none -%}
        {%- set meta = (node.config.get('meta') or {}).get('feature_store') or (node.get('meta') or {}).get('feature_store') -%}
    {%- endif -%}
    {%- if meta is none or meta is not mapping -%}
        {{ exceptions.raise_compiler_error(refuse ~ relation ~ " is not a feature view: no model of this project built it with config.meta.feature_store") }}
    {%- endif -%}
    {#- patch_path is `<project>://models/x.yml`: the path is what a user opens. -#}
    {%- set defined_in = (node.patch_path or node.original_file_path).split('://')[-1] -%}
    {%- set where = "model '" ~ node.name ~ "' (" ~ defined_in ~ "): " -%}
    {%- if not meta.get('entity') or not meta.get('timestamp') -%}
        {{ exceptions.raise_compiler_error(refuse ~ where ~ "meta.feature_store needs entity and timestamp; fs catalog shows what else is wrong") }}
    {%- endif -%}
    {%- set join_keys = meta.get('join_keys', [meta.entity ~ '_id']) -%}
    {%- set join_keys = [join_keys] if join_keys is string else join_keys -%}
    {%- set reserved = join_keys + [meta.timestamp] + ([meta.created_at] if meta.get('created_at') else []) -%}
    {%- set features = meta.get('features') or ((node.columns or {}).keys() | reject('in', reserved) | list) -%}
    {%- if not features -%}
        {{ exceptions.raise_compiler_error(refuse ~ where ~ "has no feature columns: document them in its YAML or list meta.feature_store.features") }}
    {%- endif -%}
    {%- set ttl = featurestore.feature_store_ttl_seconds(meta.get('ttl'), where, refuse) -%}
    {%- set columns = node.columns or {} -%}
    {%- set named = namespace(join_keys=[], features=[]) -%}
    {%- for name in join_keys -%}{%- set named.join_keys = named.join_keys + [featurestore.feature_store_column(name, columns)] -%}{%- endfor -%}
    {%- for name in features -%}{%- set named.features = named.features + [featurestore.feature_store_column(name, columns)] -%}{%- endfor -%}
    {{ return({
        'name': node.name,
        'relation': relation,
        'join_keys': named.join_keys,
        'timestamp': featurestore.feature_store_column(meta.timestamp, columns),
        'created_at': featurestore.feature_store_column(meta.created_at, columns) if meta.get('created_at') else none,
        'ttl_seconds': ttl,
        'features': named.features,
        'aggregated': meta.get('aggregations') is not none,
        'where': where,
    }) }}
{% endmacro %}


{#
  A ttl such as 30d, 3h or 1d12h in seconds (none for no ttl), as catalog/ttl.py reads it.
#}
{% macro feature_store_ttl_seconds(ttl, where, refuse) %}
    {%- if ttl is none -%}{{ return(none) }}{%- endif -%}
    {%- set text = ttl | string | trim | lower -%}
    {%- if not modules.re.match('^(?:\\d+[wdhms])+$', text) -%}
        {{ exceptions.raise_compiler_error(refuse ~ where ~ "ttl '" ~ ttl ~ "' is not a duration (valid: a number and a unit, s m h d or w, such as 90m, 3h, 30d or 1d12h)") }}
    {%- endif -%}
    {%- set unit_seconds = {'w': 604800, 'd': 86400, 'h': 3600, 'm': 60, 's': 1} -%}
    {%- set total = namespace(seconds=0) -%}
    {%- for count, unit in modules.re.findall('(\\d+)([wdhms])', text) -%}
        {%- set total.seconds = total.seconds + (count | int) * unit_seconds[unit] -%}
    {%- endfor -%}
    {{ return(total.seconds) }}
{% endmacro %}


{# A column as SQL: quoted where its YAML says `quote: true`, as dbt and fs treat it. #}
{% macro feature_store_column(name, columns) %}
    {%- set column = columns.get(name) or {} -%}
    {{ return(adapter.quote(name) if column.get('quote') else name) }}
{% endmacro %}
