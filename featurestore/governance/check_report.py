"""What a run of `fs check` found: one `CheckResult` per view and check (or feature and
check), gathered in a `CheckReport` with its status, exit code and summary. The checks
(check.py) fill it in; the history table (history.py) records it; the CLI renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from featurestore.console import plural
from featurestore.errors import EXIT_CHECK_FAILURES, EXIT_CHECK_WARNINGS

STATUSES = ("ok", "warn", "fail")


@dataclass(frozen=True)
class CheckResult:
    """One check of one view (feature None) or feature: what was measured and its status."""

    view: str
    feature: str | None
    check: str
    status: str
    value: float | None
    baseline: float | None
    threshold: float | None
    detail: str
    figures: dict[str, Any] = field(default_factory=dict, compare=False)
    """Every figure behind the value (counts, bin edges, shares), for --json."""

    @property
    def subject(self) -> str:
        return f"{self.view}:{self.feature}" if self.feature else self.view

    def to_dict(self) -> dict:
        return {
            "view": self.view,
            "feature": self.feature,
            "check": self.check,
            "status": self.status,
            "value": self.value,
            "baseline": self.baseline,
            "threshold": self.threshold,
            "detail": self.detail,
            **self.figures,
        }


@dataclass
class CheckReport:
    run_id: str
    run_at: datetime
    """When the run happened (real clock, naive UTC): the history's `run_at`."""
    now: datetime
    """The project's now, which the checks are measured at (feature_store.yml clock.now, else the clock)."""
    views: list[str] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    history_table: str | None = None
    """Where the run was recorded."""

    @property
    def findings(self) -> list[CheckResult]:
        """The results that are not ok, failures first."""
        return sorted((r for r in self.results if r.status != "ok"), key=lambda r: r.status != "fail")

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def status(self) -> str:
        return "fail" if self.count("fail") else "warn" if self.count("warn") else "ok"

    @property
    def exit_code(self) -> int:
        """0 all good, EXIT_CHECK_WARNINGS for warnings only, EXIT_CHECK_FAILURES for any failure."""
        return {"ok": 0, "warn": EXIT_CHECK_WARNINGS, "fail": EXIT_CHECK_FAILURES}[self.status]

    def summary(self) -> str:
        counted = f"{plural(len(self.views), 'view')}, {plural(len(self.results), 'check')}"
        if self.status == "ok":
            found = "all ok"
        else:
            found = ", ".join(
                plural(self.count(s), noun) for s, noun in (("fail", "failure"), ("warn", "warning")) if self.count(s)
            )
        where = f", recorded in {self.history_table}" if self.history_table else ""
        return f"fs check at {self.now.isoformat()}: {counted}: {found} (run {self.run_id}{where})"

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "run_at": self.run_at.isoformat(),
            "now": self.now.isoformat(),
            "status": self.status,
            "views": self.views,
            "counts": {s: self.count(s) for s in STATUSES},
            "history_table": self.history_table,
            "results": [r.to_dict() for r in self.results],
        }
