WITH `__fs_spine` AS (
  SELECT
    `origin`,
    `event_timestamp`,
    `is_delayed`,
    MONOTONICALLY_INCREASING_ID() AS `__fs_row`
  FROM analytics.labels
), `__fs_v0_events` AS (
  SELECT
    `origin`,
    UNIX_MICROS(`ts`) AS `__fs_us`,
    UNIX_MICROS(COALESCE(`created_at`, `ts`)) AS `__fs_known_us`,
    GREATEST(UNIX_MICROS(`ts`), UNIX_MICROS(COALESCE(`created_at`, `ts`))) AS `__fs_active_us`,
    1 AS `__fs_event`,
    `dep_delay`,
    `carrier`
  FROM `features`.`origin_departures`
  WHERE
    NOT `origin` IS NULL AND NOT `ts` IS NULL
), `__fs_v0_spine` AS (
  SELECT
    `__fs_row`,
    `origin`,
    UNIX_MICROS(`event_timestamp`) AS `__fs_us`
  FROM `__fs_spine`
  WHERE
    NOT `origin` IS NULL AND NOT `event_timestamp` IS NULL
), `__fs_v0_frames_on_time` AS (
  SELECT
    `__fs_row`,
    `__fs_p0_count`,
    `__fs_p1_count`,
    `__fs_p1_sum`,
    `__fs_p2_count`,
    `__fs_p2_sum`,
    `__fs_p3_count`,
    `__fs_p3_avg`,
    `__fs_p3_var_pop`,
    `__fs_p4_min`,
    `__fs_p5_max`
  FROM (
    SELECT
      `__fs_row`,
      `__fs_kind`,
      COUNT(`__fs_event`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p0_count`,
      COUNT(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p1_count`,
      SUM(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p1_sum`,
      COUNT(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 86399999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p2_count`,
      SUM(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 86399999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p2_sum`,
      COUNT(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 86399999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p3_count`,
      AVG(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 86399999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p3_avg`,
      VAR_POP(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 86399999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p3_var_pop`,
      MIN(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 604799999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p4_min`,
      MAX(`dep_delay`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_us`
        RANGE BETWEEN 604799999999 PRECEDING AND CURRENT ROW
      ) AS `__fs_p5_max`
    FROM (
      SELECT
        `origin`,
        `__fs_us`,
        0 AS `__fs_kind`,
        CAST(NULL AS BIGINT) AS `__fs_row`,
        `__fs_event`,
        `dep_delay`,
        `carrier`
      FROM `__fs_v0_events`
      WHERE
        `__fs_active_us` = `__fs_us`
      UNION ALL
      SELECT
        `origin`,
        `__fs_us`,
        1,
        `__fs_row`,
        NULL,
        NULL,
        NULL
      FROM `__fs_v0_spine`
    ) AS `__fs_v0_frames_on_time_rows`
  ) AS `__fs_v0_frames_on_time_all`
  WHERE
    `__fs_kind` = 1
), `__fs_v0_frames_late` AS (
  SELECT
    `__fs_s`.`__fs_row`,
    COUNT(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 3600000000
        THEN `__fs_e`.`__fs_event`
      END
    ) AS `__fs_p0_count`,
    COUNT(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 3600000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p1_count`,
    SUM(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 3600000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p1_sum`,
    COUNT(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 86400000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p2_count`,
    SUM(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 86400000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p2_sum`,
    COUNT(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 86400000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p3_count`,
    AVG(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 86400000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p3_avg`,
    VAR_POP(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 86400000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p3_var_pop`,
    MIN(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 604800000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p4_min`,
    MAX(
      CASE
        WHEN `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 604800000000
        THEN `__fs_e`.`dep_delay`
      END
    ) AS `__fs_p5_max`
  FROM `__fs_v0_spine` AS `__fs_s`
  JOIN `__fs_v0_events` AS `__fs_e`
    ON `__fs_s`.`origin` = `__fs_e`.`origin`
    AND `__fs_e`.`__fs_active_us` > `__fs_e`.`__fs_us`
    AND `__fs_e`.`__fs_active_us` <= `__fs_s`.`__fs_us`
    AND `__fs_e`.`__fs_us` > `__fs_s`.`__fs_us` - 604800000000
  GROUP BY
    `__fs_s`.`__fs_row`
), `__fs_v0_frames` AS (
  SELECT
    `__fs_v0_frames_on_time`.`__fs_row`,
    CAST((
      `__fs_v0_frames_on_time`.`__fs_p0_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p0_count`, 0)
    ) AS BIGINT) AS `origin__count__1h`,
    CAST(CASE
      WHEN (
        `__fs_v0_frames_on_time`.`__fs_p1_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p1_count`, 0)
      ) > 0
      THEN (
        COALESCE(`__fs_v0_frames_on_time`.`__fs_p1_sum`, 0) + COALESCE(`__fs_v0_frames_late`.`__fs_p1_sum`, 0)
      )
    END AS BIGINT) AS `origin__dep_delay_sum__1h`,
    CAST(CASE
      WHEN (
        `__fs_v0_frames_on_time`.`__fs_p2_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p2_count`, 0)
      ) > 0
      THEN (
        CAST((
          COALESCE(`__fs_v0_frames_on_time`.`__fs_p2_sum`, 0) + COALESCE(`__fs_v0_frames_late`.`__fs_p2_sum`, 0)
        ) AS DOUBLE) / CAST((
          `__fs_v0_frames_on_time`.`__fs_p2_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p2_count`, 0)
        ) AS DOUBLE)
      )
    END AS DOUBLE) AS `origin__dep_delay_avg__24h`,
    CAST(CASE
      WHEN (
        `__fs_v0_frames_on_time`.`__fs_p3_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p3_count`, 0)
      ) >= 2
      THEN SQRT(
        (
          (
            (
              COALESCE(
                (
                  CAST(`__fs_v0_frames_on_time`.`__fs_p3_var_pop` AS DOUBLE) * CAST(`__fs_v0_frames_on_time`.`__fs_p3_count` AS DOUBLE)
                ),
                0
              ) + COALESCE(
                (
                  CAST(`__fs_v0_frames_late`.`__fs_p3_var_pop` AS DOUBLE) * CAST(COALESCE(`__fs_v0_frames_late`.`__fs_p3_count`, 0) AS DOUBLE)
                ),
                0
              )
            ) + COALESCE(
              (
                (
                  (
                    (
                      CAST(`__fs_v0_frames_late`.`__fs_p3_avg` AS DOUBLE) - CAST(`__fs_v0_frames_on_time`.`__fs_p3_avg` AS DOUBLE)
                    ) * (
                      CAST(`__fs_v0_frames_late`.`__fs_p3_avg` AS DOUBLE) - CAST(`__fs_v0_frames_on_time`.`__fs_p3_avg` AS DOUBLE)
                    )
                  ) * (
                    CAST(`__fs_v0_frames_on_time`.`__fs_p3_count` AS DOUBLE) * CAST(COALESCE(`__fs_v0_frames_late`.`__fs_p3_count`, 0) AS DOUBLE)
                  )
                ) / CAST((
                  `__fs_v0_frames_on_time`.`__fs_p3_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p3_count`, 0)
                ) AS DOUBLE)
              ),
              0
            )
          ) / CAST((
            (
              `__fs_v0_frames_on_time`.`__fs_p3_count` + COALESCE(`__fs_v0_frames_late`.`__fs_p3_count`, 0)
            ) - 1
          ) AS DOUBLE)
        )
      )
    END AS DOUBLE) AS `origin__dep_delay_stddev__24h`,
    CASE
      WHEN `__fs_v0_frames_on_time`.`__fs_p4_min` IS NULL
      THEN `__fs_v0_frames_late`.`__fs_p4_min`
      WHEN NOT `__fs_v0_frames_late`.`__fs_p4_min` IS NULL
      AND `__fs_v0_frames_late`.`__fs_p4_min` < `__fs_v0_frames_on_time`.`__fs_p4_min`
      THEN `__fs_v0_frames_late`.`__fs_p4_min`
      ELSE `__fs_v0_frames_on_time`.`__fs_p4_min`
    END AS `origin__dep_delay_min__7d`,
    CASE
      WHEN `__fs_v0_frames_on_time`.`__fs_p5_max` IS NULL
      THEN `__fs_v0_frames_late`.`__fs_p5_max`
      WHEN NOT `__fs_v0_frames_late`.`__fs_p5_max` IS NULL
      AND `__fs_v0_frames_late`.`__fs_p5_max` > `__fs_v0_frames_on_time`.`__fs_p5_max`
      THEN `__fs_v0_frames_late`.`__fs_p5_max`
      ELSE `__fs_v0_frames_on_time`.`__fs_p5_max`
    END AS `origin__dep_delay_max__7d`
  FROM `__fs_v0_frames_on_time`
  LEFT JOIN `__fs_v0_frames_late`
    ON `__fs_v0_frames_on_time`.`__fs_row` = `__fs_v0_frames_late`.`__fs_row`
), `__fs_v0_distinct_standing0` AS (
  SELECT
    `origin`,
    `__fs_us`,
    `__fs_active_us`,
    MIN(`__fs_active_us`) OVER (
      PARTITION BY `origin`, `__fs_value`
      ORDER BY `__fs_us`, `__fs_active_us`
      ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    ) AS `__fs_until`
  FROM (
    SELECT DISTINCT
      `origin`,
      `carrier` AS `__fs_value`,
      `__fs_us`,
      `__fs_active_us`
    FROM `__fs_v0_events`
    WHERE
      NOT `carrier` IS NULL
  ) AS `__fs_distinct`
), `__fs_v0_distinct` AS (
  SELECT
    `__fs_row`,
    `origin__carrier_count_distinct__24h`,
    `origin__carrier_approx_count_distinct__7d`
  FROM (
    SELECT
      `__fs_row`,
      `__fs_kind`,
      CAST(SUM(`__fs_d0`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_at`, `__fs_kind`
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS BIGINT) AS `origin__carrier_count_distinct__24h`,
      CAST(SUM(`__fs_d1`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_at`, `__fs_kind`
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS BIGINT) AS `origin__carrier_approx_count_distinct__7d`
    FROM (
      SELECT
        `origin`,
        `__fs_active_us` AS `__fs_at`,
        0 AS `__fs_kind`,
        CAST(NULL AS BIGINT) AS `__fs_row`,
        CASE
          WHEN `__fs_active_us` < CASE
            WHEN NOT `__fs_until` IS NULL AND `__fs_until` < `__fs_us` + 86400000000
            THEN `__fs_until`
            ELSE `__fs_us` + 86400000000
          END
          THEN 1
          ELSE 0
        END AS `__fs_d0`,
        CASE
          WHEN `__fs_active_us` < CASE
            WHEN NOT `__fs_until` IS NULL AND `__fs_until` < `__fs_us` + 604800000000
            THEN `__fs_until`
            ELSE `__fs_us` + 604800000000
          END
          THEN 1
          ELSE 0
        END AS `__fs_d1`
      FROM `__fs_v0_distinct_standing0`
      UNION ALL
      SELECT
        `origin`,
        CASE
          WHEN NOT `__fs_until` IS NULL AND `__fs_until` < `__fs_us` + 86400000000
          THEN `__fs_until`
          ELSE `__fs_us` + 86400000000
        END AS `__fs_at`,
        0,
        NULL,
        -1 AS `__fs_d0`,
        0 AS `__fs_d1`
      FROM `__fs_v0_distinct_standing0`
      WHERE
        `__fs_active_us` < CASE
          WHEN NOT `__fs_until` IS NULL AND `__fs_until` < `__fs_us` + 86400000000
          THEN `__fs_until`
          ELSE `__fs_us` + 86400000000
        END
      UNION ALL
      SELECT
        `origin`,
        CASE
          WHEN NOT `__fs_until` IS NULL AND `__fs_until` < `__fs_us` + 604800000000
          THEN `__fs_until`
          ELSE `__fs_us` + 604800000000
        END AS `__fs_at`,
        0,
        NULL,
        0 AS `__fs_d0`,
        -1 AS `__fs_d1`
      FROM `__fs_v0_distinct_standing0`
      WHERE
        `__fs_active_us` < CASE
          WHEN NOT `__fs_until` IS NULL AND `__fs_until` < `__fs_us` + 604800000000
          THEN `__fs_until`
          ELSE `__fs_us` + 604800000000
        END
      UNION ALL
      SELECT
        `origin`,
        `__fs_us`,
        1,
        `__fs_row`,
        0,
        0
      FROM `__fs_v0_spine`
    ) AS `__fs_v0_distinct_rows`
  ) AS `__fs_v0_distinct_all`
  WHERE
    `__fs_kind` = 1
), `__fs_v0_last0_candidates` AS (
  SELECT
    `origin`,
    `__fs_us`,
    `__fs_active_us`,
    CAST(`__fs_us` AS DECIMAL(38, 0)) * CAST(1000000000000000000 AS DECIMAL(38, 0)) + `__fs_known_us` + 500000000000000000 AS `__fs_order`,
    `dep_delay` AS `__fs_value`
  FROM `__fs_v0_events`
  WHERE
    NOT `dep_delay` IS NULL
), `__fs_v0_last0_best` AS (
  SELECT
    `origin`,
    `__fs_at`,
    `__fs_row`,
    `__fs_best`
  FROM (
    SELECT
      `origin`,
      `__fs_at`,
      `__fs_kind`,
      `__fs_row`,
      MAX(`__fs_order`) OVER (
        PARTITION BY `origin`
        ORDER BY `__fs_at`, `__fs_kind`
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS `__fs_best`
    FROM (
      SELECT
        `origin`,
        `__fs_active_us` AS `__fs_at`,
        0 AS `__fs_kind`,
        CAST(NULL AS BIGINT) AS `__fs_row`,
        `__fs_order`
      FROM `__fs_v0_last0_candidates`
      UNION ALL
      SELECT
        `origin`,
        `__fs_us`,
        1,
        `__fs_row`,
        NULL
      FROM `__fs_v0_spine`
    ) AS `__fs_v0_last0_rows`
  ) AS `__fs_v0_last0_best_all`
  WHERE
    `__fs_kind` = 1
), `__fs_v0_last0_values` AS (
  SELECT
    `origin`,
    `__fs_order`,
    MAX(`__fs_us`) AS `__fs_us`,
    MAX(`__fs_value`) AS `__fs_value`
  FROM `__fs_v0_last0_candidates`
  GROUP BY
    `origin`,
    `__fs_order`
), `__fs_v0_last0` AS (
  SELECT
    `__fs_s`.`__fs_row`,
    CASE
      WHEN `__fs_c`.`__fs_us` > `__fs_s`.`__fs_at` - 3600000000
      THEN `__fs_c`.`__fs_value`
    END AS `origin__dep_delay_last__1h`
  FROM `__fs_v0_last0_best` AS `__fs_s`
  LEFT JOIN `__fs_v0_last0_values` AS `__fs_c`
    ON `__fs_s`.`origin` = `__fs_c`.`origin`
    AND `__fs_c`.`__fs_order` = `__fs_s`.`__fs_best`
)
SELECT
  `__fs_spine`.`origin`,
  `__fs_spine`.`event_timestamp`,
  `__fs_spine`.`is_delayed`,
  `__fs_v0`.`origin__count__1h` AS `origin__count__1h`,
  `__fs_v0`.`origin__dep_delay_sum__1h` AS `origin__dep_delay_sum__1h`,
  `__fs_v0`.`origin__dep_delay_avg__24h` AS `origin__dep_delay_avg__24h`,
  `__fs_v0`.`origin__dep_delay_stddev__24h` AS `origin__dep_delay_stddev__24h`,
  `__fs_v0`.`origin__dep_delay_min__7d` AS `origin__dep_delay_min__7d`,
  `__fs_v0`.`origin__dep_delay_max__7d` AS `origin__dep_delay_max__7d`,
  `__fs_v0`.`origin__dep_delay_last__1h` AS `origin__dep_delay_last__1h`,
  `__fs_v0`.`origin__carrier_count_distinct__24h` AS `origin__carrier_count_distinct__24h`,
  `__fs_v0`.`origin__carrier_approx_count_distinct__7d` AS `origin__carrier_approx_count_distinct__7d`
FROM `__fs_spine`
LEFT JOIN (
  SELECT
    `__fs_v0_frames`.`__fs_row`,
    `__fs_v0_frames`.`origin__count__1h`,
    `__fs_v0_frames`.`origin__dep_delay_sum__1h`,
    `__fs_v0_frames`.`origin__dep_delay_avg__24h`,
    `__fs_v0_frames`.`origin__dep_delay_stddev__24h`,
    `__fs_v0_frames`.`origin__dep_delay_min__7d`,
    `__fs_v0_frames`.`origin__dep_delay_max__7d`,
    `__fs_v0_distinct`.`origin__carrier_count_distinct__24h`,
    `__fs_v0_distinct`.`origin__carrier_approx_count_distinct__7d`,
    `__fs_v0_last0`.`origin__dep_delay_last__1h`
  FROM `__fs_v0_frames`
  LEFT JOIN `__fs_v0_distinct`
    ON `__fs_v0_frames`.`__fs_row` = `__fs_v0_distinct`.`__fs_row`
  LEFT JOIN `__fs_v0_last0`
    ON `__fs_v0_frames`.`__fs_row` = `__fs_v0_last0`.`__fs_row`
) AS `__fs_v0`
  ON `__fs_v0`.`__fs_row` = `__fs_spine`.`__fs_row`
ORDER BY
  `__fs_spine`.`__fs_row`
