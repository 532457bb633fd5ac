"""Train: configure a run and start it as a background job; watch it live.

A thin view over ``engine.jobs``: the form's values are validated by
``engine.config.make_config`` (through ``jobs.build_config``), jobs run in worker processes
of the configured executor, and the live view only reads the job store (progress report,
loss curve, and the checkpoint's per-epoch history, DVERGE Fig. 2).
"""
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import ui
from app.ui import field_widget
from engine import fields, jobs
from engine.config import train_fields
from engine.methods import METHODS, get_method
from engine.models import ARCHITECTURES

POLL_SECONDS = 2.0
ARCHS = ARCHITECTURES.names()  # lenet5 and the listed resnet<6n+2> depths
#: TrainConfig fields shown in the form's main grid; the rest (but the method, the preset and
#: the hyperparameters, chosen apart) under "More settings". Every field comes from
#: engine.config.train_fields(), the same specs that generate the CLI's train flags.
MAIN = ("dataset", "arch", "members", "epochs", "pretrain_epochs", "batch_size", "lr", "train_subset", "seed")
APART = ("method", "preset", "method_params")
SPECS = {s.name: s for s in train_fields()}
SPECS["arch"] = replace(SPECS["arch"], suggestions=tuple(ARCHS))

executor = jobs.get_executor()
st.title("Train an ensemble")
st.caption("Training runs in a background worker process: it keeps going if you reload the page, close the tab "
           "or restart the app. Finished ensembles appear in the sidebar and the model zoo.")


def _defaults_note(name: str, quick: dict, paper: dict) -> str:
    q, p = quick.get(name), paper.get(name)
    show = {None: "all"} if name == "train_subset" else {None: "automatic"}
    return f"quick: {show.get(q, q)} · paper: {show.get(p, p)}"


def _field(name: str, defaults: dict, quick: dict, paper: dict, key: str):
    spec = SPECS[name]
    label = f"{spec.label} ({_defaults_note(name, quick, paper)})" if name in MAIN else None
    try:
        return field_widget(spec, defaults[name], key, label=label)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()


def phases_text(method: str, preset: str, values: dict, defaults: dict) -> str:
    """What each phase trains on: pre-training is the baseline run of the same preset
    (engine/train.py), with the baseline's own training subset, not this form's."""
    def images(n):
        return "all training images" if n is None else f"{n} training images"

    text = f"{method}: {values['epochs']} epoch(s) on {images(values.get('train_subset'))}"
    if defaults.get("uses_pretrain") and values.get("pretrain_epochs"):
        pre = jobs.form_defaults("baseline", preset).get("train_subset")
        text = f"Phases: baseline pre-training {values['pretrain_epochs']} epoch(s) on {images(pre)}, then " + text
    return text + "."


