"""Saliency maps: a thin view over the engine's saliency analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('Saliency maps')
st.caption('Per-member attributions (captum) for the same test image, side by side; the SMD alignment (pairwise cosine of true-class saliency, SMD Eq. 2) says how much members look at the same pixels.')
ui.require_selection()
saliency = analyses.get('saliency')
ui.show('saliency', ui.settings(saliency), key='saliency')
