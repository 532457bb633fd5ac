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

from app import downloads  # noqa: E402  (needs ROOT on sys.path)
from app import serving  # noqa: E402
from app import ui  # noqa: E402

# a local favicon: a page's :material/...: icon would make the browser fetch it from fonts.gstatic.com
st.set_page_config(page_title="Robust Ensembles Lab", layout="wide", page_icon=str(ROOT / "app" / "favicon.png"))
serving.harden()  # localhost only however it was started; tracebacks to the log, not the page
downloads.keep_recent_downloads()  # an export button clicked just as the page reruns still downloads
ui.seed_shipped_results()  # the shipped zoo's results into the user's cache: figures on first open
pages = [st.Page(str(ui.page_path(module)), title=title, icon=icon, default=i == 0, url_path=module)
         for i, (module, title, icon) in enumerate(ui.PAGES) if ui.page_path(module).is_file()]
navigation = st.navigation(pages)
ui.sidebar()
ui.begin_page()
navigation.run()
ui.export_all_button()
