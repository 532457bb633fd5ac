"""Start here: what the lab is for and the classic flow in four steps (train DVERGE →
transferability vs ε → compare with the baseline → export), each a link to its page, and
the shipped DVERGE-vs-baseline heatmap at the standard ε as a first result (from the
shipped results: no computation)."""
import streamlit as st

from app import ui
from engine import analyses
from engine.shipped_results import PAGE_DEFAULTS

st.title("Robust Ensembles Lab")
st.markdown("Train ensembles of image classifiers with diversity-promoting methods (DVERGE, ADP, GAL, SMD, TRS, "
            "CCE, iGAT) and measure what their papers claim: how adversarial examples transfer between members, "
            "robustness to white- and black-box attacks, diversity. The shipped zoo (3 × LeNet-5 on Fashion-MNIST "
            "per method) has its results precomputed, so every page shows figures at once.")

st.subheader("The classic flow")
steps = [("train", "1. Train a DVERGE ensemble", "One click: 3 × LeNet-5 on Fashion-MNIST, baseline pre-training "
          "included (a few minutes on a laptop CPU); it runs in the background and survives reloads."),
         ("transferability", "2. Transferability vs ε", "How often an attack on one member fools the others "
          "(DVERGE Fig. 3); slide ε and click a cell for its adversarial examples."),
         ("robustness", "3. Compare with the baseline", "White-box and black-box accuracy over ε, side by side "
          "with the ensembles picked in the sidebar (DVERGE and the baseline by default)."),
         ("report", "4. Export", "Every figure downloads as PNG, SVG, PDF, HTML and its data as CSV/JSON (buttons "
          "under each figure; the sidebar zips a whole page); the reproduction report as HTML.")]
for module, title, text in steps:
    left, right = st.columns([1, 3])
    left.page_link(str(ui.page_path(module)), label=title)
    right.caption(text)

paths = ui.selected()
if not paths:
    st.info(ui.no_selection_message())
    st.stop()
st.subheader("A first result")
config = dict(PAGE_DEFAULTS["transferability"], eps=ui.shared_eps())
results, missing = ui.cached_results("transferability", paths, config)
if results:
    st.plotly_chart(analyses.get("transferability").figure(results), key="start:transferability")
    st.caption("Within-ensemble transferability of the ensembles picked in the sidebar at the sidebar's ε: "
               "DVERGE's members fool each other far less often than the baseline's.")
else:
    st.caption("Open **Transferability** to compute the heatmaps of the ensembles picked in the sidebar.")
