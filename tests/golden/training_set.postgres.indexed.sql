WITH "__fs_spine" AS MATERIALIZED (
  SELECT
    "customer_id",
    "store_id",
    "event_timestamp",
    "churned",
    ROW_NUMBER() OVER () AS "__fs_row"
  FROM analytics.labels
), "__fs_v0" AS (
  SELECT
    "customer_id",
    "__fs_at",
    "__fs_ts",
    "orders_30d",
    "spend_30d"
  FROM (
    SELECT
      "customer_id",
      "__fs_at",
      "__fs_ts",
      "orders_30d",
      "spend_30d",
      ROW_NUMBER() OVER (
        PARTITION BY "customer_id", "__fs_at"
        ORDER BY "__fs_ts" DESC NULLS LAST, "__fs_created" DESC NULLS LAST, "orders_30d" DESC NULLS LAST, "spend_30d" DESC NULLS LAST
      ) AS "__fs_rank"
    FROM (
      SELECT
        *,
        MAX("__fs_ts") OVER (
          PARTITION BY "customer_id"
          ORDER BY "__fs_at", "__fs_ts", "__fs_created"
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS "__fs_previous_best"
      FROM (
        SELECT
          "customer_id",
          "ts" AS "__fs_ts",
          COALESCE("created_at", "ts") AS "__fs_created",
          GREATEST("ts", COALESCE("created_at", "ts")) AS "__fs_at",
          "orders_30d",
          "spend_30d"
        FROM "features"."customer_orders" AS "__fs_rows"
        WHERE
          NOT "customer_id" IS NULL
          AND NOT "ts" IS NULL
          AND (
            "ts" <= CAST('2024-03-31 23:59:59.000001' AS TIMESTAMP)
            AND COALESCE("created_at", "ts") <= CAST('2024-03-31 23:59:59.000001' AS TIMESTAMP)
            AND "ts" >= CAST('2024-01-30 23:59:59.999999' AS TIMESTAMP)
          )
      ) AS "__fs_usable"
    ) AS "__fs_candidates"
    WHERE
      "__fs_previous_best" IS NULL OR "__fs_ts" >= "__fs_previous_best"
  ) AS "__fs_ranked"
  WHERE
    "__fs_rank" = 1
), "__fs_v0_match" AS (
  SELECT
    "__fs_row",
    "__fs_ts",
    "orders_30d",
    "spend_30d"
  FROM (
    SELECT
      "__fs_row",
      "__fs_kind",
      FIRST_VALUE("__fs_ts") OVER (PARTITION BY "customer_id", "__fs_group" ORDER BY "__fs_kind") AS "__fs_ts",
      FIRST_VALUE("orders_30d") OVER (PARTITION BY "customer_id", "__fs_group" ORDER BY "__fs_kind") AS "orders_30d",
      FIRST_VALUE("spend_30d") OVER (PARTITION BY "customer_id", "__fs_group" ORDER BY "__fs_kind") AS "spend_30d"
    FROM (
      SELECT
        *,
        SUM(1 - "__fs_kind") OVER (
          PARTITION BY "customer_id"
          ORDER BY "__fs_time", "__fs_kind"
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS "__fs_group"
      FROM (
        SELECT
          "customer_id",
          "__fs_at" AS "__fs_time",
          0 AS "__fs_kind",
          CAST(NULL AS BIGINT) AS "__fs_row",
          "__fs_ts",
          "orders_30d",
          "spend_30d"
        FROM "__fs_v0"
        UNION ALL
        SELECT
          "customer_id",
          "event_timestamp",
          1,
          "__fs_row",
          NULL,
          NULL,
          NULL
        FROM "__fs_spine"
        WHERE
          NOT "customer_id" IS NULL AND NOT "event_timestamp" IS NULL
      ) AS "__fs_events"
    ) AS "__fs_grouped"
  ) AS "__fs_answered"
  WHERE
    "__fs_kind" = 1
)
SELECT
  "__fs_spine"."customer_id",
  "__fs_spine"."store_id",
  "__fs_spine"."event_timestamp",
  "__fs_spine"."churned",
  CASE
    WHEN "__fs_v0"."__fs_ts" >= "__fs_spine"."event_timestamp" - INTERVAL '2592000 SECOND'
    THEN "__fs_v0"."orders_30d"
  END AS "orders_30d",
  CASE
    WHEN "__fs_v0"."__fs_ts" >= "__fs_spine"."event_timestamp" - INTERVAL '2592000 SECOND'
    THEN "__fs_v0"."spend_30d"
  END AS "spend_30d",
  "__fs_v1"."visits_7d" AS "visits_7d"
FROM "__fs_spine"
LEFT JOIN "__fs_v0_match" AS "__fs_v0"
  ON "__fs_v0"."__fs_row" = "__fs_spine"."__fs_row"
LEFT JOIN LATERAL (
  SELECT
    "__fs_v1_rows"."ts" AS "__fs_at",
    "__fs_v1_rows"."visits_7d" AS "visits_7d"
  FROM "features"."store_visits" AS "__fs_v1_rows"
  WHERE
    "__fs_v1_rows"."customer_id" = "__fs_spine"."customer_id"
    AND "__fs_v1_rows"."store_id" = "__fs_spine"."store_id"
    AND "__fs_v1_rows"."ts" <= "__fs_spine"."event_timestamp"
  ORDER BY
    "__fs_v1_rows"."ts" DESC,
    "__fs_v1_rows"."visits_7d" DESC NULLS LAST
  LIMIT 1
) AS "__fs_v1"
  ON TRUE
ORDER BY
  "__fs_spine"."__fs_row"
