"""Sweeps: start a grid of training runs (methods x hyperparameters x seeds) as background
jobs and compare the grid points as mean ± std over seeds.

A thin view over ``engine.sweep`` (the same code as ``python -m engine sweep``): trials
are ordinary jobs of the configured executor (local processes, or Ray with
``ROBUST_ENSEMBLES_EXECUTOR=ray``), so the Train page shows them too; starting the same
sweep again only queues what is missing.
"""
import streamlit as st

from engine import jobs, sweep
from engine.figures.sweep import point_label, sweep_figure
from engine.methods import METHODS

executor = jobs.get_executor()
st.title("Sweeps")
st.caption("A grid of training runs over methods, hyperparameters and seeds, run as background jobs "
           f"(executor: **{executor.name}**). Seeds matter: DVERGE's random layer sampling makes runs vary, "
           "so every number below is a mean ± standard deviation over seeds.")

with st.expander("Start a sweep", expanded=not sweep.list_sweeps()):
    methods = st.multiselect("Methods", list(METHODS), default=["baseline"], key="sweep_methods")
    left, right = st.columns(2)
    seeds = left.text_input("Seeds", "0-2", key="sweep_seeds", help="e.g. 0-4 or 0,1,2")
    preset = right.radio("Preset", ["quick", "paper"], horizontal=True, key="sweep_preset")
    grid_text = st.text_area("Grid (one KEY=V1,V2 per line)", "lr=0.01,0.05", key="sweep_grid",
                             help="a training field (lr, epochs, batch_size, ...) or a method hyperparameter "
                                  "(e.g. eps=0.05,0.1 for DVERGE); a hyperparameter only expands the methods that "
                                  "have it")
    name = st.text_input("Name (optional)", key="sweep_name", help="default: derived from the grid")
    if st.button("Start sweep", type="primary", key="sweep_start", disabled=not methods):
        try:
            spec = sweep.SweepSpec(methods=methods, seeds=sweep.parse_seeds(seeds), preset=preset,
                                   grid=sweep.parse_grid([line for line in grid_text.splitlines() if line.strip()]),
                                   name=name.strip() or None)
            record = sweep.start(spec, executor)
        except (sweep.SweepError, jobs.JobError) as exc:
            st.error(str(exc))
        else:
            run = record["last_run"]
            st.session_state["sweep_selected"] = record["name"]
            st.success(f"Sweep **{record['name']}**: {run['submitted']} trials queued, {run['resumed']} resumed, "
                       f"{run['skipped']} already finished.")

records = sweep.list_sweeps()
if not records:
    st.info("No sweeps yet: choose methods, seeds and a grid above and press **Start sweep** "
            "(or run `python -m engine sweep --method baseline --seeds 0-2 --param lr=0.01,0.05`).")
    st.stop()

names = [r["name"] for r in records]
if st.session_state.get("sweep_selected") not in names:
    st.session_state["sweep_selected"] = names[0]
chosen = st.selectbox("Sweep", names, key="sweep_selected")
record = sweep.load_record(chosen)
rows = sweep.evaluate(record, executor)
states = sweep.summary(record, rows)["states"]
st.write(" · ".join(f"{n} {s}" for s, n in sorted(states.items())))
if states.get("queued") or states.get("running"):
    st.button("Refresh", key="sweep_refresh")

table = sweep.aggregate(rows)
if not table:
    st.info("No trial has finished yet: the table appears as soon as one has (progress on the Train page).")
    st.stop()
metrics = list(dict.fromkeys(m for row in table for m in row["metrics"]))
st.dataframe([{"method": row["method"], "grid point": point_label(row["params"]), "n": len(row["seeds"]),
               **{m: (f"{row['metrics'][m]['mean']:.4f} ± {row['metrics'][m]['std']:.4f}"
                      if m in row["metrics"] else "-") for m in metrics}} for row in table],
             hide_index=True, width="stretch", key="sweep_table")
if metrics:
    metric = st.selectbox("Metric", metrics, key="sweep_metric")
    st.plotly_chart(sweep_figure(table, metric), key="sweep_figure")
failed = [r for r in rows if r["state"] in ("failed", "cancelled")]
if failed:
    st.warning(f"{len(failed)} trial(s) did not finish; start the same sweep again to resume them: "
               + "; ".join(f"{r['method']} {point_label(r['params'])} seed {r['seed']}: {r['error'] or r['state']}"
                           for r in failed[:5]))
