-- 100,000 labelled events at random seconds over the same days, in row_order.
select abs(hashint8(i)) % 6000 as entity_id,
       timestamp '2024-01-01' + (abs(hashint8(i + 1)) % (100 * 86400)) * interval '1 second' as event_timestamp,
       hashint8(i + 2) % 5 = 0 as label, i as row_order
from generate_series(1, 100000) i
order by i
