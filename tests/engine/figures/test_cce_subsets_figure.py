"""CCE subsets' axes agree with their values (issue 14): the bars on the axis titled "% of
test images" are shares of the images (0-100), and T -- a sum of accuracy differences that
can exceed 100 -- is drawn only on its own axis, titled in percentage points."""
from __future__ import annotations

from engine import analyses
from engine import shipped_results as sr
from engine.figures.cce_subsets import cce_subsets_figure
from tests.conftest import REPO


def _shipped(name: str) -> dict:
    analysis = analyses.get("cce-subsets")
    config = analyses.parse_config(analysis, {"eps": 0.1})
    key, _ = analyses.request_key(analysis, REPO / "checkpoints" / name, config)
    return sr.read_entry(sr.RESULTS_DIR / f"{key}.json")[1]


def test_each_axis_holds_only_values_its_title_describes():
    results = [(name, _shipped(name)) for name in sr.FIRST_VIEW_ENSEMBLES]
    fig = cce_subsets_figure(results)
    layout = fig.to_plotly_json()["layout"]
    title = {name: (layout[name].get("title") or {}).get("text") for name in layout
             if name.startswith("yaxis")}
    shares, t_axis = title["yaxis"], title[f"yaxis{len(results) + 1}"]
    assert shares == "% of test images" and t_axis == "T (% points)"
    share_axes = {"y"} | {f"y{i}" for i in range(2, len(results) + 1)}
    for trace in fig.data:
        if trace.yaxis in share_axes:
            assert "T" not in trace.x and all(0 <= v <= 100 for v in trace.y), (trace.name, trace.x, trace.y)
        else:
            assert list(trace.x) == ["T"]
    # T is a sum of two accuracy differences, not a share: it may exceed 100 points
    t_values = [v for trace in fig.data if trace.yaxis not in share_axes for v in trace.y]
    pairs = [p for _, r in results for p in r["pairs"]]
    assert sorted(t_values) == sorted(100 * p["T"] for p in pairs)
