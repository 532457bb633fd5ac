"""CCE subsets: a thin view over the engine's cce-subsets analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('CCE subsets')
st.caption('CCE Table 6: for member pairs under attack, the sizes of the subsets where both / one / neither member is correct, and the derived T, nT and a_single.')
ui.require_selection()
cce_subsets = analyses.get('cce-subsets')
ui.show('cce-subsets', ui.settings(cce_subsets, fixed={"eps": ui.shared_eps()}), key='cce-subsets')
