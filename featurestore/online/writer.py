"""Writing one view's latest rows into Redis: pipelined, and never older over newer.

Rows go to the server in calls of a Lua script, each carrying a few hundred rows, and several
calls travel in one pipelined round trip. The script checks each row against what is stored,
on the server, so no reader and no other writer can slip between the check and the write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from featurestore.online.layout import ROW_FIELDS, EncodedRows, ViewSchema

if TYPE_CHECKING:
    import redis

# KEYS: the entity hashes. ARGV: the number of features, the timestamp field, the created_at
# field ("" without one), the feature names; then for each key, in order: the remaining
# lifetime in ms (0 = none), the event timestamp, the created_at ("" = none), a 0/1 flag per
# feature (1 = not null), and one value per feature.
#
# A stored row wins when its (timestamp, knowledge time) is greater, the knowledge time being
# created_at or, where that is null, the timestamp: the order the warehouse query picks the
# latest row in. Text order is time order because every timestamp has the same width. An
# equal row is written again (a re-run). The hash is replaced whole, so a feature that became
# null loses its field.
WRITE_SCRIPT = """
local nfeatures = tonumber(ARGV[1])
local ts_field, created_field = ARGV[2], ARGV[3]
local width = 4 + nfeatures
local header = 3 + nfeatures
local written, skipped = 0, 0
for i, key in ipairs(KEYS) do
  local at = header + (i - 1) * width
  local ts, created = ARGV[at + 2], ARGV[at + 3]
  local stored = redis.call('HMGET', key, ts_field, created_field)
  local older = false
  if stored[1] then
    local known, stored_known = created ~= '' and created or ts, stored[2] or stored[1]
    older = ts < stored[1] or (ts == stored[1] and known < stored_known)
  end
  if older then
    skipped = skipped + 1
  else
    local fields = {ts_field, ts}
    if created ~= '' then
      fields[3] = created_field
      fields[4] = created
    end
    local present = ARGV[at + 4]
    for j = 1, nfeatures do
      if string.byte(present, j) == 49 then
        fields[#fields + 1] = ARGV[3 + j]
        fields[#fields + 1] = ARGV[at + 4 + j]
      end
    end
    if stored[1] then
      redis.call('DEL', key)
    end
    redis.call('HSET', key, unpack(fields))
    local lifetime = tonumber(ARGV[at + 1])
    if lifetime > 0 then
      redis.call('PEXPIRE', key, lifetime)
    end
    written = written + 1
  end
end
return {written, skipped}
"""

class ViewWriter:
    """Writes encoded rows of one view; counts what was written and what was older."""

    rows_per_call = 500
    """Rows per script call: enough to pay little per call, few enough that one call holds
    the server for about a millisecond."""
    calls_per_round_trip = 20

    def __init__(self, client: "redis.Redis", schema: ViewSchema, after_round_trip: Callable[[int], None] = lambda rows: None):
        self.client = client
        self.header = [len(schema.features), schema.timestamp, schema.created_at or "", *schema.feature_names]
        self.row_width = len(ROW_FIELDS) + len(schema.features)
        self.after_round_trip = after_round_trip
        self.sha = client.script_load(WRITE_SCRIPT)
        self.written = 0
        self.skipped_older = 0

    def write(self, rows: EncodedRows) -> None:
        assert rows.row_width == self.row_width, "rows encoded for another schema"
        width, step = rows.row_width, self.rows_per_call
        pipe = self.client.pipeline(transaction=False)
        queued_rows = 0
        for start in range(0, len(rows.keys), step):
            keys = rows.keys[start : start + step]
            values = rows.values[start * width : (start + len(keys)) * width]
            pipe.evalsha(self.sha, len(keys), *keys, *self.header, *values)
            queued_rows += len(keys)
            if len(pipe) == self.calls_per_round_trip:
                self._send(pipe, queued_rows)
                queued_rows = 0
        if len(pipe):
            self._send(pipe, queued_rows)

    def _send(self, pipe: "redis.client.Pipeline", rows: int) -> None:
        for written, skipped in pipe.execute():
            self.written += written
            self.skipped_older += skipped
        self.after_round_trip(rows)
