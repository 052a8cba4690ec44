-- Every carrier's latest reliability figures, as `fs sync` serves them at the project's now
-- (the var feature_store_now, feature_store.yml's clock.now): one row per carrier, none
-- past carrier_daily's 2-day ttl. `dbt show --select latest_carrier_stats` runs it;
-- docs/sql-users.md says what featurestore.latest guarantees.
select carrier, as_of, carrier__flights__7d, carrier__dep_delay_rate__7d
from {{ featurestore.latest(ref('carrier_daily')) }}
order by carrier__dep_delay_rate__7d desc, carrier
