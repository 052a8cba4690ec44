select * from read_parquet('{{ env_var("FS_BENCH_DATA") }}/features_v2_100000x100.parquet')
