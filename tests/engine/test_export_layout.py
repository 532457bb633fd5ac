"""Every figure kind's export (PNG and SVG) looks like the screen: nothing clipped, no
title over a tick label.

Each analysis runs (small settings) on two shipped zoo ensembles compared side by side,
its figure is built as the app builds it (with Streamlit's plotly template active, which
is what clipped the app's exports), exported, and the SVG is opened in Chromium: every
text element's real bounding box must lie inside the canvas, and tick labels, axis
titles, the figure title, subplot titles, legend and colour-bar texts must not overlap
one another (texts drawn inside the plot area by the traces themselves are not checked).
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine import analyses as analysis
from engine import export
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)")

SHIPPED = [REPO / "checkpoints" / "dverge", REPO / "checkpoints" / "baseline"]
SMALL = {
    "transferability": {"eps": 0.1, "samples": 12, "steps": 2, "examples": 1},
    "whitebox": {"samples": 20, "steps": 2, "restarts": 1, "eps": [0.0, 0.05, 0.1]},
    "blackbox": {"samples": 20, "steps": 2, "restarts": 1, "eps": [0.1], "surrogates": [str(REPO / "checkpoints" / "surrogate_3")],
                 "attacks": ["pgd-momentum"], "losses": ["ce"]},
    "diversity": {"samples": 6, "steps": 2},
    "distill": {"steps": 2, "layers": [2]},
    "decision-region": {"resolution": 7},
    "saliency": {},
    "detection": {"samples": 20, "steps": 2},
    "cce-subsets": {"samples": 20, "steps": 2},
    "history": {},
}

# Text elements of a Plotly SVG and what they are (class names from plotly.js' output).
COLLECT_TEXTS = """() => {
  const svg = document.querySelector('svg');
  const out = [];
  for (const t of svg.querySelectorAll('text')) {
    if (!t.textContent.trim() || t.closest('[style*="display: none"]')) continue;
    const r = t.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const cls = t.getAttribute('class') || '';
    let kind = null, group = null;
    if (t.closest('.legend')) { kind = 'legend'; group = 'legend'; }
    else if (t.closest('.colorbar')) { kind = 'colorbar'; group = 'colorbar' + [...svg.querySelectorAll('.colorbar')].indexOf(t.closest('.colorbar')); }
    else if (cls.includes('gtitle')) { kind = 'title'; group = 'title'; }
    else if (cls.includes('annotation-text')) { kind = 'annotation'; group = 'annotation' + out.length; }
    else if (/^[xy][0-9]*title$/.test(cls)) { kind = 'axis title'; group = cls; }
    else {
      const tick = t.closest('g[class$="tick"]');
      if (tick && /^[xy][0-9]*tick$/.test(tick.getAttribute('class'))) { kind = 'tick'; group = tick.getAttribute('class'); }
    }
    out.push({text: t.textContent.slice(0, 60), kind, group, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
  }
  for (const im of svg.querySelectorAll('g.im > image')) {  // image traces (thumbnails, galleries)
    const r = im.getBoundingClientRect();
    if (r.width > 0 && r.height > 0)
      out.push({text: 'image', kind: 'image', group: 'image' + out.length, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
  }
  return {width: svg.width.baseVal.value, height: svg.height.baseVal.value, texts: out};
}"""


@pytest.fixture(scope="module")
def all_results():
    out = {}
    for name, config in SMALL.items():
        out[name] = [(analysis.label(p), analysis.run(name, p, config, device="cpu")) for p in SHIPPED]
    return out


@pytest.fixture(scope="module", autouse=True)
def kaleido_server():
    """One Chromium for every export of this module (kaleido otherwise starts one per file)."""
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    yield
    kaleido.stop_sync_server(silence_warnings=True)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _overlap(a: dict, b: dict, tol: float = 1.5) -> bool:
    return min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol


def layout_problems(svg: bytes, page) -> list[str]:
    """Clipped or overlapping texts of a Plotly SVG, measured by Chromium."""
    page.set_content("<html><body style='margin:0'>" + svg.decode() + "</body></html>")
    info = page.evaluate(COLLECT_TEXTS)
    w, h, texts = info["width"], info["height"], info["texts"]
    problems = [f"clipped {t['kind'] or 'text'} {t['text']!r} at ({t['x0']:.0f}, {t['y0']:.0f})-({t['x1']:.0f}, "
                f"{t['y1']:.0f}) on a {w:.0f}x{h:.0f} canvas"
                for t in texts if t["x0"] < -1 or t["y0"] < -1 or t["x1"] > w + 1 or t["y1"] > h + 1]
    labelled = [t for t in texts if t["kind"]]
    for i, a in enumerate(labelled):
        for b in labelled[i + 1:]:
            if a["kind"] == b["kind"] == "image":  # neighbouring images of a gallery may touch
                continue
            if a["group"] != b["group"] and _overlap(a, b):
                problems.append(f"{a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}")
    return problems


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_checker_sees_a_clipped_export(all_results, browser):
    """The check itself: the app's old export layout (10 px margins, default width, no
    automargin) is reported as clipped."""
    import plotly.io as pio

    fig = analysis.get("transferability").figure(all_results["transferability"])
    fig.update_layout(width=700, margin=dict(l=10, r=10, t=70, b=10))
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    svg = fig.to_image(format="svg")
    assert any("clipped tick" in p or "clipped axis title" in p for p in layout_problems(svg, browser.new_page())), \
        pio.templates.default


@pytest.mark.parametrize("name", list(SMALL))
def test_every_figure_exports_unclipped(name, all_results, browser, monkeypatch):
    import plotly.io as pio

    import streamlit.elements.lib.streamlit_plotly_theme  # noqa: F401  (registers the app's template)

    monkeypatch.setattr(pio.templates, "default", "streamlit")  # figures built as in the app
    a = analysis.get(name)
    results = all_results[name]
    fig = a.figure(results)
    width, height = export.export_size(fig)
    svg = export.export_bytes(a, results, "svg")
    problems = layout_problems(svg, browser.new_page())
    assert not problems, "\n".join(problems)
    png = export.export_bytes(a, results, "png")
    assert _png_size(png) == (2 * width, 2 * height)  # exported at scale 2 of the figure kind's size
