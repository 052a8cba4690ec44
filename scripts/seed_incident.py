"""Seed the demo's documented incident into a COPY of the project, for `fs check` to find.

The incident (docs/monitoring.md): on 2013-12-24 the weather loader was switched to a new
vendor feed, which reports temperature in degrees Celsius instead of Fahrenheit and no dew
point at all, and which stopped delivering after 2013-12-29 06:00 UTC. The demo's
weather_hourly model is rewritten to read the weather through that feed; its dbt tests still
pass (Celsius winter temperatures are in range), which is the point: only the monitoring
sees it. Then `fs build --select weather_hourly` and `fs check`.

    cp -r . /tmp/incident && python scripts/seed_incident.py --project-dir /tmp/incident
"""

from __future__ import annotations

import argparse
from pathlib import Path

MODEL = Path("models/features/weather_hourly.sql")

SWITCHED = "cast('2013-12-24' as timestamp)"
STOPPED = "cast('2013-12-29 06:00' as timestamp)"

# The model's text as the demo has it -> the same read through the broken feed.
EDITS = {
    "cast(temp as": f"cast(case when observed_at >= {SWITCHED} then (temp - 32) * 5 / 9 else temp end as",
    "cast(dewp as": f"cast(case when observed_at >= {SWITCHED} then null else dewp end as",
    "\nfrom observations": f"\nfrom observations\n-- SEEDED INCIDENT (scripts/seed_incident.py): the feed stopped.\nwhere observed_at < {STOPPED}",
}


def seed(project_dir: Path) -> Path:
    """Rewrite the copy's weather_hourly model to read through the broken feed."""
    model = project_dir / MODEL
    sql = model.read_text()
    if "SEEDED INCIDENT" in sql:
        return model
    if any(sql.count(before) != 1 for before in EDITS):
        raise SystemExit(f"{model} is not the demo's weather_hourly model; seed the incident into a copy of the demo")
    for before, after in EDITS.items():
        sql = sql.replace(before, after)
    model.write_text(sql)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, required=True, help="a copy of the demo project (never the original)")
    args = parser.parse_args()
    print(f"seeded the weather feed incident into {seed(args.project_dir)}")


if __name__ == "__main__":
    main()
