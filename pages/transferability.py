"""Within-ensemble transferability (DVERGE Fig. 3): heatmaps per ensemble at the sidebar's
ε. "Precompute the ε grid" computes every ε of the slider once; afterwards each slider
move is a cache lookup. Click a cell to see the adversarial examples behind it."""
import numpy as np
import streamlit as st

from app import ui
from engine import analyses
from engine.figures import image_grid

st.title("Transferability within the ensemble")
st.caption("Entry (i, j): fraction of PGD adversarial examples crafted on member i that also fool member j "
           "(on test images every member classifies correctly). Lower off-diagonal = less transfer. DVERGE §4.2.")

paths = ui.require_selection()
analysis = analyses.get("transferability")
eps = ui.shared_eps()
config = ui.settings(analysis, fixed={"eps": eps}, defaults={"samples": 200})
grid = ui.eps_grid(st.session_state.get("shared_dataset", "fashion_mnist"))

todo = [(e, p) for e in grid for p in paths if not analyses.is_cached("transferability", p, dict(config, eps=e))]
if todo and st.button(f"Precompute the ε grid ({len(grid)} values × {len(paths)} ensembles)", key="precompute"):
    bar = st.progress(0.0)
    for n, (e, p) in enumerate(todo):
        bar.progress(n / len(todo), text=f"{ui.label(p)} at ε={e}")
        analyses.run("transferability", p, dict(config, eps=e))
    bar.empty()
    st.rerun()

results, event = ui.show("transferability", config, key="heatmap", on_select="rerun")

points = (event.selection.points if event and event.selection else []) or []
clicked = next((p.get("customdata") for p in points if p.get("customdata") is not None), None)
if clicked is None:
    st.caption("Click a cell to see example adversarial images from that source member.")
else:
    e, source, target = (int(v) for v in clicked)
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
        st.subheader(f"{label}: adversarial examples from member {source}, judged by {target_name}")
        st.plotly_chart(image_grid(list(clean) + list(adv), rows=2, cols=n, titles=titles), key="examples")
