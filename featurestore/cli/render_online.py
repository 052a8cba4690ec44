"""How the online store's results are shown: sync summaries, online reads, parity reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.console import Console, plural

if TYPE_CHECKING:
    from featurestore.online.push import PushSummary
    from featurestore.online.reader import OnlineFeatures
    from featurestore.online.sync import SyncSummary
    from featurestore.online.verify import VerifyReport

SHOWN_MISMATCHES = 50


def show_sync(summary: "SyncSummary", console: Console, as_json: bool) -> None:
    """The `--json` document, or one line on stdout saying what was synced (a log kept by cron
    gets a line per run); and, when several views failed, a line on stderr for each (one
    failure is the error fs exits with)."""
    failed = summary.failed
    if len(failed) > 1:
        for view, error in failed.items():
            console.error(str(error) if view in str(error) else f"view '{view}' was not synced: {error}")
    if as_json:
        console.json(summary.to_dict())
        return
    removed = summary.removed_offline
    synced = len(summary.views) - len(summary.failed) - len(removed)
    if not synced and failed:
        return  # nothing was done: the error says why
    offered = len(summary.views) - len(removed)
    of = f"{synced} of {plural(offered, 'view')}" if failed else plural(synced, "view")
    # Views now online: false whose data was deleted: said in the line a cron log keeps.
    gone = "".join(
        f"; removed {v.view} (online: false) from Redis: {plural(v.removed_keys, 'key')}" for v in removed
    )
    console.print(
        f"synced {of} to {summary.redis} ({summary.key_prefix}): "
        f"{plural(summary.total('rows_read'), 'row')} read, {plural(summary.total('keys_written'), 'key')} written, "
        f"{summary.total('skipped_older'):,} skipped as older, {summary.total('expired'):,} expired{gone}, "
        f"in {summary.seconds:.1f} s"
    )


def show_push(summary: "PushSummary", console: Console, as_json: bool) -> None:
    """The `--json` document, or one line saying what the push wrote where."""
    if as_json:
        console.json(summary.to_dict())
    else:
        console.print(summary.line())


def show_online_features(features: "OnlineFeatures", console: Console) -> None:
    """The values as JSON on stdout; on stderr, a hint when a view was never synced to this
    Redis, as all its features then read "missing" for every entity."""
    console.json(features.to_dict())
    if features.never_synced:
        views = ", ".join(features.never_synced)
        console.warn(
            f"{views} {'was' if len(features.never_synced) == 1 else 'were'} never synced to {features.store}: "
            "run fs sync (then fs verify-online compares Redis with the warehouse)"
        )


def show_verify(report: "VerifyReport", console: Console, as_json: bool) -> None:
    if as_json:
        console.json(report.to_dict())
        return
    checked = sum(report.checked.values())
    scope = f"{plural(checked, 'entity', 'entities')} of {plural(len(report.checked), 'view')}" + (f" (sample of {report.sample} per view)" if report.sample else "")
    if not report.mismatches:
        console.print(f"Redis agrees with the warehouse at {report.now.isoformat()}: {scope} checked")
        return
    rows = [
        (m.view, _entity(m.entity), m.problem, m.feature or "", _value(m.online), _value(m.warehouse))
        for m in report.mismatches[:SHOWN_MISMATCHES]
    ]
    console.table(
        ["view", "entity", "problem", "feature", "online", "warehouse"],
        rows,
        title=f"{plural(len(report.mismatches), 'mismatch', 'mismatches')} at {report.now.isoformat()}, {scope} checked",
        shorten=["online", "warehouse"],
        wrap=["problem"],
    )
    if len(report.mismatches) > SHOWN_MISMATCHES:
        console.print(f"... and {len(report.mismatches) - SHOWN_MISMATCHES} more (--json lists them all)")


def _entity(entity: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in entity.items())


def _value(value: object) -> str:
    if value is None:
        return "-"
    return value.isoformat() if hasattr(value, "isoformat") else repr(value) if isinstance(value, str) else str(value)
