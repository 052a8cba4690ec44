-- 6,000 entities x 100 days of daily rows, one in ten missing (the shape of the benchmark's
-- in-script case), with the index fs's top-one lateral join probes.
{{ config(indexes=[{'columns': ['entity_id', 'event_timestamp']}]) }}
select e as entity_id, timestamp '2024-01-01' + d * interval '1 day' as event_timestamp,
       ((hashint8(e * 1000 + d) % 10000) / 100.0)::double precision as spend, abs(hashint8(e * 1000 + d + 1) % 50)::bigint as clicks,
       hashint8(e * 1000 + d + 2) % 3 = 0 as active
from generate_series(0, 5999) e, generate_series(0, 99) d
where abs(hashint8(e * 1000 + d + 9)) % 10 <> 0
