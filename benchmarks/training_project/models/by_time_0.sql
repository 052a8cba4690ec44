-- view_0's rows sorted by time, as a date-partitioned or incrementally built table is laid out (bench_training_set.py --partial).
select * from read_parquet('{{ env_var("FS_BENCH_DATA") }}/features_v0_100000x100_by_time.parquet')
