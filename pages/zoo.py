"""Model zoo: every ensemble found (shipped with the product and the user's own), its
metadata and training history; delete, import the official DVERGE format, upload."""
import json

import plotly.graph_objects as go
import streamlit as st

from app import ui
from engine.checkpoint import CheckpointError, read_meta
from engine.paths import ensembles_dir
from engine.zoo import delete_ensemble, install_upload, list_ensembles



def details_markdown(meta: dict) -> str:
    """The checkpoint's metadata as readable lines (not raw JSON)."""
    params = ", ".join(f"{k} = {v}" for k, v in (meta.get("method_params") or {}).items()) or "defaults"
    lines = [("Method", f"{meta.get('method') or 'imported'} ({params})"),
             ("Data, model", f"{meta.get('dataset')}, {meta.get('members')} × {meta.get('arch')}"),
             ("Trained", f"epoch {meta.get('epoch')} of {meta.get('epochs')}, seed {meta.get('seed')}"),
             ("Started from", meta.get("init_from")), ("Source", meta.get("source")), ("Saved", meta.get("saved_at"))]
    text = "\n".join(f"- **{k}**: {v}" for k, v in lines if v not in (None, ""))
    if meta.get("command"):
        text += f"\n\n```\n{meta['command']}\n```"
    return text


st.title("Model zoo")
ensembles = list_ensembles()
good = [e for e in ensembles if "error" not in e]
for i, e in enumerate(e for e in ensembles if "error" in e):
    st.warning(f"Unreadable, skipped: {e['path']}: {e['error']}")
    if not e.get("shipped") and st.button(f"Delete the unreadable {e['name']}", key=f"delete_broken_{i}"):
        try:
            delete_ensemble(e["path"])
        except CheckpointError as exc:
            st.error(str(exc))
        else:
            ui.zoo.clear()
            st.rerun()

if not good:
    st.info("No ensembles yet. Start one on the **Train** page (one click trains a 3-member DVERGE ensemble), "
            "upload or import one below, or train one from a terminal, e.g.\n\n"
            f"`python -m engine train --preset quick --method dverge --members 3 --out {ensembles_dir() / 'dverge'}`\n\n"
            "and it appears here.")
else:
    rows = [{k: e.get(k) for k in ("name", "method", "dataset", "arch", "members", "epoch", "accuracy",
                                    "transferability", "transfer_eps", "transfer_samples", "shipped")} for e in good]
    budgets = {(r["transfer_eps"], r["transfer_samples"]) for r in rows if r["transferability"] is not None}
    if len(budgets) == 1:  # one ε and n for all: said in the header
        (eps, n), = budgets
        for r in rows:
            r[f"transferability (ε={eps:g}, n={n})"] = r.pop("transferability")
            del r["transfer_eps"], r["transfer_samples"]
            r["shipped"] = r.pop("shipped")
    st.dataframe(rows, hide_index=True, width="stretch", placeholder="—",  # not measured: "—", not "None"
                 column_config={"accuracy": st.column_config.NumberColumn("clean accuracy", format="%.3f"),
                                "transfer_eps": "transferability ε", "transfer_samples": "transferability n"})
    st.caption(f"Shipped ensembles come with the product; yours live in `{ensembles_dir()}`. "
               "Pick the ones to compare in the sidebar.")

    by_path = {e["path"]: e for e in good}
    chosen = st.selectbox("Details of", list(by_path), format_func=lambda p: ui.entry_label(by_path[p]))
    entry = by_path[chosen]
    left, right = st.columns([1, 2])
    with left:
        meta = read_meta(chosen)
        st.markdown(details_markdown(meta))
        if entry.get("shipped"):
            st.caption("Shipped with the product (read-only).")
        elif st.button("Delete this ensemble", key="delete"):
            st.session_state["confirm_delete"] = chosen
        if st.session_state.get("confirm_delete") == chosen:
            st.warning(f"Delete {entry['name']} for good?")
            if st.button("Yes, delete", type="primary", key="confirm"):
                try:
                    delete_ensemble(chosen)
                    st.session_state.pop("confirm_delete", None)
                    ui.zoo.clear()
                    st.rerun()
                except CheckpointError as exc:
                    st.error(str(exc))
    with right:
        history = entry.get("history") or []
        if history:
            epochs = [h["epoch"] for h in history]
            fig = go.Figure()
            fig.add_scatter(x=epochs, y=[h.get("ensemble_clean_accuracy") for h in history], name="clean accuracy")
            fig.add_scatter(x=epochs, y=[h.get("transferability") for h in history], name="transferability",
                            line={"dash": "dot"})
            fig.update_layout(xaxis_title="epoch", yaxis_title="rate", yaxis_range=[0, 1], height=320,
                              xaxis_dtick=max(1, len(epochs) // 10), xaxis_tickformat="d",
                              title=f"Training history of {entry['name']}")
            st.plotly_chart(fig, width="stretch")
        else:
            st.caption("No training history (imported ensemble).")

st.subheader("Add an ensemble")
with st.form("upload"):
    upload = st.file_uploader("Checkpoint: a .zip of a checkpoint directory, or a DVERGE release .pth",
                              type=["zip", "pth", "pt"])
    name = st.text_input("Name in your zoo", placeholder="e.g. dverge-cifar-official")
    c1, c2 = st.columns(2)
    dataset = c1.text_input("Data set (for a DVERGE .pth)", "cifar10",
                            help="cifar10 (torchvision downloads it when online), fashion_mnist, mnist, or "
                                 "folder:PATH for an image folder with test/<class>/ images (offline)")
    arch = c2.text_input("Architecture (for a DVERGE .pth)", "resnet20")
    submitted = st.form_submit_button("Validate and add")
if submitted:
    if upload is None:
        st.error("Choose a file first.")
    else:
        try:
            target = install_upload(upload.name, upload.getvalue(), name or upload.name.rsplit(".", 1)[0],
                                    dataset=dataset, arch=arch)
        except (CheckpointError, ValueError) as exc:
            st.error(f"Not added: {exc}")
        else:
            ui.zoo.clear()
            st.success(f"Added {target.name} ({json.dumps(read_meta(target)['members'])} members).")
