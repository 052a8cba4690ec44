"""A screenshot of one page of the feature site, for the README: `fs docs` on the project into
a temporary folder, the page opened from disk in the system's headless Chromium.

    python scripts/screenshot_docs.py --project-dir . --view weather_hourly --out docs/images/fs-docs-view.png

Needs the project built (scripts/demo.sh or fs build), Chromium (apt-get install chromium)
and playwright (in the test extra).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from featurestore import FeatureStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", default=".")
    parser.add_argument("--view", default="weather_hourly", help="the feature view whose page is shot")
    parser.add_argument("--out", default="docs/images/fs-docs-view.png")
    parser.add_argument("--height", type=int, default=1500, help="pixels of the page, from its top")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        site = FeatureStore(args.project_dir).docs(Path(folder) / "site")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport={"width": 1280, "height": args.height})
            page.goto((site.index.parent / "views" / f"{args.view}.html").as_uri())
            page.screenshot(path=args.out)
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
