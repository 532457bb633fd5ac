"""The app in a real browser (Playwright driving the system Chromium against
``streamlit run``): train a quick DVERGE ensemble from the Train page, wait for it, open
Transferability, move the ε slider, see the heatmap change, download it as a PNG; and a
tour of the shipped zoo: click a heatmap cell and see its adversarial examples."""
from __future__ import annotations

import csv
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


def _finished_running(page) -> None:
    """Wait until the page's script run has ended in the browser (what Streamlit's own browser
    tests wait for): then every element on screen is the one that run drew. A figure is
    redrawn before the buttons under it, so a click right after it changed may still hit the
    previous run's button (app/downloads.py makes that click download too)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


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

        # 2. Transferability page: compute (the whole ε grid), then slide.
        page.goto(app_url + "/transferability")
        expect(page.get_by_text("Transferability within the ensemble")).to_be_visible()
        page.get_by_role("button", name=re.compile("Compute for 1 ensemble.*whole ε grid")).click()
        title = page.locator(".js-plotly-plot .annotation-text").first  # subplot titles are annotations
        expect(title).to_contain_text("ε=0.1", timeout=300_000)
        before = page.locator(".js-plotly-plot").first.inner_text()

        thumb = page.get_by_role("slider").first
        thumb.focus()
        thumb.press("ArrowRight")
        expect(title).to_contain_text("ε=0.12", timeout=30_000)
        after = page.locator(".js-plotly-plot").first.inner_text()
        assert after != before  # cell values changed with ε

        # 3. Export: the PNG download is a real PNG, of the ε on screen.
        _finished_running(page)
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
        _finished_running(page)
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="CSV", exact=True).click()
        rows = download.value.path().read_text().splitlines()
        assert rows[0].startswith("ensemble,method,members") and len(rows) >= 2
        browser.close()


def _local(url: str) -> bool:
    from urllib.parse import urlparse

    return urlparse(url).hostname in ("127.0.0.1", "localhost", None) or url.startswith(("data:", "blob:", "about:"))


def test_tour_of_the_shipped_zoo(shipped_app_url, tmp_path):
    """The shipped zoo, an empty result cache: the Transferability heatmap is there at once
    (shipped results) and its cells are clickable: they show the adversarial examples."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(shipped_app_url + "/transferability")
        expect(page.get_by_text("Transferability within the ensemble")).to_be_visible(timeout=120_000)
        heatmap = page.locator(".js-plotly-plot").first
        expect(heatmap.locator(".annotation-text").first).to_contain_text("ε=0.1", timeout=120_000)

        # Cell (source member 0, target member 1) of the first panel: 4 columns (members +
        # ensemble), 3 rows from the top.
        heatmap.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        box = heatmap.locator(".nsewdrag").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 1.5 / 4, box["y"] + box["height"] * 0.5 / 3)
        expect(page.get_by_text(re.compile("adversarial examples from member 0, judged by member 1"))).to_be_visible(
            timeout=60_000)
        expect(page.locator(".js-plotly-plot").nth(1).locator("g.im image").first).to_be_attached()

        # The leaderboard: a row per shipped ensemble of the data set (numbers not computed yet
        # are empty cells, computed by its background job), exportable as CSV.
        page.goto(shipped_app_url + "/leaderboard")
        expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible(timeout=120_000)
        expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible(timeout=120_000)
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="CSV", exact=True).click()
        rows = list(csv.reader(download.value.path().read_text().splitlines()))
        assert rows[0][:3] == ["ensemble", "method", "members"]
        methods = {row[1] for row in rows[1:]}
        assert {"baseline", "dverge", "trs", "igat_dverge"} <= methods, methods
        browser.close()


ANALYSIS_PAGES = ["transferability", "robustness", "diversity", "distill", "saliency", "decision_regions",
                  "detection", "cce_subsets", "report"]


