"""How `fs check` is shown: one line per finding and a summary line, or the --json document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.console import Console

if TYPE_CHECKING:
    from featurestore.governance.check import CheckReport

LABELS = {"fail": "FAIL", "warn": "WARN"}


def show_check(report: "CheckReport", console: Console, as_json: bool) -> None:
    """On stdout, the same on a terminal and in a cron log: a line per finding, failures
    first (`FAIL view:feature check: detail`), then the summary."""
    if as_json:
        console.json(report.to_dict())
        return
    for finding in report.findings:
        threshold = "" if finding.threshold is None else f"; {finding.status} at {_threshold(finding)}"
        console.print(f"{LABELS[finding.status]} {finding.subject} {finding.check}: {finding.detail}{threshold}")
    console.print(report.summary())


def _threshold(finding) -> str:
    if finding.check == "freshness":
        return f"an age of {finding.threshold:g} h"
    if finding.check == "drift":
        return f"PSI {finding.threshold:g}"
    if finding.check == "nulls":
        return f"a rise of {finding.threshold * 100:g} points"
    return f"a change of ±{finding.threshold:.0%}"
