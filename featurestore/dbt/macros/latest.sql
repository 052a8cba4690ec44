{#
  The latest row of every entity of a feature view, as `fs sync` writes it to Redis:

      select * from {{ featurestore.latest(ref('carrier_daily')) }}

  One row per entity (its join keys, none null) with the view's join keys, timestamp,
  created_at (if declared) and features, under their own names. The row is the one fs
  serves at `at` (docs/sql-users.md, "Macros: latest values in SQL"):
  - known at `at`: timestamp <= at and, with created_at, coalesce(created_at, timestamp) <= at;
  - the latest: greatest timestamp, then greatest knowledge time, then the greatest values
    of every feature in declared order, nulls last (fs's tie order, sql/semantics.py);
  - with a ttl: still valid, timestamp >= at - ttl (inclusive, in microseconds); an
    entity whose latest row is past its ttl has no row;
  - rows `fs push` appended to the view's landing table (<view>__fs_pushed) count, as
    they do for a sync, until a dbt build folds them in.

  `at`: a SQL expression for a naive UTC timestamp. Default: the var `feature_store_now`
  (an ISO timestamp; set it to feature_store.yml's clock.now) if set, else the current time
  in UTC. `alias`: the subquery's name (default: the view's). The view's keys, timestamp,
  created_at, ttl and features come from its model's config.meta.feature_store, through
  dbt's graph: pass ref() of a feature view, or of one version of it (`ref('plane_daily',
  v=1)`; the plain ref is the latest version). An aggregation view (`aggregations:`) has no
  latest row: a compile error.
#}
{% macro latest(relation, at=none, alias=none) %}
    {#- The graph and the warehouse are there only when dbt executes; parsing needs the ref alone. -#}
    {%- if not execute -%}
        {{ return('(select * from ' ~ relation ~ ') as ' ~ (alias or 'latest')) }}
    {%- endif -%}
    {%- set view = featurestore.feature_store_view_of(relation, 'latest') -%}
    {%- if view.aggregated -%}
        {#- Its features exist at a moment over the rows of a window (fs computes them from the
            rows, or tiles online); no stored row holds them, so there is no latest one. -#}
        {{ exceptions.raise_compiler_error(
            "featurestore.latest: " ~ view.where ~ "an aggregation view (its features are windowed aggregations at a moment) "
            ~ "has no latest row; read them with fs get or fs training-set"
        ) }}
    {%- endif -%}
    {%- set at_sql = at if at is not none else featurestore.feature_store_project_now() -%}
    {{ return(adapter.dispatch('latest', 'featurestore')(view, at_sql, alias or view.name)) }}
{% endmacro %}

{% macro default__latest(view, at, alias) %}
    {%- set keep = view.join_keys + [view.timestamp] + ([view.created_at] if view.created_at else []) + view.features -%}
    {%- set known = 'coalesce(' ~ view.created_at ~ ', ' ~ view.timestamp ~ ')' if view.created_at else view.timestamp -%}
    {#- Without created_at the knowledge time is the timestamp: ranked once. -#}
    {%- set tie_order = [view.timestamp] + ([known] if view.created_at else []) + view.features -%}
    {%- set landing = adapter.get_relation(
        database=view.relation.database, schema=view.relation.schema, identifier=view.relation.identifier ~ '__fs_pushed'
    ) -%}
(
    select {{ keep | join(', ') }}
    from (
        select
            {{ keep | join(', ') }},
            row_number() over (
                partition by {{ view.join_keys | join(', ') }}
                order by {% for key in tie_order %}{{ key }} desc nulls last{{ ', ' if not loop.last }}{% endfor %}
            ) as __fs_rank
        from (
            select {{ keep | join(', ') }} from {{ view.relation }}
            {%- if landing is not none %}
            union all
            select {{ keep | join(', ') }} from {{ landing }}
            {%- endif %}
        ) as __fs_rows
        where {% for key in view.join_keys %}{{ key }} is not null and {% endfor -%}
            {{ view.timestamp }} <= {{ at }}
            {%- if view.created_at %}
            and {{ known }} <= {{ at }}
            {%- endif %}
            {%- if view.ttl_seconds is not none %}
            {#- Only the latest row's ttl decides, and it has the greatest timestamp: filtering
                before ranking drops the same entities as after. #}
            and {{ view.timestamp }} >= {{ featurestore.feature_store_seconds_before(at, view.ttl_seconds) }}
            {%- endif %}
    ) as __fs_ranked
    where __fs_rank = 1
) as {{ alias }}
{%- endmacro %}


{#
  The project's now as SQL: the var feature_store_now (feature_store.yml's clock.now, an ISO
  timestamp without an offset) as a timestamp literal, else the current time in UTC.
#}
{% macro feature_store_project_now() %}
    {%- set now = var('feature_store_now', none) -%}
    {%- if now is none or now == '' -%}
        {{ return(featurestore.feature_store_utc_now()) }}
    {%- endif -%}
    {%- set text = now | string | trim -%}
    {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?)?$', text) -%}
        {{ exceptions.raise_compiler_error(
            "var feature_store_now '" ~ text ~ "' is not a naive UTC ISO timestamp (valid: 2013-12-31T00:30:00, as clock.now in feature_store.yml)"
        ) }}
    {%- endif -%}
    {{ return("cast('" ~ text.replace('T', ' ') ~ "' as timestamp)") }}
{% endmacro %}


{#
  `at` minus a whole number of seconds, spelled as fs's own queries spell a ttl's interval
  (engines/*.py interval_seconds).
#}
{% macro feature_store_seconds_before(at, seconds) %}
    {{ return(adapter.dispatch('feature_store_seconds_before', 'featurestore')(at, seconds)) }}
{% endmacro %}

{% macro default__feature_store_seconds_before(at, seconds) %}{{ at }} - interval '{{ seconds }} second'{% endmacro %}

{% macro duckdb__feature_store_seconds_before(at, seconds) %}{{ at }} - interval '{{ seconds }}' second{% endmacro %}

{% macro trino__feature_store_seconds_before(at, seconds) %}{{ at }} - interval '{{ seconds }}' second{% endmacro %}

{% macro spark__feature_store_seconds_before(at, seconds) %}{{ at }} - interval {{ seconds }} second{% endmacro %}

{% macro bigquery__feature_store_seconds_before(at, seconds) %}{{ at }} - interval {{ seconds }} second{% endmacro %}
