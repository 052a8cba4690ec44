"""RESP, the Redis wire protocol, framed here for the two hot paths: reading many entities and
writing a view's rows. redis-py frames one command at a time in Python, which for these takes
longer than the server's whole work (docs/benchmarks.md); the bytes made here are the ones
redis-py would send (tests/unit/test_online_resp.py checks that).

Rows are framed column by column with Arrow compute, at C speed: `bulk_strings` turns every
text of an array into a RESP bulk string, and `concat` joins arrays row by row. The result is
an Arrow string array with one entry per row, and its data buffer already holds every row's
bytes back to back: `RowBytes` hands out runs of rows from it without copying.

Text is UTF-8 on the wire, as Arrow holds it; fs's clients keep redis-py's default encoding,
UTF-8, so keys written here and keys read through redis-py are the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pyarrow as pa

ENCODING = "utf-8"


def bulk(text: str) -> bytes:
    """One bulk string: `$<byte length>\\r\\n<bytes>\\r\\n`."""
    data = text.encode(ENCODING)
    return b"$%d\r\n%s\r\n" % (len(data), data)


def command_head(argument_count: int, name: str) -> bytes:
    """The start of a command of `argument_count` words, its name included; the caller
    appends the other words as bulk strings."""
    return b"*%d\r\n%s" % (argument_count, bulk(name))


def command(words: Sequence[str]) -> bytes:
    """One whole command."""
    return command_head(len(words), words[0]) + b"".join(bulk(word) for word in words[1:])


def hmget_commands(keys: Sequence[str], fields: Sequence[str]) -> bytes:
    """One `HMGET key *fields` per key, back to back."""
    head = command_head(len(fields) + 2, "HMGET")
    tail = b"".join(bulk(f) for f in fields)
    return b"".join([b"%s$%d\r\n%s\r\n%s" % (head, len(k), k, tail) for k in (k.encode(ENCODING) for k in keys)])


def bulk_strings(texts: "pa.Array") -> "pa.Array":
    """Each text as a bulk string; a null stays null (the caller decides what it means)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.binary_length(texts).cast(pa.string())
    return pc.binary_join_element_wise("$", lengths, "\r\n", texts, "\r\n", "")


def concat(*parts: "pa.Array | str | bytes") -> "pa.Array":
    """Row by row, the parts one after another (a str or bytes part is the same for every
    row); null where any part is null."""
    import pyarrow.compute as pc

    texts = [part.decode(ENCODING) if isinstance(part, bytes) else part for part in parts]
    return pc.binary_join_element_wise(*texts, "")


class RowBytes:
    """The bytes of a string array's rows, handed out by runs of rows without copying."""

    def __init__(self, rows: "pa.Array"):
        import numpy as np
        import pyarrow as pa

        if isinstance(rows, pa.ChunkedArray):
            rows = rows.combine_chunks()
        if rows.type != pa.string():  # the offsets below are read as int32
            raise TypeError(f"framed rows must be an Arrow string array, not {rows.type}")
        if rows.null_count:
            raise ValueError("a framed row is null: some part of it was null and not filled")
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)
        self.offsets = offsets[rows.offset : rows.offset + len(rows) + 1]
        self.data = memoryview(rows.buffers()[2] or b"")
        self.rows = rows  # keeps the buffers alive

    def span(self, start: int, stop: int) -> memoryview:
        """The bytes of rows `start` to `stop` (exclusive), back to back."""
        return self.data[self.offsets[start] : self.offsets[stop]]
