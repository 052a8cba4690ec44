"""What `fs check` watches on a feature view, read from its meta: the freshness SLA
(`freshness:`) and the quality thresholds (`checks:`), validated strictly, one clear line per
bad value. docs/monitoring.md explains each figure and why the defaults are what they are.

    freshness: 2h                      # or {warn_after: 1h, fail_after: 2h}; default: fail past the ttl
    checks:
      window: 7d                       # the recent window, ending at the project's now
      baseline: 28d                    # the trailing baseline just before it
      volume: {warn: 0.2, fail: 0.5}   # relative change of rows per day, either way
      nulls: {warn: 0.1, fail: 0.3}    # rise of a feature's null rate, as a share of rows
      drift: {warn: 1.5, fail: 3.0}    # population stability index (PSI)
      features:
        origin__wind_gust_mph: {nulls: {warn: 0.2}, drift: false}   # false turns a check off
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta


from featurestore.catalog.keys import Fail, refuse_unknown_keys
from featurestore.catalog.ttl import MAX_TTL_TEXT, VALID_TTL, TtlOutOfRange, not_a_duration, parse_ttl
from featurestore.errors import closest



@dataclass(frozen=True)
class Thresholds:
    """A finding is a warning at `warn` or past it, a failure at `fail` or past it; None
    leaves that level out."""

    warn: float | None
    fail: float | None

    def status(self, value: float) -> str:
        if self.fail is not None and value >= self.fail:
            return "fail"
        if self.warn is not None and value >= self.warn:
            return "warn"
        return "ok"

    def applied(self, status: str) -> float | None:
        """The threshold a value was measured against: the one it crossed, else the lowest."""
        if status == "fail":
            return self.fail
        return self.warn if self.warn is not None else self.fail


@dataclass(frozen=True)
class Freshness:
    """How old a view's newest row may get (as of the project's now) before a finding."""

    warn_after: timedelta | None
    fail_after: timedelta | None

    def thresholds(self) -> Thresholds:
        """The same limits in hours, the unit fs check reports ages in."""
        hours = lambda d: None if d is None else d.total_seconds() / 3600  # noqa: E731
        return Thresholds(hours(self.warn_after), hours(self.fail_after))


DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_BASELINE = timedelta(days=28)
# Volume and nulls: a real feed's week differs from its month by a few percent (the demo's
# by at most 5%); a lost partition or a broken join moves them by tens of percent.
DEFAULT_VOLUME = Thresholds(warn=0.2, fail=0.5)
DEFAULT_NULLS = Thresholds(warn=0.1, fail=0.3)
# PSI's textbook 0.1 / 0.25 are for a scored population month on month. A week of real,
# seasonal features against the four weeks before moves far more (the demo's clean December
# reaches 1.0: weather, holiday delays), while a unit or scale error puts the recent window
# into one bin and scores 4 or more. These defaults flag errors, not seasons.
DEFAULT_DRIFT = Thresholds(warn=1.5, fail=3.0)

CHECK_KINDS = ("volume", "nulls", "drift")
FEATURE_CHECK_KINDS = ("nulls", "drift")


@dataclass(frozen=True)
class CheckSettings:
    """The thresholds of one view; None for a check that is turned off."""

    window: timedelta = DEFAULT_WINDOW
    baseline: timedelta = DEFAULT_BASELINE
    volume: Thresholds | None = DEFAULT_VOLUME
    nulls: Thresholds | None = DEFAULT_NULLS
    drift: Thresholds | None = DEFAULT_DRIFT
    features: tuple[tuple[str, str, Thresholds | None], ...] = ()
    """(feature, check kind, its own thresholds) where a feature's differ from the view's; a
    tuple, not a mapping, so that a view stays hashable."""

    def for_feature(self, feature: str, kind: str) -> Thresholds | None:
        own = {(name, k): thresholds for name, k, thresholds in self.features}
        return own[feature, kind] if (feature, kind) in own else getattr(self, kind)


CHECKS_KEYS = {
    "window": "the recent window, e.g. 7d",
    "baseline": "the trailing baseline before the window, e.g. 28d",
    "volume": "thresholds on the change of rows per day",
    "nulls": "thresholds on the rise of each feature's null rate",
    "drift": "thresholds on each feature's PSI",
    "features": "per-feature nulls and drift thresholds",
}
FRESHNESS_KEYS = ("warn_after", "fail_after")
THRESHOLD_KEYS = ("warn", "fail")


def parse_freshness(value: object, ttl: timedelta | None, fail: Fail) -> Freshness | None:
    """`freshness:` of a view's meta; absent means "fail past the ttl" (None without a ttl)."""
    if value is None:
        return Freshness(None, ttl) if ttl is not None else None
    if isinstance(value, str):
        return Freshness(None, _duration(value, "freshness", fail))
    if not isinstance(value, dict) or not value:
        raise fail(
            f"meta.feature_store.freshness must be a duration or a mapping, not {value!r}",
            "for example freshness: 2h, or freshness: {warn_after: 1h, fail_after: 2h}",
        )
    _known(value, FRESHNESS_KEYS, "freshness", fail)
    limits = {key: _duration(value[key], f"freshness.{key}", fail) if value.get(key) is not None else None for key in FRESHNESS_KEYS}
    if limits["warn_after"] and limits["fail_after"] and limits["warn_after"] > limits["fail_after"]:
        raise fail("freshness.warn_after is longer than freshness.fail_after", "warn first: warn_after <= fail_after")
    if not any(limits.values()):
        raise fail("meta.feature_store.freshness sets neither warn_after nor fail_after")
    return Freshness(**limits)


