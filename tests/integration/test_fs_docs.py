"""`fs docs`: the feature site of the demo built by real dbt, its figures checked against the
warehouse, the fs check history drawn from a table filled here, and the pages driven in a
real headless Chromium (file://, no server): no console error, search finds a feature, charts
render.

The browser is the system's Chromium (Debian's `chromium` package), driven by playwright. A
machine without it skips the browser test with the reason; with FS_TEST_REQUIRE_BROWSER=1 (as
.ci/run sets) a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timedelta
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from featurestore import FeatureStore
from featurestore.errors import EXIT_USAGE
from featurestore.governance.site import NO_CHECK_RUN
from tests.online_fixtures import TINY_COLUMNS, TINY_VIEW, write_tiny_manifest

pytestmark = pytest.mark.integration

REQUIRE_BROWSER = "FS_TEST_REQUIRE_BROWSER"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def demo(built_project, tmp_path_factory) -> Path:
    """A copy of the built demo: the tests add a check history table to its warehouse."""
    copy = tmp_path_factory.mktemp("docs") / "project"
    shutil.copytree(built_project, copy, ignore=shutil.ignore_patterns(".fs"))
    return copy


HISTORY_ROWS = [
    # run, days after the first run, view, feature, check, status, value, baseline, threshold, detail
    ("run-1", 0, "weather_hourly", None, "freshness", "ok", 1.0, None, 3.0, "hours since the newest row"),
    ("run-1", 0, "weather_hourly", "origin__wind_gust_mph", "nulls", "ok", 0.78, 0.79, 0.1, None),
    ("run-2", 1, "weather_hourly", None, "freshness", "ok", 2.0, None, 3.0, "hours since the newest row"),
    ("run-2", 1, "weather_hourly", "origin__wind_gust_mph", "nulls", "warn", 0.88, 0.79, 0.1, "null rate up 9 points"),
    ("run-3", 2, "weather_hourly", None, "freshness", "fail", 30.0, None, 3.0, "hours since the newest row"),
    ("run-3", 2, "weather_hourly", "origin__wind_gust_mph", "nulls", "fail", 0.99, 0.79, 0.1, "null rate up 20 points"),
    ("run-3", 2, "carrier_daily", "carrier__dep_delay_rate__7d", "drift", "ok", 0.02, None, 0.2, "psi"),
]
FIRST_RUN = datetime(2013, 12, 29, 6, 0)


def add_check_history(project: Path) -> None:
    """The table fs check appends to, with the columns it has, filled with three runs."""
    with duckdb.connect(str(project / "feature_store.duckdb")) as con:
        con.execute(
            "create table main.fs_check_history (run_id text, run_at timestamp, view text, feature text, "
            "check_name text, status text, value double, baseline double, threshold double, detail text)"
        )
        for run, days, *rest in HISTORY_ROWS:
            con.execute("insert into main.fs_check_history values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (run, FIRST_RUN + timedelta(days=days), *rest))


@pytest.fixture(scope="module")
def sites(demo) -> dict[str, Path]:
    """The site before any fs check ran, and after three runs."""
    before = demo / "site-before"
    FeatureStore(demo).docs(before)
    add_check_history(demo)
    after = demo / "site"
    FeatureStore(demo).docs(after)
    return {"before": before, "after": after}


class Page(HTMLParser):
    """What the tests read of a page: links, ids, and each element's text by id."""

    def __init__(self, path: Path):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.titles: list[str] = []  # <title> of SVG marks, in order
        self._stack: list[str] = []
        self._in_mark_title = False
        self.text = ""
        self.feed(path.read_text())

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if "id" in attributes:
            self.ids.add(attributes["id"])
        self._in_mark_title = tag == "title" and bool(self._stack) and self._stack[-1] == "mark"
        self._stack.append("mark" if "mark" in (attributes.get("class") or "").split() else tag)

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()
        self._in_mark_title = False

    def handle_data(self, data):
        self.text += data
        if self._in_mark_title:
            self.titles.append(data)


def feature_section(html: str, feature: str) -> str:
    start = html.index(f'id="feature-{feature}"')
    return html[start : html.index("</article>", start)]


def rows_in_marks(section: str) -> int:
    """The rows the chart's marks say they hold (`...: 1,234 rows`)."""
    return sum(int(n.replace(",", "")) for n in re.findall(r"<title>[^<]*: ([\d,]+) rows", section))


