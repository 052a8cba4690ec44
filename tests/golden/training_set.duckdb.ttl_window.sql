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
    "ts",
    "created_at",
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
), "__fs_v0_match" AS (
  SELECT
    "__fs_row",
    "__fs_ts",
    "orders_30d",
    "spend_30d"
  FROM (
    SELECT
      "__fs_spine"."__fs_row",
      "__fs_v0"."ts" AS "__fs_ts",
      "__fs_v0"."orders_30d" AS "orders_30d",
      "__fs_v0"."spend_30d" AS "spend_30d",
      ROW_NUMBER() OVER (
        PARTITION BY "__fs_spine"."__fs_row"
        ORDER BY "__fs_v0"."ts" DESC, COALESCE("__fs_v0"."created_at", "__fs_v0"."ts") DESC, "__fs_v0"."orders_30d" DESC, "__fs_v0"."spend_30d" DESC
      ) AS "__fs_rank"
    FROM "__fs_spine"
    JOIN "__fs_v0"
      ON "__fs_spine"."customer_id" = "__fs_v0"."customer_id"
      AND "__fs_v0"."ts" <= "__fs_spine"."event_timestamp"
      AND "__fs_v0"."ts" >= "__fs_spine"."event_timestamp" - INTERVAL '2592000' SECOND
      AND COALESCE("__fs_v0"."created_at", "__fs_v0"."ts") <= "__fs_spine"."event_timestamp"
  ) AS "__fs_ranked"
  WHERE
    "__fs_rank" = 1
), "__fs_v1" AS (
  SELECT
    "customer_id",
    "store_id",
    "__fs_at",
    "visits_7d"
  FROM (
    SELECT
      "customer_id",
      "store_id",
      "ts" AS "__fs_at",
      "visits_7d",
      LEAD("ts") OVER (PARTITION BY "customer_id", "store_id" ORDER BY "ts", "visits_7d" ASC NULLS FIRST) AS "__fs_next"
    FROM "features"."store_visits" AS "__fs_rows"
    WHERE
      NOT "customer_id" IS NULL
      AND NOT "store_id" IS NULL
      AND NOT "ts" IS NULL
      AND (
        "ts" <= CAST('2024-03-31 23:59:59.000001' AS TIMESTAMP)
        AND EXISTS(
          SELECT
            1
          FROM "__fs_spine" AS "__fs_keys"
          WHERE
            "__fs_keys"."customer_id" = "__fs_rows"."customer_id"
            AND "__fs_keys"."store_id" = "__fs_rows"."store_id"
        )
      )
  ) AS "__fs_ordered"
  WHERE
    "__fs_next" IS NULL OR "__fs_next" <> "__fs_at"
), "__fs_v1_match" AS (
  SELECT
    "__fs_spine"."__fs_row",
    "__fs_v1"."__fs_at",
    "__fs_v1"."visits_7d"
  FROM "__fs_spine"
  ASOF LEFT JOIN "__fs_v1" AS "__fs_v1"
    ON (
      "__fs_spine"."customer_id" = "__fs_v1"."customer_id"
      AND "__fs_spine"."store_id" = "__fs_v1"."store_id"
    )
    AND "__fs_spine"."event_timestamp" >= "__fs_v1"."__fs_at"
)
SELECT
  "__fs_spine"."customer_id",
  "__fs_spine"."store_id",
  "__fs_spine"."event_timestamp",
  "__fs_spine"."churned",
  CASE
    WHEN "__fs_v0"."__fs_ts" >= "__fs_spine"."event_timestamp" - INTERVAL '2592000' SECOND
    THEN "__fs_v0"."orders_30d"
  END AS "orders_30d",
  CASE
    WHEN "__fs_v0"."__fs_ts" >= "__fs_spine"."event_timestamp" - INTERVAL '2592000' SECOND
    THEN "__fs_v0"."spend_30d"
  END AS "spend_30d",
  "__fs_v1"."visits_7d" AS "visits_7d"
FROM "__fs_spine"
LEFT JOIN "__fs_v0_match" AS "__fs_v0"
  ON "__fs_v0"."__fs_row" = "__fs_spine"."__fs_row"
LEFT JOIN "__fs_v1_match" AS "__fs_v1"
  ON "__fs_v1"."__fs_row" = "__fs_spine"."__fs_row"
ORDER BY
  "__fs_spine"."__fs_row"