def parse_checks(value: object, features: tuple[str, ...], fail: Fail) -> CheckSettings:
    """`checks:` of a view's meta, over the defaults."""
    if value is None:
        return CheckSettings()
    if not isinstance(value, dict):
        raise fail(f"meta.feature_store.checks must be a mapping, not {value!r}", "keys: " + ", ".join(CHECKS_KEYS))
    _known(value, CHECKS_KEYS, "checks", fail)
    settings = CheckSettings()
    for key in ("window", "baseline"):
        if value.get(key) is not None:
            settings = replace(settings, **{key: _duration(value[key], f"checks.{key}", fail)})
    for kind in CHECK_KINDS:
        if kind in value:
            settings = replace(settings, **{kind: _thresholds(value[kind], getattr(CheckSettings(), kind), f"checks.{kind}", fail)})
    own = value.get("features")
    if own is None:
        return settings
    if not isinstance(own, dict):
        raise fail(f"meta.feature_store.checks.features must map feature names to checks, not {own!r}")
    per_feature: list[tuple[str, str, Thresholds | None]] = []
    for name, checks in own.items():
        if name not in features:
            hint = closest(str(name), features)
            raise fail(
                f"checks.features names '{name}', which is not a feature of the view",
                (f"did you mean '{hint[0]}'? " if hint else "") + "features: " + ", ".join(features),
            )
        if not isinstance(checks, dict):
            raise fail(f"checks.features.{name} must be a mapping of nulls and drift, not {checks!r}")
        _known(checks, FEATURE_CHECK_KINDS, f"checks.features.{name}", fail)
        per_feature.extend(
            (name, kind, _thresholds(checks[kind], getattr(settings, kind) or getattr(CheckSettings(), kind), f"checks.features.{name}.{kind}", fail))
            for kind in FEATURE_CHECK_KINDS
            if kind in checks
        )
    return replace(settings, features=tuple(per_feature))


def _thresholds(value: object, defaults: Thresholds, where: str, fail: Fail) -> Thresholds | None:
    """`{warn: x, fail: y}` over `defaults` (either may be left out, or null to drop that
    level), or `false` to turn the check off."""
    if value is False:
        return None
    if not isinstance(value, dict) or not value:
        raise fail(f"{where} must be a mapping of warn and fail, or false, not {value!r}", "for example {warn: 0.1, fail: 0.3}")
    _known(value, THRESHOLD_KEYS, where, fail)
    levels = {"warn": defaults.warn, "fail": defaults.fail}
    for key in THRESHOLD_KEYS:
        if key not in value:
            continue
        number = value[key]
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float)) or not number >= 0 or number == float("inf")):
            raise fail(f"{where}.{key} must be a number, zero or more, not {number!r}")
        levels[key] = None if number is None else float(number)
    if levels["warn"] is not None and levels["fail"] is not None and levels["warn"] > levels["fail"]:
        raise fail(f"{where}.warn ({levels['warn']:g}) is above {where}.fail ({levels['fail']:g})", "warn first: warn <= fail")
    if levels["warn"] is None and levels["fail"] is None:
        raise fail(f"{where} leaves neither warn nor fail", "write false to turn the check off")
    return Thresholds(**levels)


def _duration(text: object, where: str, fail: Fail) -> timedelta:
    try:
        return parse_ttl(text)  # type: ignore[arg-type]
    except TtlOutOfRange as error:
        raise fail(f"{where} '{text}' is zero or too long", f"valid: more than zero and at most {MAX_TTL_TEXT}") from error
    except ValueError as error:
        raise fail(not_a_duration(f"{where} '{text}'", error), VALID_TTL) from error


def _known(mapping: dict, keys, where: str, fail: Fail) -> None:
    refuse_unknown_keys(mapping, keys, f"meta.feature_store.{where}", fail)
