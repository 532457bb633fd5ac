"""Model zoo: every ensemble found (shipped and user-trained), with its training history."""
import plotly.graph_objects as go
import streamlit as st

from engine.zoo import list_ensembles, user_data_dir

st.title("Model zoo")
ensembles = list_ensembles()
if not ensembles:
    st.info("No ensembles yet. Train one from a terminal, e.g.\n\n"
            f"`python -m engine train --preset quick --method dverge --members 3 --out {user_data_dir() / 'ensembles' / 'dverge'}`\n\n"
            "and it appears here.")
    st.stop()

rows = [{k: e.get(k) for k in ("name", "method", "dataset", "arch", "members", "epoch", "accuracy", "transferability",
                                "shipped")} for e in ensembles if "error" not in e]
st.dataframe(rows, hide_index=True, use_container_width=True)
for e in ensembles:
    if "error" in e:
        st.warning(f"{e['path']}: {e['error']}")

names = [r["name"] for r in rows]
chosen = st.multiselect("Training history of", names, default=names[:1])
fig = go.Figure()
for e in ensembles:
    if e.get("name") in chosen and e.get("history"):
        epochs = [h["epoch"] for h in e["history"]]
        fig.add_scatter(x=epochs, y=[h.get("ensemble_clean_accuracy") for h in e["history"]], name=f"{e['name']} accuracy")
        fig.add_scatter(x=epochs, y=[h.get("transferability") for h in e["history"]], name=f"{e['name']} transferability",
                        line={"dash": "dot"})
fig.update_layout(xaxis_title="epoch", yaxis_title="rate", yaxis_range=[0, 1])
st.plotly_chart(fig, use_container_width=True)
