"""Streamlit entry point: ``streamlit run app/main.py``.

Every page is a thin view in the top-level ``pages/`` package; the sidebar with the
shared choices (data set, compared ensembles, ε) is drawn here so it survives page
switches.
"""
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import ui  # noqa: E402  (needs ROOT on sys.path)

# (module in pages/, title, icon); the first is the default page.
PAGES = [
    ("zoo", "Model zoo", ":material/inventory_2:"),
    ("train", "Train", ":material/model_training:"),
    ("transferability", "Transferability", ":material/grid_on:"),
    ("robustness", "Robustness", ":material/shield:"),
    ("diversity", "Diversity", ":material/scatter_plot:"),
    ("distilled", "Distilled images", ":material/filter_vintage:"),
    ("saliency", "Saliency", ":material/visibility:"),
    ("decision_regions", "Decision regions", ":material/map:"),
    ("detection", "Detection", ":material/radar:"),
    ("cce_subsets", "CCE subsets", ":material/join_inner:"),
    ("report", "Reproduction report", ":material/fact_check:"),
]

st.set_page_config(page_title="Robust Ensembles Lab", layout="wide")
pages = [st.Page(str(ui.page_path(module)), title=title, icon=icon, default=i == 0, url_path=module)
         for i, (module, title, icon) in enumerate(PAGES) if ui.page_path(module).is_file()]
navigation = st.navigation(pages)
ui.sidebar()
navigation.run()
