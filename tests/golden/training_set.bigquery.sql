WITH `__fs_spine` AS (
  SELECT
    `customer_id`,
    `store_id`,
    `event_timestamp`,
    `churned`,
    CAST(`event_timestamp` AS DATETIME) AS `__fs_t`,
    ROW_NUMBER() OVER () AS `__fs_row`
  FROM analytics.labels
), `__fs_v0` AS (
  SELECT
    `customer_id`,
    `__fs_at`,
    `__fs_ts`,
    `orders_30d`,
    `spend_30d`
  FROM (
    SELECT
      `customer_id`,
      `__fs_at`,
      `__fs_ts`,
      `orders_30d`,
      `spend_30d`,
      ROW_NUMBER() OVER (
        PARTITION BY `customer_id`, `__fs_at`
        ORDER BY `__fs_ts` DESC, `__fs_created` DESC, `orders_30d` DESC, `spend_30d` DESC
      ) AS `__fs_rank`
    FROM (
      SELECT
        *,
        MAX(`__fs_ts`) OVER (
          PARTITION BY `customer_id`
          ORDER BY `__fs_at`, `__fs_ts`, `__fs_created`
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS `__fs_previous_best`
      FROM (
        SELECT
          `customer_id`,
          `ts` AS `__fs_ts`,
          COALESCE(`created_at`, `ts`) AS `__fs_created`,
          GREATEST(`ts`, COALESCE(`created_at`, `ts`)) AS `__fs_at`,
          `orders_30d`,
          `spend_30d`
        FROM (
          SELECT
            `customer_id`,
            CAST(`ts` AS DATETIME) AS `ts`,
            CAST(`created_at` AS DATETIME) AS `created_at`,
            `orders_30d`,
            `spend_30d`
          FROM `features`.`customer_orders`
        ) AS `__fs_rows`
        WHERE
          NOT `customer_id` IS NULL
          AND NOT `ts` IS NULL
          AND (
            `ts` <= CAST('2024-03-31 23:59:59.000001' AS DATETIME)
            AND COALESCE(`created_at`, `ts`) <= CAST('2024-03-31 23:59:59.000001' AS DATETIME)
            AND `ts` >= CAST('2024-01-30 23:59:59.999999' AS DATETIME)
          )
      ) AS `__fs_usable`
    ) AS `__fs_candidates`
    WHERE
      `__fs_previous_best` IS NULL OR `__fs_ts` >= `__fs_previous_best`
  ) AS `__fs_ranked`
  WHERE
    `__fs_rank` = 1
), `__fs_v0_match` AS (
  SELECT
    `__fs_row`,
    `__fs_ts`,
    `orders_30d`,
    `spend_30d`
  FROM (
    SELECT
      `__fs_row`,
      `__fs_kind`,
      FIRST_VALUE(`__fs_ts`) OVER (PARTITION BY `customer_id`, `__fs_group` ORDER BY `__fs_kind`) AS `__fs_ts`,
      FIRST_VALUE(`orders_30d`) OVER (PARTITION BY `customer_id`, `__fs_group` ORDER BY `__fs_kind`) AS `orders_30d`,
      FIRST_VALUE(`spend_30d`) OVER (PARTITION BY `customer_id`, `__fs_group` ORDER BY `__fs_kind`) AS `spend_30d`
    FROM (
      SELECT
        *,
        SUM(1 - `__fs_kind`) OVER (
          PARTITION BY `customer_id`
          ORDER BY `__fs_time`, `__fs_kind`
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS `__fs_group`
      FROM (
        SELECT
          `customer_id`,
          `__fs_at` AS `__fs_time`,
          0 AS `__fs_kind`,
          CAST(NULL AS INT64) AS `__fs_row`,
          `__fs_ts`,
          `orders_30d`,
          `spend_30d`
        FROM `__fs_v0`
        UNION ALL
        SELECT
          `customer_id`,
          `__fs_t`,
          1,
          `__fs_row`,
          NULL,
          NULL,
          NULL
        FROM `__fs_spine`
        WHERE
          NOT `customer_id` IS NULL AND NOT `__fs_t` IS NULL
      ) AS `__fs_events`
    ) AS `__fs_grouped`
  ) AS `__fs_answered`
  WHERE
    `__fs_kind` = 1
), `__fs_v1` AS (
  SELECT
    `customer_id`,
    `store_id`,
    `ts` AS `__fs_at`,
    `visits_7d`,
    `visits_7d` AS `__fs_tie0`
  FROM (
    SELECT
      `customer_id`,
      `store_id`,
      CAST(`ts` AS DATETIME) AS `ts`,
      `visits_7d`
    FROM `features`.`store_visits`
  ) AS `__fs_rows`
  WHERE
    NOT `customer_id` IS NULL
    AND NOT `store_id` IS NULL
    AND NOT `ts` IS NULL
    AND (
      `ts` <= CAST('2024-03-31 23:59:59.000001' AS DATETIME)
      AND EXISTS(
        SELECT
          1
        FROM `__fs_spine` AS `__fs_keys`
        WHERE
          `__fs_keys`.`customer_id` = `__fs_rows`.`customer_id`
          AND `__fs_keys`.`store_id` = `__fs_rows`.`store_id`
      )
    )
), `__fs_v1_match` AS (
  SELECT
    `__fs_row`,
    `__fs_at`,
    `visits_7d`
  FROM (
    SELECT
      `__fs_row`,
      `__fs_kind`,
      FIRST_VALUE(`__fs_at`) OVER (PARTITION BY `customer_id`, `store_id`, `__fs_group` ORDER BY `__fs_kind`) AS `__fs_at`,
      FIRST_VALUE(`visits_7d`) OVER (PARTITION BY `customer_id`, `store_id`, `__fs_group` ORDER BY `__fs_kind`) AS `visits_7d`
    FROM (
      SELECT
        *,
        SUM(1 - `__fs_kind`) OVER (
          PARTITION BY `customer_id`, `store_id`
          ORDER BY `__fs_time`, `__fs_kind`, `__fs_tie0`
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS `__fs_group`
      FROM (
        SELECT
          `customer_id`,
          `store_id`,
          `__fs_at` AS `__fs_time`,
          0 AS `__fs_kind`,
          CAST(NULL AS INT64) AS `__fs_row`,
          `__fs_at`,
          `visits_7d`,
          `__fs_tie0`
        FROM `__fs_v1`
        UNION ALL
        SELECT
          `customer_id`,
          `store_id`,
          `__fs_t`,
          1,
          `__fs_row`,
          NULL,
          NULL,
          NULL
        FROM `__fs_spine`
        WHERE
          NOT `customer_id` IS NULL AND NOT `store_id` IS NULL AND NOT `__fs_t` IS NULL
      ) AS `__fs_events`
    ) AS `__fs_grouped`
  ) AS `__fs_answered`
  WHERE
    `__fs_kind` = 1
)
SELECT
  `__fs_spine`.`customer_id`,
  `__fs_spine`.`store_id`,
  `__fs_spine`.`event_timestamp`,
  `__fs_spine`.`churned`,
  CASE
    WHEN `__fs_v0`.`__fs_ts` >= `__fs_spine`.`__fs_t` - INTERVAL 2592000 SECOND
    THEN `__fs_v0`.`orders_30d`
  END AS `orders_30d`,
  CASE
    WHEN `__fs_v0`.`__fs_ts` >= `__fs_spine`.`__fs_t` - INTERVAL 2592000 SECOND
    THEN `__fs_v0`.`spend_30d`
  END AS `spend_30d`,
  `__fs_v1`.`visits_7d` AS `visits_7d`
FROM `__fs_spine`
LEFT JOIN `__fs_v0_match` AS `__fs_v0`
  ON `__fs_v0`.`__fs_row` = `__fs_spine`.`__fs_row`
LEFT JOIN `__fs_v1_match` AS `__fs_v1`
  ON `__fs_v1`.`__fs_row` = `__fs_spine`.`__fs_row`
ORDER BY
  `__fs_spine`.`__fs_row`