def new_job_form() -> None:
    top = st.columns([2, 1, 2])
    methods = list(METHODS)
    method = top[0].selectbox("Method", methods, index=methods.index("dverge"), key="train_method")
    preset = top[1].radio("Preset", ["quick", "paper"], key="train_preset", horizontal=True,
                          help=SPECS["preset"].description)
    name = top[2].text_input("Name (optional)", key="train_name", placeholder=f"{method}-...",
                             help="letters, digits, . - _ ; the ensemble is saved under this name")
    defaults = jobs.form_defaults(method, preset)
    quick, paper = jobs.form_defaults(method, "quick"), jobs.form_defaults(method, "paper")
    shown = [f for f in MAIN if f != "pretrain_epochs" or defaults["uses_pretrain"]]
    values = {}
    columns = st.columns(3)
    for i, field in enumerate(shown):
        with columns[i % 3]:
            values[field] = _field(field, defaults, quick, paper, f"train_{field}_{method}_{preset}")
    with st.expander("More settings"):
        for field in SPECS:
            if field not in MAIN and field not in APART:
                values[field] = _field(field, defaults, quick, paper, f"train_{field}_{method}_{preset}")
    params = {}
    with st.expander(f"{method} hyperparameters (paper defaults)"):
        for spec in fields.specs(get_method(method).Params):
            shown_default = "from the data set" if spec.default is None else spec.default
            try:
                value = field_widget(spec, spec.default, f"train_param_{method}_{spec.name}",
                                     label=f"{spec.name} (default: {shown_default})")
            except ValueError as exc:
                st.error(str(exc))
                st.stop()
            if value is not None and value != spec.default:
                params[spec.name] = value
    st.caption(phases_text(method, preset, values, defaults))
    if st.button(f"Start training: {values['members']} × {values['arch']} {method} on {values['dataset']}",
                 type="primary", key="train_start"):
        explicit = {k: v for k, v in values.items() if v != defaults[k]}
        try:
            config = jobs.build_config(method, preset, method_params=params, **explicit)
            job = executor.submit(config, name or None)
        except jobs.JobError as exc:
            st.error(str(exc))
        else:
            st.session_state["train_job"] = job.id
            st.success(f"Job {job.id} {job.state}: the ensemble will be saved to `{job.out}`.")


