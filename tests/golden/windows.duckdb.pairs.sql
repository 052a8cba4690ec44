"__fs_v0_pairs" AS (
  SELECT
    "__fs_s"."__fs_row",
    CAST(COUNT(
      CASE
        WHEN "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 3600000000
        THEN "__fs_e"."__fs_event"
      END
    ) AS BIGINT) AS "origin__count__1h",
    CAST(SUM(
      CASE
        WHEN "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 3600000000
        THEN "__fs_e"."dep_delay"
      END
    ) AS BIGINT) AS "origin__dep_delay_sum__1h",
    CAST(AVG(
      CASE
        WHEN "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 86400000000
        THEN "__fs_e"."dep_delay"
      END
    ) AS DOUBLE) AS "origin__dep_delay_avg__24h",
    CAST(STDDEV_SAMP(
      CASE
        WHEN "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 86400000000
        THEN "__fs_e"."dep_delay"
      END
    ) AS DOUBLE) AS "origin__dep_delay_stddev__24h",
    MIN("__fs_e"."dep_delay") AS "origin__dep_delay_min__7d",
    MAX("__fs_e"."dep_delay") AS "origin__dep_delay_max__7d",
    STRUCT_EXTRACT(
      MAX(
        CASE
          WHEN "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 3600000000
          AND NOT "__fs_e"."dep_delay" IS NULL
          THEN {'t': "__fs_e"."__fs_us", 'k': "__fs_e"."__fs_known_us", 'v': "__fs_e"."dep_delay"}
        END
      ),
      'v'
    ) AS "origin__dep_delay_last__1h",
    CAST(COUNT(
      DISTINCT CASE
        WHEN "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 86400000000
        THEN "__fs_e"."carrier"
      END
    ) AS BIGINT) AS "origin__carrier_count_distinct__24h",
    CAST(COUNT(DISTINCT "__fs_e"."carrier") AS BIGINT) AS "origin__carrier_approx_count_distinct__7d"
  FROM "__fs_v0_spine" AS "__fs_s"
  LEFT JOIN "__fs_v0_events" AS "__fs_e"
    ON "__fs_s"."origin" = "__fs_e"."origin"
    AND "__fs_e"."__fs_us" > "__fs_s"."__fs_us" - 604800000000
    AND "__fs_e"."__fs_us" <= "__fs_s"."__fs_us"
    AND "__fs_e"."__fs_known_us" <= "__fs_s"."__fs_us"
  GROUP BY
    "__fs_s"."__fs_row"
