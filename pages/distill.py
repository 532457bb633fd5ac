"""Distilled images: a thin view over the engine's distill analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('Distilled images')
st.caption("DVERGE Eq. 1: an image x′ close to the source x_s (within ε) whose features at a chosen layer of a member match the target image x. The feature distance before/after is appendix Table 2's quantity. ε here is the distillation budget "
           "(Settings → eps; default: the data set's DVERGE training budget, 0.2 on Fashion-MNIST), independent "
           "of the sidebar's evaluation ε; the figure states the one used.")
ui.require_selection()
distill = analyses.get('distill')
ui.show('distill', ui.settings(distill), key='distill')
