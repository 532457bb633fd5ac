"""Diversity: a thin view over the engine's diversity, history analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('Diversity')
st.caption("Each paper's own diversity measure per member pair: DVERGE vulnerability diversity (Eq. 2, higher = more diverse), ADP ensemble diversity (log-det, Eq. 3), GAL gradient coherence and SMD saliency alignment (lower = less aligned). Below: how diversity and transferability evolved during training (DVERGE Fig. 2).")
ui.require_selection()
st.subheader(analyses.get('diversity').title)
diversity = analyses.get('diversity')
ui.show('diversity', ui.settings(diversity), key='diversity')
st.subheader(analyses.get('history').title)
history = analyses.get('history')
ui.show('history', ui.settings(history), key='history')
