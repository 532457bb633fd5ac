"""Reproduction report: a thin view over engine.report (the zoo's numbers beside the
papers' claims, one table per claim family, a verdict per row, every figure)."""
from pathlib import Path

import pandas as pd
import streamlit as st

from app import background
from engine import report as rep
from engine.jobs import JobError, JobStore
from engine.jobs import analysis as analysis_jobs
from engine.data import get_spec
from engine.seed_groups import SEEDS_DIR
from engine.shipped_results import REPORT_SAMPLES
from engine.zoo import SHIPPED, list_ensembles

st.title("Reproduction report")
st.caption("For the shipped zoo: clean accuracy, within-ensemble transferability, white-box and black-box "
           "accuracy over ε and each method's own diversity metric, side by side with the papers' numbers or "
           "qualitative claims. Orderings are checked on our ensembles whatever data set the paper used; the "
           "papers' CIFAR-10 numbers are never compared with Fashion-MNIST numbers. Same as "
           "`python -m engine report --out DIR`.")

shipped = [e for e in list_ensembles([SHIPPED]) if "error" not in e and e.get("complete")
           and Path(e["name"]).parts[0] != SEEDS_DIR]  # one ensemble per method: seed 0, not checkpoints/seeds/
if not shipped:
    st.warning(f"No shipped ensembles in {SHIPPED}. Build the zoo with `bash checkpoints/build_zoo.sh`.")
    st.stop()
dataset = shipped[0]["dataset"]
st.write(f"{len(shipped)} shipped ensembles: " + ", ".join(e["name"] for e in shipped))

c1, c2, c3 = st.columns(3)
samples = c1.number_input("Test samples per analysis", 20, 2000, REPORT_SAMPLES, step=50,
                          help=f"Fewer is faster; the verdicts of close orderings may change with few samples. "
                               f"With {REPORT_SAMPLES} (the default) the shipped zoo's report opens at once from "
                               "precomputed results; `python -m engine report` uses 500.")
eps = c2.number_input("Report ε", 0.001, 1.0, float(get_spec(dataset).attack_eps), step=0.01, format="%.3f",
                      help="Default: the data set's standard L∞ attack budget.")
protocol = c3.selectbox("Attack protocol", list(rep.PROTOCOLS),
                        help="; ".join(f"{p.name}: {p.describe()}" for p in rep.PROTOCOLS.values()))
settings = (int(samples), round(float(eps), 6), protocol, tuple(e["path"] for e in shipped))

checkpoints = {e["name"]: e["path"] for e in shipped}
try:
    items = analysis_jobs.report_items(checkpoints, eps=eps, samples=int(samples), protocol=protocol)
except JobError as exc:
    st.error(str(exc))
    st.stop()
todo = analysis_jobs.missing(items)
last = analysis_jobs.find_job(JobStore(), [i["key"] for i in items], "report")
failed_items = bool(last and last.state == "failed" and JobStore().progress(last.id).get("errors"))
if todo:
    background.run_in_background(todo, label="report", button=f"Compute report ({len(todo)} analysis runs)",
                                 help="Runs every analysis on every ensemble in a background job (cached on disk: "
                                      "a second run is fast).")
if st.session_state.get("report_settings") != settings and (not todo or (failed_items and st.button(
        "Build the report with the results there are", help="the failed runs show as errors in their tables"))):
    with st.spinner("Assembling the report from the cached results…"):
        try:
            st.session_state["report"] = rep.build_report(checkpoints, eps=eps, samples=int(samples),
                                                          protocol=protocol)
            st.session_state["report_settings"] = settings
        except (rep.ReportError, ValueError, RuntimeError) as exc:
            st.error(str(exc))

report = st.session_state.get("report")
if report is None:
    st.info("Compute the report to see the tables (a background job; the first run takes a few minutes on a "
            "laptop CPU).")
    st.stop()
if st.session_state.get("report_settings") != settings:
    st.caption("Showing the report computed with the previous settings.")

counts = report.verdict_counts()
for col, (verdict, n) in zip(st.columns(len(counts)), counts.items()):
    col.metric(verdict, n)
st.download_button("Download the HTML report", data=lambda: rep.report_html(report).encode(),
                   file_name=f"reproduction-report-{report.meta['dataset']}-eps{report.meta['eps']:g}.html",
                   mime="text/html", on_click="ignore")


def _colour(verdict: str) -> str:
    return f"background-color: {rep.VERDICT_COLORS.get(verdict, 'white')}"


for section in report.sections:
    st.header(section.title)
    if section.error:
        st.warning(section.error)
    if section.rows:
        frame = pd.DataFrame([{c: getattr(r, c) for c in rep.ROW_COLUMNS} for r in section.rows])
        st.dataframe(frame.style.map(_colour, subset=["verdict"]), hide_index=True, width="stretch")
    if section.measured:
        with st.expander("Our measurements per ensemble"):
            st.dataframe(pd.DataFrame(section.measured), hide_index=True, width="stretch")
    for i, (caption, fig) in enumerate(section.figures):
        st.plotly_chart(fig, key=f"report:{section.key}:{i}")
