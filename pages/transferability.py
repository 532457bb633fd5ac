"""Within-ensemble transferability (DVERGE Fig. 3): heatmaps per ensemble at the sidebar's
ε. "Compute" computes the slider's whole ε grid at once (the shipped zoo's is shipped);
once it is cached the figure carries every ε and its own slider repaints in the browser.
Click a cell to see the adversarial examples behind it."""
import numpy as np
import streamlit as st

from app import ui
from engine import analyses
from engine.figures import image_grid
from engine.figures.transferability import transferability_slider_figure
from engine.shipped_results import PAGE_DEFAULTS

st.title("Transferability within the ensemble")
st.caption("Entry (i, j): fraction of PGD adversarial examples crafted on member i that also fool member j "
           "(on test images every member classifies correctly). Lower off-diagonal = less transfer. DVERGE §4.2.")

paths = ui.require_selection()
analysis = analyses.get("transferability")
eps = ui.shared_eps()
config = ui.settings(analysis, fixed={"eps": eps}, defaults=PAGE_DEFAULTS["transferability"])
grid = ui.eps_grid(st.session_state.get("shared_dataset", "fashion_mnist"))


def missing_grid() -> list[tuple[float, str]]:
    """(ε, ensemble) of the slider's grid not cached yet, the sidebar's ε first."""
    todo = [(e, p) for e in grid for path in paths for p in ui.runs(path)  # every seed of a seed group
            if not analyses.is_cached("transferability", p, dict(config, eps=e))]
    return sorted(todo, key=lambda t: t[0] != eps)


def compute_grid(_missing=None) -> None:
    """The whole ε grid at once (the default): afterwards every slider move is a lookup."""
    todo = missing_grid()
    bar = st.progress(0.0)
    for n, (e, p) in enumerate(todo):
        bar.progress(n / len(todo), text=f"{ui.label(p)} at ε={e} ({n + 1}/{len(todo)})")
        analyses.run("transferability", p, dict(config, eps=e))
    bar.empty()


def grid_results(e: float):
    return ui.cached_results("transferability", paths, dict(config, eps=e))[0]


def with_slider(results):
    """Once the whole grid is cached, all of it goes to the browser with the figure: the
    figure's own ε slider repaints the heatmaps there, with no round trip to the server."""
    if todo or eps not in grid:
        return analysis.figure(results)
    return transferability_slider_figure([(e, results if e == eps else grid_results(e)) for e in grid],
                                         active=grid.index(eps))


todo = missing_grid()
results, event = ui.show("transferability", config, key="heatmap", on_select="rerun", compute_missing=compute_grid,
                         display=with_slider,
                         compute_label=f"Compute for {len(paths)} ensemble(s): the whole ε grid ({len(grid)} values)")
if results and todo and st.button(f"Precompute the rest of the ε grid ({len(todo)} results)", key="precompute",
                                  help="Then every slider move is a cache lookup."):
    compute_grid()
    st.rerun()

points = (event.selection.points if event and event.selection else []) or []
clicked = next((p.get("customdata") for p in points if p.get("customdata") is not None), None)
if clicked is None:
    st.caption("Click a cell to see example adversarial images from that source member.")
else:
    e, source, target = (int(v) for v in clicked[:3])
    if len(clicked) > 3:  # clicked after a move of the figure's own ε slider: that step's results
        results = grid_results(grid[int(clicked[3])])
    label, result = results[min(e, len(results) - 1)]
    examples = result.get("examples")
    if not examples:
        st.info("This result holds no examples (computed with examples=0).")
    else:
        k = len(result["matrix"])
        target_name = "ensemble" if target == k else f"member {target}"
        clean, adv = np.asarray(examples["clean"], np.float32), np.asarray(examples["adversarial"][source], np.float32)
        pred = examples["prediction"][source][target]
        classes = result.get("classes") or []
        name = (lambda c: classes[c] if c < len(classes) else str(c))
        n = len(clean)
        titles = [f"clean: {name(int(c))}" for c in examples["label"]] + \
                 [f"{target_name}: {name(int(p))}{' ✗' if p != c else ''}" for p, c in zip(pred, examples["label"])]
        st.subheader(f"{label} at ε={result['eps']:g}: adversarial examples from member {source}, "
                     f"judged by {target_name}")
        st.plotly_chart(image_grid(list(clean) + list(adv), rows=2, cols=n, titles=titles), key="examples")
