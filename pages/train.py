"""Train: configure a run and start it as a background job; watch it live.

A thin view over ``engine.jobs``: the form's values are validated by
``engine.config.make_config`` (through ``jobs.build_config``), jobs run in worker processes
of the configured executor, and the live view only reads the job store (progress report,
loss curve, and the checkpoint's per-epoch history, DVERGE Fig. 2).
"""
import plotly.graph_objects as go
import streamlit as st

from engine import jobs
from engine.data import SPECS
from engine.methods import METHODS

POLL_SECONDS = 2.0
ARCHS = ["lenet5", "resnet20", "resnet32", "resnet44", "resnet56"]
FIELDS = {  # form field -> (label, help)
    "dataset": ("Data set", None),
    "arch": ("Architecture", "LeNet-5 for grey 28x28 images, ResNet-(6n+2) as in the DVERGE paper"),
    "members": ("Members", "number of sub-models in the ensemble"),
    "epochs": ("Epochs", "epochs of the method itself (after any baseline pre-training)"),
    "pretrain_epochs": ("Baseline pre-training epochs", "DVERGE Algorithm 1 starts from a trained baseline"),
    "batch_size": ("Batch size", None),
    "lr": ("Learning rate", "divided by 10 at 50% and 75% of the epochs (DVERGE appendix A)"),
    "train_subset": ("Training images (0 = all)", "a seeded random subset of the training set"),
    "seed": ("Seed", None),
}

executor = jobs.get_executor()
st.title("Train an ensemble")
st.caption("Training runs in a background worker process: it keeps going if you reload the page, close the tab "
           "or restart the app. Finished ensembles appear in the sidebar and the model zoo.")


def _defaults_note(name: str, quick: dict, paper: dict) -> str:
    q, p = quick.get(name), paper.get(name)
    show = {None: "all", 0: "0"} if name == "train_subset" else {}
    return f"quick: {show.get(q, q)} · paper: {show.get(p, p)}"


def _widget(name: str, default, key: str, note: str):
    label, help_text = FIELDS[name]
    label = f"{label} ({note})"
    if name == "dataset":
        options = list(SPECS) if default in SPECS else [default, *SPECS]
        return st.selectbox(label, options, index=options.index(default), key=key, help=help_text)
    if name == "arch":
        options = ARCHS if default in ARCHS else [default, *ARCHS]
        return st.selectbox(label, options, index=options.index(default), key=key, help=help_text)
    if name == "lr":
        return st.number_input(label, value=float(default), min_value=0.0, format="%g", key=key, help=help_text)
    value = 0 if default is None else int(default)
    return st.number_input(label, value=value, min_value=0, step=1, key=key, help=help_text)


def _param_widget(field: dict, key: str):
    label = f"{field['name']} (default: {'from the data set' if field['default'] is None else field['default']})"
    if field["kind"] == "choice":
        return st.selectbox(label, field["choices"], index=field["choices"].index(field["default"]), key=key,
                            help=field["description"])
    if field["kind"] == "bool":
        return st.checkbox(label, value=bool(field["default"]), key=key, help=field["description"])
    if field["default"] is None:  # blank = the data set's default
        text = st.text_input(label, value="", key=key, help=field["description"], placeholder="default")
        return text.strip() or None
    if field["kind"] == "int":
        return st.number_input(label, value=int(field["default"]), step=1, key=key, help=field["description"])
    return st.number_input(label, value=float(field["default"]), format="%g", key=key, help=field["description"])


def new_job_form() -> None:
    top = st.columns([2, 1, 2])
    methods = list(METHODS)
    method = top[0].selectbox("Method", methods, index=methods.index("dverge"), key="train_method")
    preset = top[1].radio("Preset", ["quick", "paper"], key="train_preset", horizontal=True,
                          help="quick: Fashion-MNIST / LeNet-5, minutes on a laptop CPU; "
                               "paper: CIFAR-10 / ResNet-20 / 200 epochs (needs a GPU)")
    name = top[2].text_input("Name (optional)", key="train_name", placeholder=f"{method}-...",
                             help="letters, digits, . - _ ; the ensemble is saved under this name")
    defaults = jobs.form_defaults(method, preset)
    quick, paper = jobs.form_defaults(method, "quick"), jobs.form_defaults(method, "paper")
    shown = [f for f in FIELDS if f != "pretrain_epochs" or defaults["uses_pretrain"]]
    values = {}
    columns = st.columns(3)
    for i, field in enumerate(shown):
        with columns[i % 3]:
            values[field] = _widget(field, defaults[field], f"train_{field}_{method}_{preset}",
                                    _defaults_note(field, quick, paper))
    params = {}
    with st.expander(f"{method} hyperparameters (paper defaults)"):
        for field in jobs.param_fields(method):
            value = _param_widget(field, f"train_param_{method}_{field['name']}")
            if value is not None and value != field["default"]:
                params[field["name"]] = value
    if st.button(f"Start training: {values['members']} × {values['arch']} {method} on {values['dataset']}",
                 type="primary", key="train_start"):
        values["train_subset"] = values["train_subset"] or None
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
                      xaxis_range=[0, pre + job.train_config.epochs], height=340, margin={"t": 50, "b": 40})
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
        st.success(f"Saved to `{job.out}`: select it in the sidebar to analyse it.")
    entries = jobs.history(job)
    left, right = st.columns(2)
    left.plotly_chart(loss_figure(job, progress, entries), width="stretch", key=f"loss_{job.id}")
    right.plotly_chart(metrics_figure(job, entries), width="stretch", key=f"metrics_{job.id}")
    if not entries:
        st.caption("Per-epoch accuracy and transferability appear after the first epoch is saved.")


def live_view() -> None:
    all_jobs = executor.refresh()
    if not all_jobs:
        st.info("No training jobs yet. Press **Start training** above: with the defaults it trains a 3-member "
                "DVERGE ensemble on Fashion-MNIST with the quick preset (minutes on a laptop CPU), "
                "and its progress shows here.")
        return
    rows = [jobs.summary(j, executor.store.progress(j.id)) for j in all_jobs]
    st.dataframe([{k: r[k] for k in ("name", "state", "progress", "method", "dataset", "members", "accuracy",
                                     "transferability", "created")} for r in rows],
                 hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})
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
active = any(j.state in jobs.ACTIVE for j in executor.refresh())
st.session_state["train_polling"] = active
st.fragment(live_view, run_every=POLL_SECONDS if active else None)()
