"""Screenshots of every page of the lab, for the README (docs/screenshots/<page>.png).

    python docs/screenshots.py [--out docs/screenshots] [--width 1280 --height 860]

Starts ``streamlit run app/main.py`` on a free local port with the shipped zoo, an empty
user home and a fresh result cache (so what is shown is what a new user sees on first open:
the shipped results), drives the system Chromium through Playwright over every page of
``app.ui.PAGES``, waits for each page's figures, and writes one PNG per page. Needs
``/usr/bin/chromium`` (or ``--chromium PATH``); nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: pages whose first view draws a Plotly figure (waited for before the screenshot)
WITH_FIGURES = {"start", "transferability", "robustness", "diversity", "distill", "saliency", "decision_regions",
                "detection", "cce_subsets"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, ROBUST_ENSEMBLES_HOME=str(home / "home"), ROBUST_ENSEMBLES_CACHE=str(home / "cache"),
               PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "main.py"),
                             "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=open(home / "streamlit.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, 15)
    raise SystemExit("error: streamlit did not start:\n" + (home / "streamlit.log").read_text())


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    from app import ui

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=860)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--pages", help="comma-separated page modules (default: every page)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pages = [m for m, _t, _i in ui.PAGES if not args.pages or m in args.pages.split(",")]
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        proc, url = serve(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                context = browser.new_context(viewport={"width": args.width, "height": args.height})
                context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url.split("/")[2]
                              or not route.request.url.startswith("http") else route.abort())
                page = context.new_page()
                for module in pages:
                    page.goto(f"{url}/{'' if module == ui.PAGES[0][0] else module}")  # the default page is at /
                    page.locator("[data-testid='stSidebarNav']").wait_for(timeout=180_000)
                    if module in WITH_FIGURES:
                        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=180_000)
                    page.wait_for_timeout(2500)  # let the figures finish drawing
                    path = out / f"{module}.png"
                    page.screenshot(path=str(path))
                    print(f"{path} ({path.stat().st_size // 1024} KB)", flush=True)
                browser.close()
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
