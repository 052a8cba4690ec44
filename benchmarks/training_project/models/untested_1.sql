select * from read_parquet('{{ env_var("FS_BENCH_DATA") }}/features_v1_100000x100.parquet')
