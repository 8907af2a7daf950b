"""Regenerate the figures under docs/images/ from the committed ZhangLab quick records: every
leaderboard figure (PNG and PDF) and two screenshots of the web board in headless Chromium.

    python docs/make_images.py     # needs Debian's chromium (or UADBENCH_CHROMIUM) and playwright
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = Path("results") / "zhanglab-quick"
"""Relative to ROOT, where the commands run: the board names the folder as a checkout has it."""
IMAGES = ROOT / "docs" / "images"
OPENED_ROW = "anatpaste"
"""The row opened in the second screenshot: one with training curves."""


def main() -> None:
    uadbench = [sys.executable, "-c", "from uadbench.cli import main; main()"]
    subprocess.run(
        [*uadbench, "plot", "--results-dir", RECORDS, "--out", IMAGES], check=True, cwd=ROOT
    )
    with tempfile.TemporaryDirectory() as site:
        title = "ZhangLab quick leaderboard"
        command = [*uadbench, "board", "--results-dir", RECORDS, "--out", site, "--title", title]
        subprocess.run(command, check=True, cwd=ROOT)
        screenshots(Path(site) / "index.html")


def screenshots(page_file: Path) -> None:
    """The board as it opens, and with one row opened."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("UADBENCH_CHROMIUM") or shutil.which("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1050})
        page.goto(page_file.as_uri())
        page.wait_for_function("window.uadbenchBoard && window.uadbenchBoard.ready")
        page.screenshot(path=IMAGES / "board.png")
        page.get_by_role("cell", name=OPENED_ROW, exact=True).click()
        page.wait_for_timeout(1000)  # Plotly's first draw
        page.locator(".details:not([hidden])").screenshot(path=IMAGES / "board-row.png")
        browser.close()


if __name__ == "__main__":
    main()
