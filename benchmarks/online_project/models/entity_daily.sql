-- A view over the reference feature file (benchmarks/reference_data.py), so the warehouse reads
-- it where it lies; created_at is some minutes to hours after the row's day starts.
select
    entity_id,
    event_timestamp,
    event_timestamp + to_minutes(cast(30 + hash(entity_id, event_timestamp) % 600 as integer)) as created_at,
    v1_spend,
    v1_clicks,
    v1_active
from read_parquet('{{ env_var("FS_BENCH_PARQUET") }}')
