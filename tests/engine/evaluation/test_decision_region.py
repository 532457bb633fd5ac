"""The "decision-region" analysis: DVERGE Fig. 1 / 7 slices around one test image."""
import numpy as np
import pytest
import torch

from engine import analyses
from engine.checkpoint import CheckpointError, load_checkpoint
from engine.ensemble import Ensemble
from engine.evaluation.decision_region import adversarial_direction, rademacher_direction, region_grid
from engine.export import export_bytes
from tests.models import Linear

SMALL = dict(resolution=9, extent=0.1)


def test_grid_matches_a_hand_computed_linear_model():
    torch.manual_seed(0)
    x = torch.rand(1, 1, 2, 2)
    vertical, horizontal = torch.sign(torch.randn(1, 1, 2, 2)), rademacher_direction((1, 1, 2, 2), seed=1)
    members = [Linear(torch.randn(3, 4)) for _ in range(2)]
    offsets = torch.linspace(-0.5, 0.5, 7)
    grid = region_grid(Ensemble(members), x, vertical, horizontal, offsets, batch_size=5)
    assert grid.shape == (3, 7, 7)
    w = [m.weight.detach().numpy() for m in members]
    for i, a in enumerate(offsets.tolist()):
        for j, b in enumerate(offsets.tolist()):
            point = np.clip((x + a * vertical + b * horizontal).numpy().ravel(), 0, 1)
            logits = [wk @ point for wk in w]
            probs = np.mean([np.exp(z - z.max()) / np.exp(z - z.max()).sum() for z in logits], axis=0)
            assert list(grid[:, i, j]) == [int(np.argmax(z)) for z in logits] + [int(np.argmax(probs))]


def test_one_member_ensemble_slice_equals_its_member(quick_baseline, fmnist_test):
    member = load_checkpoint(quick_baseline)[0].members[0]
    x = fmnist_test.images([3])
    grid = region_grid(Ensemble([member]), x, adversarial_direction(Ensemble([member]), x, fmnist_test.y[[3]]),
                       rademacher_direction(x.shape, 0), torch.linspace(-0.2, 0.2, 11))
    assert np.array_equal(grid[0], grid[1])


def test_directions_are_unit_linf_and_seeded(quick_baseline, fmnist_test):
    ensemble = load_checkpoint(quick_baseline)[0]
    x, y = fmnist_test.images([5]), fmnist_test.y[[5]]
    d = adversarial_direction(ensemble, x, y)
    assert d.abs().max() == 1 and set(d.unique().tolist()) <= {-1.0, 0.0, 1.0}
    step = 0.01 * d  # a small FGSM step along the direction raises the ensemble's loss
    with torch.no_grad():
        loss = [torch.nn.functional.nll_loss(ensemble.log_probs(v), y) for v in (x, (x + step).clamp(0, 1))]
    assert loss[1] > loss[0]
    r = rademacher_direction(x.shape, 4)
    assert set(r.unique().tolist()) == {-1.0, 1.0} and torch.equal(r, rademacher_direction(x.shape, 4))


def test_end_to_end_origin_is_the_clean_prediction(quick_zoo, quick_baseline, fmnist_test):
    dverge = quick_zoo.get("dverge", init_from=str(quick_baseline))
    own = analyses.run("decision-region", dverge, {**SMALL, "index": 7})
    shared = analyses.run("decision-region", dverge, {**SMALL, "index": 7, "surrogate": str(quick_baseline)})
    base = analyses.run("decision-region", quick_baseline, {**SMALL, "index": 7, "surrogate": str(quick_baseline)})
    ensemble = load_checkpoint(dverge)[0]
    with torch.no_grad():
        logits = ensemble.member_logits(fmnist_test.images([7]))
    clean = logits.argmax(-1)[:, 0].tolist() + [int(logits.softmax(-1).mean(0).argmax())]
    for r in (own, shared):
        assert r["regions"].shape == (4, 9, 9)
        assert r["regions"][:, 4, 4].tolist() == clean == r["clean_prediction"]
        assert r["offsets"][0] == pytest.approx(-0.1) and r["offsets"][-1] == pytest.approx(0.1)
    assert own["surrogate_name"] == "the analysed ensemble itself" and "baseline" in shared["surrogate_name"]
    assert own["label"] == int(fmnist_test.y[7]) and own["classes"] == fmnist_test.classes

    spec = analyses.get("decision-region")
    results = [("dverge", shared), ("baseline", base)]
    for compared in (results[:1], results):
        fig = spec.figure(compared)
        assert sum(t.type == "heatmap" for t in fig.data) == 4 * len(compared)
        assert "baseline" in fig.layout.title.text  # says which surrogate gave the vertical axis
        legend = {t.name for t in fig.data if t.type == "scatter" and t.showlegend}
        assert any(name.endswith("(true)") for name in legend)
        assert b"<html" in export_bytes(spec, compared, "html")
    assert len(export_bytes(spec, results, "csv").decode().splitlines()) == 1 + 2 * 4


def test_invalid_requests(quick_baseline, tmp_path):
    with pytest.raises(analyses.AnalysisError, match="resolution"):
        analyses.run("decision-region", quick_baseline, {"resolution": 1001})
    with pytest.raises(analyses.AnalysisError, match="index"):
        analyses.run("decision-region", quick_baseline, {"index": 10_000, "resolution": 3})
    # a surrogate that is not a checkpoint: the analysis error carries the checkpoint's own message
    with pytest.raises((CheckpointError, analyses.AnalysisError), match="has no meta.json: not a checkpoint"):
        analyses.run("decision-region", quick_baseline, {"surrogate": str(tmp_path), "resolution": 3})


def test_default_slice_of_the_shipped_baseline_shows_a_boundary():
    """Without an index the slice is informative: the shipped baseline's own ensemble panel
    shows at least two classes, and the result says how the image was chosen."""
    from tests.conftest import REPO

    result = analyses.run("decision-region", REPO / "checkpoints" / "baseline", {"resolution": 15})
    assert len(np.unique(result["regions"][-1][:, 7])) >= 2  # the vertical line through the image (column 7 of 15)
    assert "crosses a decision boundary" in result["index_rule"]
