#!/usr/bin/env bash
# Proves the README's two commands on a machine with only Python: clones this repository (its
# committed HEAD) into a temp folder and runs scripts/demo.sh, then scripts/test.sh, there with
# every Redis and PostgreSQL program (redis-server, valkey-server, postgres, pg_ctl, initdb,
# psql, ...) hidden from PATH and no FS_*, DBT_*, PG* or REDIS* variables. Then it checks that
# the machine's own Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) were not used:
#
# - every connect() of the two runs is traced (strace, when installed) and none may reach port
#   6379 or 5432 or the services' unix sockets: this is the proof, since other programs on a
#   shared machine may be using those servers meanwhile;
# - no new schema or database may appear in the machine's PostgreSQL;
# - the servers' own counters (Redis: connections and commands; PostgreSQL: sessions) are shown
#   before and after, for the record.
#
#   scripts/check_fresh_machine.sh [--keep]      # --keep: leave the temp folder for a look
#
# It takes several minutes: a fresh venv (pip's cache makes it a minute or two), the demo's load
# and dbt build, and the whole suite with its own throwaway servers.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=false
[ "${1:-}" = "--keep" ] && keep=true

work=$(mktemp -d /tmp/fs-fresh-XXXXXX)
say() { printf '%s\n' "check: $*"; }
cleanup() {
  # The demo leaves the project's own Redis server running (as fs does): stop it.
  if [ -f "$work/repo/.fs/redis.pid" ]; then kill "$(cat "$work/repo/.fs/redis.pid")" 2>/dev/null || true; fi
  if $keep; then say "left $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The machine's clients, found before they are hidden (for the before/after readings only).
redis_cli=$(command -v redis-cli || true)
psql=$(command -v psql || true)
redis_reading() {
  [ -n "$redis_cli" ] || { echo "no redis-cli"; return; }
  "$redis_cli" -h 127.0.0.1 -p 6379 info stats 2>/dev/null |
    tr -d '\r' | grep -E '^total_(connections_received|commands_processed):' | tr '\n' ' ' || echo "no Redis at 6379"
}
pg_query() { [ -n "$psql" ] && "$psql" -h 127.0.0.1 -p 5432 -U postgres -d test -XAtqc "$1" 2>/dev/null || true; }
pg_schemas() { pg_query "select datname from pg_database union all select nspname from pg_namespace where nspname !~ '^pg_temp_|^pg_toast_temp_' order by 1"; }
pg_sessions() { pg_query "select sum(sessions) from pg_stat_database"; }

# A PATH of symlinks to every executable on the current PATH but the servers' programs.
bin="$work/bin"
"$repo/scripts/path_without_servers.sh" "$bin"
say "hidden from PATH: redis-server, valkey-server, pg_ctl, postgres, initdb, redis-cli, psql (command -v finds none)"

git clone --quiet "$repo" "$work/repo"
say "cloned $(git -C "$work/repo" log -1 --format='%h %s' | cut -c1-80) into $work/repo"

# The environment of the runs: this one, less anything naming a server or a dbt setting.
unset_args=()
while IFS= read -r name; do unset_args+=(-u "$name"); done < <(env | cut -d= -f1 | grep -E '^(FS_|DBT_|PG|REDIS)' || true)
tracer=()
if command -v strace >/dev/null 2>&1; then
  tracer=(strace -f --seccomp-bpf -qq -e trace=connect -e signal=none)
else
  say "strace is not installed: connections are judged by the servers' counters only (apt-get install strace)"
fi

schemas_before=$(pg_schemas)
sessions_before=$(pg_sessions)
redis_before=$(redis_reading)

# The processes of a run: every one has the PATH made for it in its environment.
run_processes() {
  grep -lsF "$bin" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | grep -vx "$$" | tr '\n' ' ' || true
}

status=0
for command in demo test; do
  log="$work/$command.log" rc="$work/$command.rc"
  trace=("${tracer[@]}")
  [ ${#trace[@]} -eq 0 ] || trace+=(-o "$work/$command.connects")
  say "running scripts/$command.sh (output: $log)"
  start=$SECONDS
  # In the background, since strace waits for every process the run started, and the demo
  # leaves the project's Redis server running (as fs does): it is stopped once the script ends.
  (cd "$work/repo" && exec "${trace[@]}" env "${unset_args[@]}" PATH="$bin" \
    bash -c 'scripts/'"$command"'.sh; echo $? >"$0"' "$rc" </dev/null >"$log" 2>&1) &
  runner=$!
  while [ ! -s "$rc" ] && kill -0 "$runner" 2>/dev/null; do sleep 1; done
  elapsed=$((SECONDS - start))
  if [ "$(cat "$rc" 2>/dev/null)" = 0 ]; then
    say "scripts/$command.sh passed in $elapsed s; its last lines:"
  else
    say "FAIL: scripts/$command.sh failed after $elapsed s; its last lines:"
    status=1
  fi
  tail -n 4 "$log" | sed 's/^/    /'
  if [ "$command" = demo ] && [ -f "$work/repo/.fs/redis.pid" ]; then
    server=$(cat "$work/repo/.fs/redis.pid")
    say "the demo's Redis server: $(readlink "/proc/$server/exe" 2>/dev/null || echo '(not running)')"
    kill "$server" 2>/dev/null || true
  fi
  # Nothing else of the run may be left running.
  for _ in $(seq 30); do kill -0 "$runner" 2>/dev/null || break; sleep 1; done
  left=$(run_processes)
  if [ -n "${left// /}" ]; then
    say "FAIL: processes of the run still running, now stopped: $(echo $left)"
    kill $left 2>/dev/null || true
    status=1
  fi
  wait "$runner" || true
done

say "the machine's services:"
if [ ${#tracer[@]} -gt 0 ]; then
  machine='htons\((6379|5432)\)|/run/(postgresql|redis)/'
  connects=$(cat "$work"/*.connects | grep -c 'connect(' || true)
  touched=$(cat "$work"/*.connects | grep -E "$machine" || true)
  if [ -n "$touched" ]; then
    say "FAIL: the runs connected to the machine's Redis or PostgreSQL:"
    echo "$touched" | head -n 5 | sed 's/^/    /'
    status=1
  else
    say "  connect() calls traced in the runs: $connects; to port 6379, port 5432 or their unix sockets: 0"
  fi
fi
schemas_after=$(pg_schemas)
new_schemas=$(comm -13 <(echo "$schemas_before") <(echo "$schemas_after"))
if [ -n "$new_schemas" ]; then
  say "FAIL: new schemas or databases in the machine's PostgreSQL: $(echo $new_schemas)"
  status=1
else
  say "  PostgreSQL: no new schema or database ($(echo "$schemas_after" | grep -c .) before and after)"
fi
say "  PostgreSQL sessions (all users of the machine): $sessions_before before, $(pg_sessions) after"
say "  Redis counters (all users of the machine): before: $redis_before"
say "                                              after:  $(redis_reading)"

if [ $status -eq 0 ]; then say "PASS"; else say "FAILED"; fi
exit $status
