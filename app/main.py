"""Streamlit entry point: ``streamlit run app/main.py``."""
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="Robust Ensembles Lab", layout="wide")
navigation = st.navigation([st.Page(str(ROOT / "pages" / "zoo.py"), title="Model zoo", default=True)])
navigation.run()
