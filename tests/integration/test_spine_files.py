"""`fs training-set` over spine files a user may well have: a parquet column named like
DuckDB's own row number, a key that the views' key type cannot hold, the spine given as the
output too. Each either works as any other spine or is one line and exit 2."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.errors import EXIT_USAGE, EXIT_WAREHOUSE
from tests.online_fixtures import TINY_COLUMNS, TINY_VIEW, online, row, tiny, write_tiny_manifest  # noqa: F401

pytestmark = pytest.mark.integration


def test_a_parquet_spine_column_named_file_row_number_is_kept_in_the_files_order(tiny, tmp_path, cli):
    """DuckDB's read_parquet(file_row_number = true) adds a column of that name; the user's
    own column of that name stays theirs, and the rows keep the file's order (several row
    groups, so a scan out of order would show)."""
    tiny.set_rows([row("c1", 20, orders=1), row("c2", 20, orders=2), row("c3", 20, orders=3)])
    n = 30_000
    customers = [f"c{(i * 7) % 4}" for i in range(n)]  # c0 has no rows: null orders
    spine = pa.table(
        {
            "customer_id": customers,
            "event_timestamp": pa.array([datetime(2024, 2, 25)] * n),
            "file_row_number": pa.array([n - i for i in range(n)], pa.int64()),
        }
    )
    path = tmp_path / "spine.parquet"
    pq.write_table(spine, path, row_group_size=1_000)
    out = tmp_path / "out.parquet"
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine", str(path), "--features", f"{TINY_VIEW}:orders", "-o", str(out)
    )
    assert (code, err) == (0, ""), err
    result = pq.read_table(out)
    assert result.column_names == ["customer_id", "event_timestamp", "file_row_number", "orders"]
    assert result.select(spine.column_names).to_pylist() == spine.to_pylist()
    assert result["orders"].to_pylist() == [None if c == "c0" else int(c[1]) for c in customers]


INTEGER_KEYS = {**TINY_COLUMNS, "customer_id": "integer"}


@pytest.mark.parametrize("spine_format", ["csv", "parquet"])
def test_a_spine_key_the_views_key_type_cannot_hold_is_one_line_and_exit_2(tiny, tmp_path, cli, spine_format):
    """As for a spine timestamp that is not one: the line names the spine's column and a bad
    value, not the engine's conversion error (which was exit 4, the warehouse's)."""
    write_tiny_manifest(tiny.root, INTEGER_KEYS)
    tiny.set_rows([row(1, 20, orders=1), row(2, 20, orders=2)], INTEGER_KEYS)
    path = tmp_path / f"spine.{spine_format}"
    pa_table = pa.table({"customer_id": ["2", "abc", "1"], "event_timestamp": [datetime(2024, 2, 25)] * 3})
    if spine_format == "csv":
        path.write_text("customer_id,event_timestamp\n2,2024-02-25 00:00:00\nabc,2024-02-25 00:00:00\n1,2024-02-25 00:00:00\n")
    else:
        pq.write_table(pa_table, path)
    out = tmp_path / "out.parquet"
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine", str(path), "--features", f"{TINY_VIEW}:orders", "-o", str(out)
    )
    assert (code, stdout) == (EXIT_USAGE, "")
    assert err == (
        f"error: spine file {path}: join key column 'customer_id' holds values that cannot be cast to INT32, "
        f"the type of the key in {TINY_VIEW}, e.g. 'abc'\n"
    )
    assert not out.exists()


KEY_TYPES = {
    "DECIMAL(18,3)": ("decimal(18,3)", [1, 2]),
    "DATE": ("date", [datetime(2024, 1, 1).date(), datetime(2024, 1, 2).date()]),
    "TIMESTAMP": ("timestamp", [datetime(2024, 1, 1), datetime(2024, 1, 2)]),
}


@pytest.mark.parametrize("type_name", list(KEY_TYPES))
def test_a_spine_key_a_decimal_date_or_timestamp_key_cannot_hold_is_one_line_and_exit_2(tiny, tmp_path, cli, type_name):
    """DuckDB words these conversion errors otherwise (`Could not convert string "abc" to
    DECIMAL(18,3)`, `invalid date field format: "abc"`): the same line, not exit 4."""
    key_type, keys = KEY_TYPES[type_name]
    types = {**TINY_COLUMNS, "customer_id": key_type}
    write_tiny_manifest(tiny.root, types)
    tiny.set_rows([row(keys[0], 20, orders=1), row(keys[1], 20, orders=2)], types)
    path = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"customer_id": [str(keys[0]), "abc"], "event_timestamp": [datetime(2024, 2, 25)] * 2}), path)
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine", str(path), "--features", f"{TINY_VIEW}:orders",
        "-o", str(tmp_path / "out.parquet"),
    )
    assert (code, stdout) == (EXIT_USAGE, "")
    assert err == (
        f"error: spine file {path}: join key column 'customer_id' holds values that cannot be cast to {type_name}, "
        f"the type of the key in {TINY_VIEW}, e.g. 'abc'\n"
    )


def test_a_views_own_bad_cast_is_the_warehouses_error_not_the_spines(tiny, tmp_path, cli):
    """A view whose SQL casts its own text ('' to a number) fails the join whatever the spine
    holds: DuckDB names the view's source column, which is no spine key, so it is exit 4
    with DuckDB's line, even when the spine's text key holds the same value ''."""
    import duckdb

    tiny.set_rows([row("", 20, orders=1)])
    with duckdb.connect(str(tiny.database)) as con:
        con.execute(f"create table main.raw_stats as select * exclude (orders), '' as orders_txt from main.{TINY_VIEW}")
        con.execute(f"drop table main.{TINY_VIEW}")
        con.execute(
            f"create view main.{TINY_VIEW} as select * exclude (orders_txt), cast(orders_txt as bigint) as orders from main.raw_stats"
        )
    path = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"customer_id": [""], "event_timestamp": [datetime(2024, 2, 25)]}), path)
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine", str(path), "--features", f"{TINY_VIEW}:orders",
        "-o", str(tmp_path / "out.parquet"),
    )
    assert (code, stdout) == (EXIT_WAREHOUSE, ""), err
    assert "orders_txt" in err and "spine" not in err, err


def test_spine_keys_of_text_that_all_cast_to_the_views_key_type_join_as_before(tiny, tmp_path, cli):
    write_tiny_manifest(tiny.root, INTEGER_KEYS)
    tiny.set_rows([row(1, 20, orders=1), row(2, 20, orders=2)], INTEGER_KEYS)
    path = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"customer_id": ["2", None, "1"], "event_timestamp": [datetime(2024, 2, 25)] * 3}), path)
    out = tmp_path / "out.parquet"
    code, _, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine", str(path), "--features", f"{TINY_VIEW}:orders", "-o", str(out)
    )
    assert (code, err) == (0, "")
    assert pq.read_table(out)["orders"].to_pylist() == [2, None, 1]


@pytest.mark.parametrize("spelling", ["same path", "another spelling", "a symlink"])
def test_an_output_that_is_the_spine_file_is_refused_and_the_spine_kept(tiny, tmp_path, cli, spelling):
    tiny.set_rows([row("c1", 20, orders=1)])
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    spine = data / "spine.csv"
    spine.write_text("customer_id,event_timestamp\nc1,2024-02-25 00:00:00\n")
    output = {
        "same path": spine,
        "another spelling": data / "sub" / ".." / "spine.csv",
        "a symlink": data / "link.csv",
    }[spelling]
    if spelling == "a symlink":
        output.symlink_to(spine)
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine", str(spine), "--features", f"{TINY_VIEW}:orders",
        "-o", str(output),
    )
    assert (code, stdout) == (EXIT_USAGE, "")
    # The output as fs resolves it: the file the rows would replace.
    assert err == f"error: output file {spine} is the spine file; write the training set to another file\n"
    assert spine.read_text() == "customer_id,event_timestamp\nc1,2024-02-25 00:00:00\n"
    assert sorted(p.name for p in data.iterdir()) == sorted(["spine.csv", "sub", *(["link.csv"] if spelling == "a symlink" else [])])


@pytest.mark.parametrize("spelling", ["the path", "a glob", "another spelling"])
def test_an_output_file_the_spine_query_names_is_refused_and_the_spine_kept(tiny, tmp_path, cli, spelling):
    """--spine-sql reading a file, and -o the same file: the training set would replace the
    rows it is made from. Refused where the query names the file in a string literal."""
    tiny.set_rows([row("c1", 20, orders=1)])
    spine = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"customer_id": ["c1"], "event_timestamp": [datetime(2024, 2, 25)]}), spine)
    named = {"the path": str(spine), "a glob": str(tmp_path / "*.parquet"), "another spelling": f"{tmp_path}/./sub/../spine.parquet"}[spelling]
    (tmp_path / "sub").mkdir()
    before = spine.read_bytes()
    code, stdout, err = cli(
        "training-set", "--project-dir", str(tiny.root), "--spine-sql", f"select * from read_parquet('{named}')",
        "--features", f"{TINY_VIEW}:orders", "-o", str(spine),
    )
    assert (code, stdout) == (EXIT_USAGE, "")
    assert err == (
        f"error: output file {spine} is read by the spine query ('{named}'); write the training set to another file\n"
    )
    assert spine.read_bytes() == before