def test_every_demo_feature_has_its_freshness_and_distribution_two_clicks_from_the_index(demo, sites):
    site = sites["before"]
    catalog = FeatureStore(demo).catalog()
    index = Page(site / "index.html")
    con = duckdb.connect(str(demo / "feature_store.duckdb"), read_only=True)
    try:
        for view in catalog:
            link = f"views/{view.name}.html"
            assert link in index.links  # click one
            html = (site / link).read_text()
            page = Page(site / link)
            assert {"freshness", "lineage", "features"} <= page.ids
            newest = con.execute(f"select max({view.timestamp}) from main.{view.relation.identifier} where {view.timestamp} <= ?", [datetime(2013, 12, 31, 0, 30)]).fetchone()[0]
            freshness = html[html.index('id="freshness"') : html.index('id="lineage"')]
            assert f"<dd>{newest:%Y-%m-%d %H:%M}</dd>" in freshness
            for feature in view.features:
                assert f"feature-{feature.name}" in page.ids
                if view.is_aggregation:
                    continue  # computed per spine row: no stored values to profile
                total, non_null = con.execute(f"select count(*), count({feature.name}) from main.{view.relation.identifier}").fetchone()
                section = feature_section(html, feature.name)
                rate = 1 - non_null / total
                shown = "<0.1%" if 0 < rate < 0.001 else f"{rate:.1%}"
                assert f"null rate <strong>{escape(shown)}</strong> of {total:,} rows" in section, (view.name, feature.name)
                # The chart's marks account for every non-null value of the feature.
                assert '<svg class="chart"' in section
                assert rows_in_marks(section) == non_null, (view.name, feature.name)
    finally:
        con.close()


def test_lineage_and_services_come_from_the_manifest(sites):
    site = sites["before"]
    route = Page(site / "views/route_daily.html")
    assert "model stg_flights" in route.text and "../services/flight_delay_model.html" in route.links
    assert "service flight_delay_model: 2 of 5 features" in route.text
    service = Page(site / "services/flight_delay_model.html")
    assert "../views/plane_daily@v1.html#feature-plane__age_years" in service.links  # the version it pins
    assert "../views/plane_daily@v1.html#feature-plane__seats" not in service.links  # not one of its features
    # its on-demand feature, with the expression that computes it
    assert "flight_request:flight__scheduled_speed_mph" in service.text
    assert "route_daily.route__distance_mi * 60 / scheduled_minutes" in service.text


def test_without_fs_check_the_history_says_so(sites):
    for page in ("history.html", "index.html", "views/carrier_daily.html"):
        assert NO_CHECK_RUN in Page(sites["before"] / page).text


def test_the_check_history_is_drawn_per_view_check_and_feature(sites):
    site = sites["after"]
    history = (site / "history.html").read_text()
    assert NO_CHECK_RUN not in history
    weather = history[history.index('id="view-weather_hourly"') :]
    charts = re.findall(r"<figure>.*?</figure>", weather, re.S)
    points = [re.findall(r'<circle class="mark status-(\w+)"', chart) for chart in charts]
    assert points[:2] == [["ok", "ok", "fail"], ["ok", "warn", "fail"]]  # freshness (view), nulls (gust)
    assert 'class="threshold"' in charts[0]
    # The view page shows the latest run's results; the index counts them.
    view = Page(site / "views/weather_hourly.html")
    assert "Run run-3" in view.text and "null rate up 20 points" in view.text
    freshness = (site / "views/weather_hourly.html").read_text().split('id="freshness"')[1].split('id="lineage"')[0]
    assert '<dt>last fs check</dt><dd><span class="badge fail">fail</span> 30 (hours since the newest row) at 2013-12-31 06:00</dd>' in freshness
    index = (site / "index.html").read_text()
    row = re.search(r'history.html#view-weather_hourly">weather_hourly</a></td>(.*?)</tr>', index, re.S)[1]
    assert re.findall(r">(\d+)</td>", row) == ["0", "0", "2"]


def test_fs_docs_prints_one_line_and_refuses_a_folder_it_did_not_write(demo, cli, clean_env):
    out = demo / "site-cli"
    code, stdout, stderr = cli("docs", "--out", str(out), "--project-dir", str(demo))
    assert (code, stderr) == (0, "")
    assert stdout == (
        f"wrote the feature site to {out / 'index.html'}: 6 views, 41 features, 1 service, 3 fs check runs; open it in a browser\n"
    )
    code, stdout, _ = cli("docs", "--out", str(out), "--json", "--project-dir", str(demo))  # its own site: replaced
    assert code == 0 and json.loads(stdout)["check_runs"] == 3
    mine = demo / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    code, stdout, stderr = cli("docs", "--out", str(mine), "--project-dir", str(demo))
    assert code == EXIT_USAGE and stdout == ""
    assert stderr == f"error: --out {mine} exists and is not a site fs docs wrote; choose an empty or new folder (fs docs replaces its own site only)\n"
    assert (mine / "keep.txt").read_text() == "mine"


