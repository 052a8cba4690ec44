select * from parquet.`{{ env_var("FS_BENCH_FEATURES") }}`
