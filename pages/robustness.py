"""Robustness: white-box (DVERGE Table 5) and black-box transfer (Table 4) accuracy vs ε,
each with its own settings, then overlaid; warns about possible gradient masking."""
import streamlit as st

from app import ui
from engine import analyses
from engine.evaluation.sanity import gradient_masking_warnings
from engine.figures.robustness import robustness_figure
from engine.shipped_results import PAGE_DEFAULTS

st.title("Robustness")
st.caption("White-box: PGD on the whole ensemble, a sample counts as robust only if every restart fails (DVERGE §4.3, "
           "Table 5). Black-box: transfer attacks crafted on hold-out surrogate ensembles, correct only if every "
           "adversarial version is classified correctly (Table 4).")
ui.require_selection()
st.subheader("White-box")
white, _ = ui.show("whitebox", ui.settings(analyses.get("whitebox")), key="whitebox")
st.subheader("Black-box transfer")
black, _ = ui.show("blackbox", ui.settings(analyses.get("blackbox"), defaults=PAGE_DEFAULTS["blackbox"]), key="blackbox")

if white and black:
    st.subheader("Overlaid")
    st.plotly_chart(robustness_figure(white, black), key="overlay")
    black_by_checkpoint = {b["checkpoint"]: b for _, b in black}  # by identity: labels may repeat
    for label, w in white:
        if w["checkpoint"] in black_by_checkpoint:
            for warning in gradient_masking_warnings(w, black_by_checkpoint[w["checkpoint"]]):
                st.warning(f"{label}: {warning}")
