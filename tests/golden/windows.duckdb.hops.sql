"__fs_v0_hops_events" AS (
  SELECT
    "origin",
    "__fs_us",
    "__fs_us" - (
      "__fs_us" % 3600000000 + 3600000000
    ) % 3600000000 AS "__fs_hop",
    "__fs_event",
    "dep_delay"
  FROM "__fs_v0_events"
), "__fs_v0_hops_partials" AS (
  SELECT
    "origin",
    "__fs_hop",
    COUNT("dep_delay") AS "__fs_h1_count",
    SUM("dep_delay") AS "__fs_h1_sum",
    MIN("dep_delay") AS "__fs_h1_min",
    MAX("dep_delay") AS "__fs_h1_max"
  FROM "__fs_v0_hops_events"
  GROUP BY
    "origin",
    "__fs_hop"
), "__fs_v0_hops_full" AS (
  SELECT
    "__fs_row",
    0 AS "__fs_p0_count",
    0 AS "__fs_p1_count",
    NULL AS "__fs_p1_sum",
    COALESCE("__fs_f0", 0) AS "__fs_p2_count",
    "__fs_f1" AS "__fs_p2_sum",
    "__fs_f2" AS "__fs_p3_min",
    "__fs_f3" AS "__fs_p4_max"
  FROM (
    SELECT
      "__fs_row",
      "__fs_f0",
      "__fs_f1",
      "__fs_f2",
      "__fs_f3"
    FROM (
      SELECT
        "__fs_row",
        "__fs_kind",
        SUM("__fs_h1_count") OVER (
          PARTITION BY "origin"
          ORDER BY "__fs_hop"
          RANGE BETWEEN 79200000000 PRECEDING AND CURRENT ROW
        ) AS "__fs_f0",
        SUM("__fs_h1_sum") OVER (
          PARTITION BY "origin"
          ORDER BY "__fs_hop"
          RANGE BETWEEN 79200000000 PRECEDING AND CURRENT ROW
        ) AS "__fs_f1",
        MIN("__fs_h1_min") OVER (
          PARTITION BY "origin"
          ORDER BY "__fs_hop"
          RANGE BETWEEN 597600000000 PRECEDING AND CURRENT ROW
        ) AS "__fs_f2",
        MAX("__fs_h1_max") OVER (
          PARTITION BY "origin"
          ORDER BY "__fs_hop"
          RANGE BETWEEN 597600000000 PRECEDING AND CURRENT ROW
        ) AS "__fs_f3"
      FROM (
        SELECT
          "origin",
          "__fs_hop",
          0 AS "__fs_kind",
          CAST(NULL AS BIGINT) AS "__fs_row",
          "__fs_h1_count",
          "__fs_h1_sum",
          "__fs_h1_min",
          "__fs_h1_max"
        FROM "__fs_v0_hops_partials"
        UNION ALL
        SELECT
          "origin",
          "__fs_us" - (
            "__fs_us" % 3600000000 + 3600000000
          ) % 3600000000 - 3600000000,
          1,
          "__fs_row",
          NULL,
          NULL,
          NULL,
          NULL
        FROM "__fs_v0_spine"
      ) AS "__fs_v0_hops_partials_rows"
    ) AS "__fs_v0_hops_partials_all"
    WHERE
      "__fs_kind" = 1
  ) AS "__fs_v0_hops_partials_framed"
), "__fs_v0_hops_edges" AS (
  SELECT
    "__fs_row",
    "origin",
    "__fs_us" - (
      "__fs_us" % 3600000000 + 3600000000
    ) % 3600000000 AS "__fs_hop",
    0 AS "__fs_edge",
    "__fs_us" - (
      "__fs_us" % 3600000000 + 3600000000
    ) % 3600000000 - 1 AS "__fs_low",
    "__fs_us" AS "__fs_high"
  FROM "__fs_v0_spine"
  UNION ALL
  SELECT
    "__fs_row",
    "origin",
    "__fs_us" - (
      "__fs_us" % 3600000000 + 3600000000
    ) % 3600000000 - 3600000000 AS "__fs_hop",
    1 AS "__fs_edge",
    "__fs_us" - 3600000000 AS "__fs_low",
    "__fs_us" AS "__fs_high"
  FROM "__fs_v0_spine"
  UNION ALL
  SELECT
    "__fs_row",
    "origin",
    "__fs_us" - (
      "__fs_us" % 3600000000 + 3600000000
    ) % 3600000000 - 86400000000 AS "__fs_hop",
    2 AS "__fs_edge",
    "__fs_us" - 86400000000 AS "__fs_low",
    "__fs_us" AS "__fs_high"
  FROM "__fs_v0_spine"
  UNION ALL
  SELECT
    "__fs_row",
    "origin",
    "__fs_us" - (
      "__fs_us" % 3600000000 + 3600000000
    ) % 3600000000 - 604800000000 AS "__fs_hop",
    3 AS "__fs_edge",
    "__fs_us" - 604800000000 AS "__fs_low",
    "__fs_us" AS "__fs_high"
  FROM "__fs_v0_spine"
), "__fs_v0_hops_edge" AS (
  SELECT
    "__fs_row",
    "__fs_p0_count",
    "__fs_p1_count",
    "__fs_p1_sum",
    "__fs_p2_count",
    "__fs_p2_sum",
    "__fs_p3_min",
    "__fs_p4_max"
  FROM (
    SELECT
      "__fs_s"."__fs_row",
      COUNT(CASE WHEN "__fs_s"."__fs_edge" IN (0, 1) THEN "__fs_e"."__fs_event" END) AS "__fs_p0_count",
      COUNT(CASE WHEN "__fs_s"."__fs_edge" IN (0, 1) THEN "__fs_e"."dep_delay" END) AS "__fs_p1_count",
      SUM(CASE WHEN "__fs_s"."__fs_edge" IN (0, 1) THEN "__fs_e"."dep_delay" END) AS "__fs_p1_sum",
      COUNT(CASE WHEN "__fs_s"."__fs_edge" IN (0, 2) THEN "__fs_e"."dep_delay" END) AS "__fs_p2_count",
      SUM(CASE WHEN "__fs_s"."__fs_edge" IN (0, 2) THEN "__fs_e"."dep_delay" END) AS "__fs_p2_sum",
      MIN(CASE WHEN "__fs_s"."__fs_edge" IN (0, 3) THEN "__fs_e"."dep_delay" END) AS "__fs_p3_min",
      MAX(CASE WHEN "__fs_s"."__fs_edge" IN (0, 3) THEN "__fs_e"."dep_delay" END) AS "__fs_p4_max"
    FROM "__fs_v0_hops_edges" AS "__fs_s"
    JOIN "__fs_v0_hops_events" AS "__fs_e"
      ON "__fs_s"."origin" = "__fs_e"."origin"
      AND "__fs_s"."__fs_hop" = "__fs_e"."__fs_hop"
      AND "__fs_e"."__fs_us" > "__fs_s"."__fs_low"
      AND "__fs_e"."__fs_us" <= "__fs_s"."__fs_high"
    GROUP BY
      "__fs_s"."__fs_row"
  ) AS "__fs_v0_hops_edges_grouped"
), "__fs_v0_hops" AS (
  SELECT
    "__fs_v0_hops_full"."__fs_row",
    CAST((
      "__fs_v0_hops_full"."__fs_p0_count" + COALESCE("__fs_v0_hops_edge"."__fs_p0_count", 0)
    ) AS BIGINT) AS "origin__count__1h",
    CAST(CASE
      WHEN (
        "__fs_v0_hops_full"."__fs_p1_count" + COALESCE("__fs_v0_hops_edge"."__fs_p1_count", 0)
      ) > 0
      THEN (
        COALESCE("__fs_v0_hops_full"."__fs_p1_sum", 0) + COALESCE("__fs_v0_hops_edge"."__fs_p1_sum", 0)
      )
    END AS BIGINT) AS "origin__dep_delay_sum__1h",
    CAST(CASE
      WHEN (
        "__fs_v0_hops_full"."__fs_p2_count" + COALESCE("__fs_v0_hops_edge"."__fs_p2_count", 0)
      ) > 0
      THEN (
        CAST((
          COALESCE("__fs_v0_hops_full"."__fs_p2_sum", 0) + COALESCE("__fs_v0_hops_edge"."__fs_p2_sum", 0)
        ) AS DOUBLE) / CAST((
          "__fs_v0_hops_full"."__fs_p2_count" + COALESCE("__fs_v0_hops_edge"."__fs_p2_count", 0)
        ) AS DOUBLE)
      )
    END AS DOUBLE) AS "origin__dep_delay_avg__24h",
    CASE
      WHEN "__fs_v0_hops_full"."__fs_p3_min" IS NULL
      THEN "__fs_v0_hops_edge"."__fs_p3_min"
      WHEN NOT "__fs_v0_hops_edge"."__fs_p3_min" IS NULL
      AND "__fs_v0_hops_edge"."__fs_p3_min" < "__fs_v0_hops_full"."__fs_p3_min"
      THEN "__fs_v0_hops_edge"."__fs_p3_min"
      ELSE "__fs_v0_hops_full"."__fs_p3_min"
    END AS "origin__dep_delay_min__7d",
    CASE
      WHEN "__fs_v0_hops_full"."__fs_p4_max" IS NULL
      THEN "__fs_v0_hops_edge"."__fs_p4_max"
      WHEN NOT "__fs_v0_hops_edge"."__fs_p4_max" IS NULL
      AND "__fs_v0_hops_edge"."__fs_p4_max" > "__fs_v0_hops_full"."__fs_p4_max"
      THEN "__fs_v0_hops_edge"."__fs_p4_max"
      ELSE "__fs_v0_hops_full"."__fs_p4_max"
    END AS "origin__dep_delay_max__7d"
  FROM "__fs_v0_hops_full"
  LEFT JOIN "__fs_v0_hops_edge"
    ON "__fs_v0_hops_full"."__fs_row" = "__fs_v0_hops_edge"."__fs_row"

