-- The 10x file when bench_training_set.py --ten-x names it; the 1x file otherwise, so that dbt run works before it exists.
select * from read_parquet('{{ env_var("FS_BENCH_DATA") }}/{{ env_var("FS_BENCH_10X_FILE", "features_v0_100000x100.parquet") }}')
