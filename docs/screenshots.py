"""Screenshots of every page of the lab, for the README (docs/screenshots/<page>.png).

    python docs/screenshots.py [--out docs/screenshots] [--width 1280 --height 860] [--check]

Starts ``streamlit run app/main.py`` on a free local port with the shipped zoo, an empty
user home and a fresh result cache (so what is shown is what a new user sees on first open:
the shipped results), drives the system Chromium through Playwright over every page of
``app.ui.PAGES``, waits until each page has finished (the script run is over, no element is
still a loading placeholder, and the page's figures and tables are drawn: :data:`WAIT_FOR`),
and writes one PNG per page. ``--check`` then fails (exit 1) on a missing or blank PNG.
Needs ``/usr/bin/chromium`` (or ``--chromium PATH``); nothing leaves 127.0.0.1.
``.ci/run`` runs it with ``--check`` into the folder CI keeps.
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

PLOT = ".js-plotly-plot .main-svg"
TABLE = "[data-testid='stDataFrame'] canvas, [data-testid='stTable'] table"
#: what each page draws on first open with the shipped zoo (waited for before the screenshot)
WAIT_FOR = {"start": [PLOT], "zoo": [TABLE], "leaderboard": [TABLE], "transferability": [PLOT],
            "robustness": [PLOT], "diversity": [PLOT], "distill": [PLOT], "saliency": [PLOT],
            "decision_regions": [PLOT], "detection": [PLOT], "cce_subsets": [PLOT],
            # the report's analyses are not shipped yet (engine/shipped_results.py): its tables, or its button
            "report": [f"{TABLE}, button:has-text('Compute report')"]}
#: still loading: Streamlit's placeholders while an element's data arrives, and its status
#: widget (the running indicator and "Stop" in the header, shown while the page script runs)
LOADING = "[data-testid='stSkeleton']:visible, [data-testid='stStatusWidget']:visible"


def wait_until_drawn(page, module: str, timeout_ms: int = 180_000) -> None:
    """Wait until ``page`` shows ``module``'s finished first view: the sidebar, every element
    of :data:`WAIT_FOR` visible, no loading placeholder left, and two animation frames with
    nothing left to lay out (Plotly draws asynchronously after its SVG appears)."""
    page.locator("[data-testid='stSidebarNav']").wait_for(timeout=timeout_ms)
    for selector in WAIT_FOR.get(module, []):
        page.locator(selector).first.wait_for(state="visible", timeout=timeout_ms)
    deadline = time.time() + timeout_ms / 1000
    while page.locator(LOADING).count() and time.time() < deadline:
        page.wait_for_timeout(250)
    if page.locator(LOADING).count():
        raise TimeoutError(f"{module}: still loading after {timeout_ms / 1000:.0f} s")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def blank_reason(path: Path, sidebar_px: int = 300) -> str | None:
    """Why the screenshot at ``path`` is unusable (missing, or its main panel -- right of the
    sidebar -- almost all one colour), or None when it shows something."""
    from PIL import Image

    if not path.is_file() or path.stat().st_size == 0:
        return "missing"
    with Image.open(path) as image:
        main = image.convert("L").crop((sidebar_px, 0, image.width, image.height))
    histogram = main.histogram()
    share = max(histogram) / max(sum(histogram), 1)
    if share > 0.995:
        return f"blank: {share:.1%} of the main panel is one colour"
    return None


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
    parser.add_argument("--check", action="store_true", help="exit 1 if a page's PNG is missing or blank")
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
                    path = out / f"{module}.png"
                    started = time.time()
                    try:
                        wait_until_drawn(page, module)
                    except Exception as exc:  # noqa: BLE001 - record what the page shows and go on
                        print(f"{module}: not drawn: {exc}", file=sys.stderr, flush=True)
                        page.screenshot(path=str(out / f"{module}.not-drawn.png"))
                        continue
                    page.screenshot(path=str(path))
                    print(f"{path} ({path.stat().st_size // 1024} KB, drawn in {time.time() - started:.1f} s)",
                          flush=True)
                browser.close()
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    if args.check:
        problems = {m: blank_reason(out / f"{m}.png") for m in pages}
        problems = {m: why for m, why in problems.items() if why}
        for module, why in problems.items():
            print(f"error: screenshot of page {module}: {why}", file=sys.stderr)
        if problems:
            return 1
        print(f"{len(pages)} page screenshots in {out}, none blank")
    return 0


if __name__ == "__main__":
    sys.exit(main())
