{#
  The rows of `relation` (a CTE of the model, or any relation), then the rows `fs push`
  appended to the model's landing table `<model>__fs_pushed` (beside the model, created at
  the first push). Make it the model's last select, and `dbt build` folds pushed rows into
  the feature view:

      with final as ( ... )
      {{ featurestore.feature_store_with_pushed_rows('final') }}

  Before the first push there is no landing table, and the model is `relation` alone.
  `columns`: the view's columns; by default those the model's YAML documents. Both sides are
  selected by name, so the order of the landing table's columns does not matter. Pushed
  rows are appended as they came, so a uniqueness test of the view flags a pushed row with
  the same key and timestamp as a batch row.
#}
{% macro feature_store_with_pushed_rows(relation, columns=none) %}
    {#- dbt parses the model before it attaches the YAML's columns: only check when it runs. -#}
    {%- if not execute -%}
        select * from {{ relation }}
    {%- else -%}
        {%- set columns = columns or (model.columns.keys() | list) -%}
        {%- if not columns -%}
            {{ exceptions.raise_compiler_error(
                "feature_store_with_pushed_rows: model '" ~ model.name ~ "' documents no columns in its YAML; pass columns=[...]"
            ) }}
        {%- endif -%}
        {%- set landing = adapter.get_relation(
            database=this.database, schema=this.schema, identifier=this.identifier ~ '__fs_pushed'
        ) %}
    select {{ columns | join(', ') }} from {{ relation }}
        {%- if landing is not none %}
    union all
    select {{ columns | join(', ') }} from {{ landing }}
        {%- endif %}
    {%- endif %}
{% endmacro %}
