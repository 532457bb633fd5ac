"""The app in a real browser (Playwright driving the system Chromium against
``streamlit run``): train a quick DVERGE ensemble from the Train page, wait for it, open
Transferability, move the ε slider, see the heatmap change, download it as a PNG; and a
tour of the shipped zoo: click a heatmap cell and see its adversarial examples."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path, shipped: bool):
    """``streamlit run`` on a free port with an empty user home and result cache; with or
    without the shipped zoo. Yields the URL."""
    port = _free_port()
    env = dict(os.environ, ROBUST_ENSEMBLES_HOME=str(tmp_path / "home"), ROBUST_ENSEMBLES_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=str(REPO))
    if not shipped:
        env["ROBUST_ENSEMBLES_SHIPPED"] = str(tmp_path / "no-shipped-zoo")
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "main.py"),
                             "--server.port", str(port), "--server.headless", "true"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)
    # background training workers started by the app
    subprocess.run(["pkill", "-f", f"engine worker.*{tmp_path}"], check=False)


@pytest.fixture
def app_url(tmp_path):
    yield from _serve(tmp_path, shipped=False)


@pytest.fixture
def shipped_app_url(tmp_path):
    yield from _serve(tmp_path, shipped=True)


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(re.compile("^" + re.escape(label)))
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(300)


def test_train_then_explore_transferability_in_a_browser(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)  # a busy CI machine takes more than 5 s to draw a page

        # 1. Train page: the classic one-click DVERGE run, shrunk to a few thousand images.
        page.goto(app_url + "/train")
        expect(page.get_by_text("Train an ensemble")).to_be_visible()
        _set_number(page, "Training images", 2000)
        _set_number(page, "Baseline pre-training epochs", 1)
        _set_number(page, "Epochs", 1)
        page.get_by_role("button", name=re.compile("Start training: 3 × lenet5 dverge")).click()
        # .first: while the finished job triggers a full rerun, the fragment's old copy of the
        # message is briefly on screen beside the new one.
        expect(page.get_by_text(re.compile("Saved to")).first).to_be_visible(timeout=900_000)

        # 2. Transferability page: precompute the ε grid, then slide.
        page.goto(app_url + "/transferability")
        expect(page.get_by_text("Transferability within the ensemble")).to_be_visible()
        page.get_by_role("button", name=re.compile("Precompute the ε grid")).click()
        title = page.locator(".js-plotly-plot .annotation-text").first  # subplot titles are annotations
        expect(title).to_contain_text("ε=0.1", timeout=300_000)
        before = page.locator(".js-plotly-plot").first.inner_text()

        thumb = page.get_by_role("slider").first
        thumb.focus()
        thumb.press("ArrowRight")
        expect(title).to_contain_text("ε=0.12", timeout=30_000)
        after = page.locator(".js-plotly-plot").first.inner_text()
        assert after != before  # cell values changed with ε

        # 3. Export: the PNG download is a real PNG.
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="PNG", exact=True).click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "transferability" in path.name and "dverge" in path.name and "eps=0.12" in path.name

        # 4. Leaderboard: one row per zoo ensemble of the data set, its CSV export.
        page.goto(app_url + "/leaderboard")
        expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
        expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="CSV", exact=True).click()
        rows = download.value.path().read_text().splitlines()
        assert rows[0].startswith("ensemble,method,members") and len(rows) >= 2
        browser.close()


def _local(url: str) -> bool:
    from urllib.parse import urlparse

    return urlparse(url).hostname in ("127.0.0.1", "localhost", None) or url.startswith(("data:", "blob:", "about:"))


def test_tour_of_the_shipped_zoo(shipped_app_url, tmp_path):
    """The shipped zoo, an empty result cache: the Transferability heatmap's cells are
    clickable and show the adversarial examples behind them."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(shipped_app_url + "/transferability")
        expect(page.get_by_text("Transferability within the ensemble")).to_be_visible(timeout=120_000)
        page.get_by_text("Settings").first.click()
        _set_number(page, "samples", 20)
        _set_number(page, "steps", 3)
        page.get_by_role("button", name=re.compile("Compute for")).click()
        heatmap = page.locator(".js-plotly-plot").first
        expect(heatmap.locator(".annotation-text").first).to_contain_text("ε=0.1", timeout=300_000)

        # Cell (source member 0, target member 1) of the first panel: 4 columns (members +
        # ensemble), 3 rows from the top.
        heatmap.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        box = heatmap.locator(".nsewdrag").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 1.5 / 4, box["y"] + box["height"] * 0.5 / 3)
        expect(page.get_by_text(re.compile("adversarial examples from member 0, judged by member 1"))).to_be_visible(
            timeout=60_000)
        expect(page.locator(".js-plotly-plot").nth(1).locator("g.im image").first).to_be_attached()
        browser.close()