def test_an_out_fs_cannot_make_is_one_line(demo, cli, clean_env, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("a file, not a folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    cases = [blocker / "site"]
    if os.access(locked, os.W_OK) is False:  # root writes anywhere
        cases.append(locked / "site")
    for out in cases:
        code, stdout, stderr = cli("docs", "--out", str(out), "--project-dir", str(demo))
        assert (code, stdout) == (EXIT_USAGE, "")
        assert stderr.startswith(f"error: --out {out}: cannot make a folder there (") and stderr.count("\n") == 1, stderr


def test_fs_docs_dbt_writes_dbts_site_as_one_page_and_links_it(demo, cli, clean_env):
    out = demo / "site-dbt"
    code, _, stderr = cli("docs", "--dbt", "--out", str(out), "--project-dir", str(demo))
    assert (code, stderr) == (0, "")
    static = demo / "target" / "static_index.html"
    assert static.stat().st_size > 0
    link = next(href for href in Page(out / "index.html").links if href.endswith("static_index.html"))
    assert (out / link).resolve() == static.resolve()


def test_a_view_not_built_is_a_warning_and_a_page_without_figures(tmp_path, cli, clean_env):
    write_tiny_manifest(tmp_path, TINY_COLUMNS)
    duckdb.connect(str(tmp_path / "demo.duckdb")).close()  # the warehouse, without the view's table
    out = tmp_path / "site"
    code, stdout, stderr = cli("docs", "--out", str(out), "--project-dir", str(tmp_path))
    assert code == 0
    assert stderr == (
        f"warning: feature view '{TINY_VIEW}' is not built: demo.main.{TINY_VIEW} does not exist in the warehouse; "
        "run `fs build` (or `dbt build`); its page shows no figures\n"
    )
    assert stdout.endswith(f"no fs check run yet; not built, so without figures: {TINY_VIEW}; open it in a browser\n")
    assert "not built: run fs build, then fs docs again." in Page(out / "views" / f"{TINY_VIEW}.html").text


# -- in a real browser ---------------------------------------------------------------------------
def chromium_path() -> str | None:
    configured = os.environ.get("FS_TEST_CHROMIUM")
    if configured:
        return configured
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser():
    def unavailable(reason: str):
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_BROWSER}=1 requires it (apt-get install chromium)")
        pytest.skip(f"{reason}: apt-get install chromium to run the browser test")

    executable = chromium_path()
    if executable is None:
        unavailable("no Chromium on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable)
        yield instance
        instance.close()


def open_page(browser, path: Path, problems: list[str]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda message: problems.append(f"{path.name}: console {message.type}: {message.text}") if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"{path.name}: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"{path.name}: failed to load {request.url}"))
    page.goto(path.as_uri())
    return page


def test_the_site_in_a_browser(sites, browser, tmp_path):
    site = sites["after"]
    problems: list[str] = []
    for path in sorted(site.rglob("*.html")):
        page = open_page(browser, path, problems)
        # Every request stays on disk: nothing from a server or the internet.
        assert page.evaluate("[...document.querySelectorAll('[src],[href]')].every(e => !/^https?:/.test(e.getAttribute('src') || e.getAttribute('href')))")
        page.close()
    assert problems == []

    # Search finds a feature, and its result leads to the feature on its view's page.
    index = open_page(browser, site / "index.html", problems)
    index.fill("#search", "gust")
    results = index.locator("#results li")
    assert results.count() == 1
    assert "origin__wind_gust_mph" in results.first.inner_text()
    results.first.locator("a").click()
    index.wait_for_url(re.compile(r"views/weather_hourly\.html#feature-origin__wind_gust_mph$"))
    feature = index.locator("#feature-origin__wind_gust_mph")
    assert feature.is_visible()
    # Its chart renders: an SVG with bars of real size.
    bars = feature.locator("svg.chart .mark")
    assert bars.count() > 5
    assert all(box["height"] >= 1 and box["width"] > 1 for box in (bars.nth(i).bounding_box() for i in range(bars.count())))
    index.close()

    history = open_page(browser, site / "history.html", problems)
    points = history.locator("#view-weather_hourly svg.chart circle.mark")
    assert points.count() == 6 and points.first.bounding_box()["width"] > 0
    shot = tmp_path / "history.png"
    history.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history.close()
    assert problems == []