def test_every_analysis_page_shows_a_figure_on_first_open(shipped_app_url):
    """Shipped zoo, empty user cache: each analysis page, and the report, draws a chart without any click."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in ANALYSIS_PAGES:
            page.goto(f"{shipped_app_url}/{name}")
            expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=120_000)
            if name == "robustness":  # white-box, black-box (shipped at the page's 100 samples), overlaid
                expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=120_000)
            expect(page.get_by_role("button", name=re.compile("^Compute"))).to_have_count(0, timeout=60_000)
            page.wait_for_timeout(1000)  # the page has finished: still no "Compute"
            assert page.get_by_role("button", name=re.compile("^Compute")).count() == 0, name
        browser.close()


def test_the_figure_slider_repaints_the_precomputed_grid_without_the_server(shipped_app_url):
    """With the ε grid cached (shipped), the heatmap figure carries every ε: moving its own
    slider repaints in the browser; no websocket message and no HTTP request is sent."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sent, requests = [], []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(shipped_app_url + "/transferability")
        heatmap = page.locator(".js-plotly-plot").first
        title = heatmap.locator(".annotation-text").first
        expect(title).to_contain_text("ε=0.1,", timeout=120_000)
        rail = heatmap.locator(".slider-rail-touch-rect").first
        expect(rail).to_be_attached()
        page.wait_for_timeout(3000)  # let the page settle (late component messages)
        sent.clear(), requests.clear()
        before = heatmap.inner_text()
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)  # the first step: the grid's smallest ε
        expect(title).to_contain_text("ε=0.01,", timeout=5_000)
        assert heatmap.inner_text() != before  # the cell values changed with ε
        page.wait_for_timeout(2000)
        assert sent == [] and requests == [], (sent[:3], requests[:5])
        browser.close()


def test_an_offline_browser_sees_no_request_leave_the_machine_and_no_deploy_button(shipped_app_url):
    """Every page, with the network blocked (any host but 127.0.0.1 aborted): nothing is
    requested from another host (every asset is local), and the header has no "Deploy"."""
    from playwright.sync_api import expect, sync_playwright

    from app import ui

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        outside = []

        def guard(route):
            if _local(route.request.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        for i, (module, _title, _icon) in enumerate(ui.PAGES):
            page.goto(f"{shipped_app_url}/{module if i else ''}")  # the default page is at /
            expect(page.locator("[data-testid='stSidebarNav']")).to_be_visible(timeout=120_000)
            page.wait_for_timeout(1500)
            assert not page.locator("[data-testid='stAppDeployButton']").is_visible(), module
        assert outside == [], sorted(set(outside))
        browser.close()


def test_a_long_analysis_runs_as_a_job_that_survives_a_reload(shipped_app_url, tmp_path):
    """Robustness page, shipped zoo: a white-box request that is not cached (150 samples)
    states its expected time, starts as a background job with progress and a whole-job ETA,
    keeps running through a page reload (the new session finds the job by its requests'
    cache keys) and ends in its own figure without a second click."""
    from playwright.sync_api import expect, sync_playwright

    def ask_for_150_samples(page):
        expect(page.get_by_role("heading", name="White-box")).to_be_visible(timeout=120_000)
        settings = page.locator("[data-testid='stExpander']").first
        settings.get_by_text("Settings").click()
        box = settings.get_by_label(re.compile("^samples"))
        box.fill("150")
        box.press("Enter")
        page.wait_for_timeout(500)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)

        page.goto(shipped_app_url + "/robustness")
        ask_for_150_samples(page)
        expect(page.get_by_text(re.compile("Expected time:")).first).to_be_visible()
        start = page.get_by_role("button", name=re.compile(r"Compute for \d ensemble\(s\) in the background"))
        start.first.click()
        status = page.get_by_text(re.compile(r"whitebox · .* done · ETA"))
        expect(status.first).to_be_visible(timeout=180_000)

        page.reload()  # a new session: nothing of the old one but the job store on disk
        ask_for_150_samples(page)
        running = page.get_by_text(re.compile(r"whitebox · .* done"))
        expect(running.first).to_be_visible(timeout=60_000)
        assert page.get_by_role("button", name="Cancel").count() >= 1
        # the job continues to the end and the page draws its own figure (no second click)
        expect(running).to_have_count(0, timeout=900_000)
        expect(page.get_by_text(re.compile("Showing the previous result"))).to_have_count(0, timeout=60_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        assert page.get_by_role("button", name=re.compile(r"Compute for \d ensemble\(s\) in the background")).count() \
            == 0  # the black-box analysis is shipped too
        browser.close()