def loss_figure(job: jobs.Job, progress: dict, entries: list[dict]) -> go.Figure:
    """Per-member training loss over (fractional) epochs, pre-training first: per batch
    from the worker's reports, else per epoch from the checkpoint history."""
    pre = jobs.pretrain_epochs(job.train_config)
    fig = go.Figure()
    points = progress.get("losses") or [{"phase": e["phase"], "x": e["epoch"], "members": e["member_loss"]}
                                        for e in entries if e.get("member_loss")]
    members = len(points[0]["members"]) if points else 0
    for m in range(members):
        fig.add_scatter(x=[p["x"] + (pre if p["phase"] == "train" else 0) for p in points],
                        y=[p["members"][m] for p in points], name=f"member {m}",
                        mode="lines" if progress.get("losses") else "lines+markers")
    if pre:
        fig.add_vline(x=pre, line_dash="dash", annotation_text=f"{job.method} starts")
    fig.update_layout(title="Training loss per member", xaxis_title="epoch", yaxis_title="loss",
                      xaxis_range=[0, pre + job.train_config.epochs], height=340, margin={"t": 50, "b": 40},
                      xaxis_dtick=max(1, (pre + job.train_config.epochs) // 10), xaxis_tickformat="d")
    return fig


def metrics_figure(job: jobs.Job, entries: list[dict]) -> go.Figure:
    """Clean accuracy and within-ensemble transferability per epoch (DVERGE Fig. 2)."""
    fig = go.Figure()
    steps = [e["step"] for e in entries]
    fig.add_scatter(x=steps, y=[e.get("ensemble_clean_accuracy") for e in entries], name="ensemble accuracy",
                    mode="lines+markers")
    members = len(entries[0].get("member_clean_accuracy", [])) if entries else 0
    for m in range(members):
        fig.add_scatter(x=steps, y=[e["member_clean_accuracy"][m] for e in entries], name=f"member {m} accuracy",
                        mode="lines", line={"width": 1}, opacity=0.6)
    with_t = [e for e in entries if "transferability" in e]
    if with_t:
        fig.add_scatter(x=[e["step"] for e in with_t], y=[e["transferability"] for e in with_t],
                        name=f"transferability (ε={with_t[-1].get('transfer_eps')})", mode="lines+markers",
                        line={"dash": "dot"})
    pre = sum(e["phase"] == "pretrain" for e in entries)
    if pre and pre < len(entries):
        fig.add_vline(x=pre + 0.5, line_dash="dash", annotation_text=f"{job.method} starts")
    total = max(len(entries), jobs.pretrain_epochs(job.train_config) + job.train_config.epochs)
    fig.update_layout(title="Accuracy and transferability per epoch (DVERGE Fig. 2)",
                      xaxis_title="epoch", yaxis_title="rate", yaxis_range=[0, 1], xaxis_range=[0.5, total + 0.5],
                      xaxis_dtick=1,
                      height=340, margin={"t": 50, "b": 40})
    return fig


def job_view(job: jobs.Job) -> None:
    progress = executor.store.progress(job.id)
    st.subheader(f"{job.name} · {job.state}")
    st.progress(jobs.fraction_done(job, progress), text=jobs.status_text(job, progress))
    if job.state in jobs.ACTIVE and st.button("Cancel", key=f"cancel_{job.id}",
                                              help="stop it; the checkpoint keeps its last saved epoch"):
        executor.cancel(job.id)
        st.rerun(scope="app")
    if job.state in ("failed", "cancelled") and st.button("Resume", key=f"resume_{job.id}",
                                                          help="continue from the last saved epoch"):
        executor.resume(job.id)
        st.rerun(scope="app")
    if job.state == "failed":
        st.error(f"{job.error}\n\nWorker log: `{executor.store.log_path(job.id)}`")
    if job.state == "done":
        watched = st.session_state.setdefault("_watched_jobs", set())
        if job.id in watched:  # it finished while this session watched it: it joins the comparison
            watched.discard(job.id)
            ui.select_when_listed(job.out)
            st.rerun(scope="app")
        st.success(f"Saved to `{job.out}`; compare it by picking it in the sidebar (a run that finishes while "
                   "you watch is picked for you).")
    entries = jobs.history(job)
    left, right = st.columns(2)
    left.plotly_chart(loss_figure(job, progress, entries), width="stretch", key=f"loss_{job.id}")
    right.plotly_chart(metrics_figure(job, entries), width="stretch", key=f"metrics_{job.id}")
    if not entries:
        st.caption("Per-epoch accuracy and transferability appear after the first epoch is saved.")


def live_view() -> None:
    all_jobs = [j for j in executor.refresh() if j.kind == "train"]  # analysis jobs show on their pages
    if not all_jobs:
        st.info("No training jobs yet. Press **Start training** above: with the defaults it trains a 3-member "
                "DVERGE ensemble on Fashion-MNIST with the quick preset (minutes on a laptop CPU), "
                "and its progress shows here.")
        return
    rows = [jobs.summary(j, executor.store.progress(j.id)) for j in all_jobs]
    table = pd.DataFrame([{**{k: r[k] for k in ("name", "state", "progress")},
                           "ETA (whole job)": jobs.display.duration(r["eta_seconds"]),
                           **{k: r[k] for k in ("method", "dataset", "members", "accuracy", "transferability",
                                                "created")}} for r in rows])
    st.dataframe(table.style.format({"accuracy": "{:.3f}", "transferability": "{:.3f}"}, na_rep="—"),  # no "None"
                 hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})
    st.session_state.setdefault("_watched_jobs", set()).update(j.id for j in all_jobs if j.state in jobs.ACTIVE)
    by_id = {j.id: j for j in all_jobs}
    preferred = st.session_state.get("train_job")
    if preferred not in by_id:
        running = [j.id for j in all_jobs if j.state == "running"]
        preferred = running[0] if running else all_jobs[0].id
    chosen = st.selectbox("Job", list(by_id), index=list(by_id).index(preferred),
                          format_func=lambda i: f"{by_id[i].name} · {by_id[i].state} · {i}")
    st.session_state["train_job"] = chosen
    job_view(by_id[chosen])
    if st.session_state.get("train_polling") and not any(j.state in jobs.ACTIVE for j in all_jobs):
        st.rerun(scope="app")  # everything finished: stop polling


new_job_form()
st.divider()
st.header("Jobs")
active = any(j.state in jobs.ACTIVE and j.kind == "train" for j in executor.refresh())
st.session_state["train_polling"] = active
st.fragment(live_view, run_every=POLL_SECONDS if active else None)()
