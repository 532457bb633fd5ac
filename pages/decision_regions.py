"""Decision regions: a thin view over the engine's decision-region analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('Decision regions')
st.caption('Class predicted by each member and by the ensemble on a 2-D slice around one image (DVERGE Fig. 1/7): x axis = adversarial direction of a surrogate, y axis = a random direction.')
ui.require_selection()
decision_region = analyses.get('decision-region')
ui.show('decision-region', ui.settings(decision_region), key='decision-region')
