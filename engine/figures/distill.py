"""Gallery of DVERGE distilled images (Eq. 1): the source x_s and the target x, then one
distilled image x' per member (columns) and feature layer (rows), each titled with the
appendix-B feature distance ||f^l(x') − f^l(x)||₂ (and where it started, at x_s) and the
distilling member's prediction on x'. Several ensembles share the first two columns (the
same images) and follow each other to the right."""
from __future__ import annotations

from . import class_name, image_grid

CELL = 150  # px per image cell


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def distilled_figure(results, **_view):
    first = results[0][1]
    layers = first["layers"]
    cols = 2 + sum(len(r["members"]) for _, r in results)
    images, titles = [], []
    for row, layer in enumerate(layers):
        if row == 0:
            images += [first["source_image"] / 255.0, first["target_image"] / 255.0]
            titles += [f"source x_s #{first['source_index']}<br>{class_name(first, first['source_label'])}",
                       f"target x #{first['target_index']}<br>{class_name(first, first['target_label'])}"]
        else:
            images += [None, None]
            titles += ["", ""]
        for label, r in results:
            if r["layers"] != layers or r["target_index"] != first["target_index"]:
                raise ValueError("compared distillation results must use the same images and layers")
            for m_pos, member in enumerate(r["members"]):
                before, after = r["distance_before"][m_pos][row], r["distance_after"][m_pos][row]
                pred = class_name(r, r["prediction"][m_pos][row][member])
                head = f"<b>{_short(label)}</b><br>" if row == 0 and m_pos == 0 else ("<br>" if row == 0 else "")
                images.append(r["distilled"][m_pos][row].astype("float32"))
                titles.append(f"{head}m{member} · layer {layer}<br>d {before:.3g}→{after:.3g} · {pred}")
    fig = image_grid(images, rows=len(layers), cols=cols, titles=titles, height_per_row=CELL + 40)
    fig.update_annotations(font_size=10)
    fig.update_layout(width=max(CELL * cols + 40, 500), margin=dict(l=10, r=10, t=110, b=10),
                      title=dict(text=f"DVERGE distilled images x' (Eq. 1), distillation ε={first['eps']:.3g} "
                                      "(DVERGE's training budget, not the evaluation ε), "
                                      f"{first['steps']} steps · d = ||f(x')−f(x)||₂ from ||f(x_s)−f(x)||₂ · "
                                      "label = distilling member's prediction on x'",
                                 font_size=12, x=0.01, y=0.99))
    return fig


def distilled_table(results) -> list[dict]:
    rows = []
    for label, r in results:
        for m_pos, member in enumerate(r["members"]):
            for l_pos, layer in enumerate(r["layers"]):
                pred = r["prediction"][m_pos][l_pos]
                row = {"ensemble": label, "method": r.get("method"), "dataset": r.get("dataset"),
                       "target_index": r["target_index"], "source_index": r["source_index"],
                       "target_class": class_name(r, r["target_label"]),
                       "source_class": class_name(r, r["source_label"]), "member": member, "layer": layer,
                       "eps": r["eps"], "steps": r["steps"],
                       "distance_before": r["distance_before"][m_pos][l_pos],
                       "distance_after": r["distance_after"][m_pos][l_pos],
                       "distance_ratio": r["distance_ratio"][m_pos][l_pos],
                       "linf_to_source": r["linf_to_source"][m_pos][l_pos],
                       "ensemble_prediction": class_name(r, pred[-1])}
                for j, cls in enumerate(pred[:-1]):
                    row[f"member{j}_prediction"] = class_name(r, cls)
                    row[f"member{j}_source_ce"] = r["source_cross_entropy"][m_pos][l_pos][j]
                rows.append(row)
    return rows
