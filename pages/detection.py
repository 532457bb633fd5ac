"""Detection: a thin view over the engine's detection analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('Detection')
st.caption('Separating benign from adversarial inputs by ADP ensemble diversity and by the entropy of the ensemble prediction (ADP §4.5, CCE): ROC curves and AUC.')
ui.require_selection()
detection = analyses.get('detection')
ui.show('detection', ui.settings(detection, fixed={"eps": ui.shared_eps()}), key='detection')
