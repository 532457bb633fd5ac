"""Leaderboard: a thin view over engine.leaderboard (one row per zoo ensemble of the
sidebar's data set; every number from a cached analysis, with its source)."""
import pandas as pd
import streamlit as st

from engine import jobs
from engine import leaderboard as lb
from engine.paths import ensembles_dir

dataset = st.session_state.get("shared_dataset", "fashion_mnist")
st.title("Leaderboard")
st.caption("Every ensemble of the data set in one table at its standard ε: clean accuracy, white-box PGD, "
           "AutoAttack (Croce & Hein 2020), the worst case of the adaptive ensemble attacks, black-box transfer, "
           "within-ensemble transferability, vulnerability diversity (DVERGE Eq. 2) and training cost. "
           "Click a column header to sort. Numbers come from the analysis cache; missing ones are computed "
           "below or with `python -m engine leaderboard`.")

c1, c2 = st.columns(2)
samples = int(c1.number_input("Test samples per analysis", 10, 2000, 200, step=10, key="lb_samples"))
quick = c2.checkbox("AutoAttack quick variant", value=False, key="lb_quick",
                    help="APGD 20 iterations, 3 targets, Square 500 queries: faster, under-estimates the attack.")
grouped = bool(st.session_state.get("shared_seed_groups"))  # the sidebar's "Seed groups" toggle
config = lb.LeaderboardConfig(dataset=dataset, samples=samples, quick=quick, seed_groups=grouped)
board = lb.leaderboard(config, cached_only=True)
titles = {c["key"]: c["title"] for c in board["columns"]}
sources = {c["key"]: c["analysis"] for c in board["columns"]}

if not board["rows"]:
    st.info(f"No ensemble of {dataset} in the zoo yet: train one on the **Train** page, import one on the "
            f"**Model zoo** page, or from a terminal:\n\n"
            f"`python -m engine train --preset quick --method dverge --out {ensembles_dir() / 'dverge'}`")
    st.stop()

frame = pd.DataFrame(lb.table(board))
methods = sorted(frame["method"].dropna().unique())
f1, f2, f3 = st.columns([2, 1, 1])
chosen = f1.multiselect("Methods", methods, default=methods, key="lb_methods")
text = f2.text_input("Filter by name", key="lb_filter")
every_seed = f3.checkbox("Every seed", key="lb_every_seed", disabled=grouped,
                         help="One row per checkpoint, further seeds of a configuration included (by default a "
                              "configuration's lowest seed stands for it; the sidebar's \"Seed groups\" toggle shows "
                              "one row per seed group with mean ± std over its seeds instead).")
listed = pd.Series([grouped or every_seed or row["representative"] for row in board["rows"]], index=frame.index)
shown = frame[listed & frame["method"].isin(chosen) & frame["ensemble"].str.contains(text, case=False, regex=False)]
column_config = {key: st.column_config.NumberColumn(
    titles[key], format="%.3f" if key != "train_seconds" else "%.0f",
    help=f"from the '{sources[key]}' analysis" if sources[key] else "from meta.json (sum of train_seconds)")
    for key in titles}
column_config.update({f"{key}_std": st.column_config.NumberColumn(
    "± std", format="%.3f" if key != "train_seconds" else "%.0f",
    help=f"sample std of {titles[key]} over the seeds") for key in titles if grouped})
# a number not computed yet is an empty cell ("—"), not the dataframe's default "None"
st.dataframe(shown, hide_index=True, column_config=column_config, width="stretch", key="lb_table",
             placeholder=lb.EMPTY_CELL)
st.caption(f"L∞ ε = {board['eps']:g}, {board['samples']} test samples per analysis, AutoAttack "
           f"{board['autoattack_version']}" + (" (quick: fewer iterations, labelled)" if quick else "")
           + ". Within-ensemble transferability and training cost: lower is better."
           + (" Seed groups: each number is the mean over the group's seeds (a cell fills in once every seed has "
              "it), ± std the sample standard deviation." if grouped else
              f" {int((~listed).sum())} further seed(s) of listed configurations hidden (Every seed)."
              if (~listed).any() else ""))

stem = f"leaderboard-{dataset.replace(':', '_').replace('/', '_')}-eps{board['eps']:g}-{board['samples']}"
mime = {"csv": "text/csv", "html": "text/html", "png": "image/png", "json": "application/json"}
for col, fmt in zip(st.columns(len(lb.FORMATS)), lb.FORMATS):
    col.download_button(fmt.upper(), data=lambda fmt=fmt: lb.export_bytes(board, fmt), file_name=f"{stem}.{fmt}",
                        mime=mime[fmt], key=f"lb_dl_{fmt}", on_click="ignore")

with st.expander("Where each number comes from"):
    st.write("Each cell is the result of one cached analysis run; the command reproduces it from a terminal.")
    st.dataframe(pd.DataFrame([{"ensemble": row["ensemble"], "column": key, "analysis": src.get("analysis"),
                                "command": src.get("command") or src.get("from"),
                                "error": row["errors"].get(key)}
                               for row in board["rows"] for key, src in row["sources"].items()]),
                 hide_index=True, width="stretch", key="lb_sources", placeholder="")

missing = board["missing"]
executor = jobs.get_executor()
keys = [item["key"] for item in jobs.analysis.leaderboard_items(board)] if missing else []
job = jobs.analysis.find_job(executor.store, keys, kind_label="leaderboard") if keys else None


def job_view() -> None:
    """The leaderboard's evaluation job (a background analysis job, like training): progress,
    ETA, cancel/resume; the table fills in as each ensemble's number lands in the cache."""
    executor.refresh()
    current = executor.get(job.id)
    progress = executor.store.progress(current.id)
    st.progress(jobs.fraction_done(current, progress), text=jobs.status_text(current, progress))
    if current.state in jobs.ACTIVE and st.button("Cancel", key="lb_cancel"):
        executor.cancel(current.id)
        st.rerun(scope="app")
    if current.state in ("failed", "cancelled") and st.button("Resume", key="lb_resume",
                                                              help="continue with the numbers not computed yet"):
        executor.resume(current.id)
        st.rerun(scope="app")
    if current.state == "failed":
        st.error(f"{current.error}\n\nWorker log: `{executor.store.log_path(current.id)}`")
    if st.session_state.get("lb_polling") and current.state not in jobs.ACTIVE:
        st.session_state["lb_polling"] = False
        st.rerun(scope="app")  # finished: redraw the table with the new numbers


if missing:
    st.subheader(f"{len(missing)} number(s) not computed yet")
    columns = sorted({m["column"] for m in missing}, key=list(titles).index)
    todo = st.multiselect("Compute these columns", columns, default=[c for c in columns if c in ("clean_accuracy", "pgd")],
                          format_func=titles.get, key="lb_todo",
                          help="Runs as a background job (`python -m engine jobs list`); AutoAttack and the "
                               "adaptive attacks take minutes per ensemble on a CPU.")
    busy = job is not None and job.state in jobs.ACTIVE
    if st.button("Compute", type="primary", disabled=not todo or busy, key="lb_compute"):
        try:
            job = executor.submit_analysis(jobs.analysis.leaderboard_items(board, todo), label="leaderboard")
        except jobs.JobError as exc:
            st.error(str(exc))
        else:
            st.rerun()
if job is not None:
    active = job.state in jobs.ACTIVE
    st.session_state["lb_polling"] = active
    st.fragment(job_view, run_every=2.0 if active else None)()
