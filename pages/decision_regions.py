"""Decision regions: a thin view over the engine's decision-region analysis."""
import streamlit as st

from app import ui
from engine import analyses

st.title('Decision regions')
st.caption('Class predicted by each member and by the ensemble on a 2-D slice around one test image (DVERGE '
           'Fig. 1/7). Vertical axis: the adversarial (FGSM sign-gradient) direction of the surrogate set in '
           'Settings, or of the analysed ensemble itself when none is set; horizontal axis: a seeded random ±1 '
           'direction. Unless an index is set, the image is the first seeded test image whose slice crosses a '
           'decision boundary.')
ui.require_selection()
decision_region = analyses.get('decision-region')
ui.show('decision-region', ui.settings(decision_region), key='decision-region')
