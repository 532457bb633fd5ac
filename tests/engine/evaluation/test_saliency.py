"""The "saliency" analysis: captum attribution maps per member and SMD Eq. 2 alignment."""
import numpy as np
import pytest
import torch

from engine import analyses
from engine.checkpoint import load_checkpoint
from engine.ensemble import Ensemble
from engine.evaluation.diversity import gradient_alignment
from engine.analyses.saliency import Config
from engine.evaluation.saliency import member_attributions, saliency_alignment_matrix
from engine.export import export_bytes
from tests.models import Linear

INDICES = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def baseline(quick_baseline):
    return load_checkpoint(quick_baseline)[0]


@pytest.fixture(scope="module")
def images(fmnist_test):
    return fmnist_test.images(INDICES), fmnist_test.y[INDICES]


def test_captum_saliency_is_the_gradient_of_the_target_logit(baseline, images):
    x, y = images
    maps = member_attributions(baseline, x, y, Config(method="saliency"))
    assert maps.shape == (3, 4, 1, 28, 28)
    for m, member in enumerate(baseline.members):
        for b in range(len(INDICES)):
            xb = x[b:b + 1].clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(member(xb)[0, y[b]], xb)
            assert torch.allclose(maps[m, b], grad[0], atol=1e-6)
    assert all(p.grad is None for p in baseline.parameters())  # attributions never touch the weights


def test_smoothgrad_of_a_linear_model_is_its_weight_row():
    # (On LeNet-5 even 1e-6 noise changes the saliency: max-pooling over the flat black
    # background has ties that the noise breaks, so a linear model is the exact check.)
    torch.manual_seed(0)
    weights = [torch.randn(3, 8) for _ in range(2)]
    x, target = torch.rand(4, 2, 2, 2), torch.tensor([0, 1, 2, 1])
    ensemble = Ensemble([Linear(w) for w in weights])
    smooth = member_attributions(ensemble, x, target, Config(method="smoothgrad", noise_std=0.3, nt_samples=5))
    expected = torch.stack([w[target].view(4, 2, 2, 2) for w in weights])
    assert torch.allclose(smooth, expected, atol=1e-6)


def test_integrated_gradients_are_complete(baseline, images):
    x, y = images
    ig = member_attributions(baseline, x, y, Config(method="integrated_gradients", ig_steps=200))
    index = y.view(1, -1, 1).expand(3, -1, 1)
    with torch.no_grad():  # completeness axiom: Σ IG = f(x)[y] - f(black)[y]
        gain = (baseline.member_logits(x).gather(2, index) - baseline.member_logits(torch.zeros_like(x)).gather(2, index))[..., 0]
    assert torch.allclose(ig.flatten(2).sum(-1), gain, rtol=0.05, atol=0.05 * float(gain.abs().max()))


def test_alignment_matrix_is_the_smd_cosine(baseline, images):
    x, y = images
    cos, lse = saliency_alignment_matrix(baseline, x, y)
    assert cos.shape == (4, 3, 3)
    assert torch.allclose(cos, cos.transpose(1, 2)) and torch.allclose(cos.diagonal(dim1=1, dim2=2), torch.ones(4, 3))
    for b in range(len(INDICES)):  # the same cosines through engine.gradients (diversity metrics)
        reference = gradient_alignment(baseline, x[b:b + 1], y[b:b + 1], kind="saliency")
        i, j = torch.triu_indices(3, 3, offset=1)
        assert float(cos[b, i, j].mean()) == pytest.approx(reference["mean_cosine"], abs=1e-5)
        assert float(lse[b]) == pytest.approx(reference["lse"], abs=1e-5)


def test_smd_members_are_less_aligned_than_the_baseline(quick_zoo, quick_baseline):
    config = dict(images=8, seed=5)
    smd = analyses.run("saliency", quick_zoo.get("smd"), config)
    base = analyses.run("saliency", quick_baseline, config)
    assert smd["indices"] == base["indices"]
    # measured on the quick preset: baseline ~0.5, SMD ~-0.1 mean pairwise cosine
    assert np.mean(smd["mean_alignment"]) < np.mean(base["mean_alignment"]) - 0.2
    assert np.mean(smd["smd_loss"]) < np.mean(base["smd_loss"])


def test_end_to_end_figures_and_exports(quick_zoo, quick_baseline, fmnist_test):
    smd = analyses.run("saliency", quick_zoo.get("smd"), dict(indices=[11, 12], method="smoothgrad", nt_samples=4))
    base = analyses.run("saliency", quick_baseline, dict(indices=[11, 12], method="smoothgrad", nt_samples=4))
    assert smd["maps"].shape == (3, 2, 28, 28) and smd["alignment"].shape == (2, 3, 3)
    assert smd["labels"] == smd["targets"] == fmnist_test.y[[11, 12]].tolist()
    assert smd["method"] == "smd" and smd["attribution"] == "smoothgrad"
    spec = analyses.get("saliency")
    results = [("smd", smd), ("baseline", base)]
    for compared in (results[:1], results):
        fig = spec.figure(compared)
        assert sum(t.type == "heatmap" for t in fig.data) == 3 * 2 * len(compared)
        assert sum(t.type == "image" for t in fig.data) == 2 * len(compared)
    assert export_bytes(spec, results, "png").startswith(b"\x89PNG")  # the one PNG export of these tests
    assert len(export_bytes(spec, results, "csv").decode().splitlines()) == 1 + 2 * 2


def test_chosen_target_class_and_invalid_requests(quick_baseline):
    result = analyses.run("saliency", quick_baseline, dict(indices=[0], target=3))
    assert result["targets"] == [3] and result["labels"] == [9]
    with pytest.raises(analyses.AnalysisError, match="target"):
        analyses.run("saliency", quick_baseline, dict(indices=[0], target=10))
    with pytest.raises(analyses.AnalysisError, match="indices"):
        analyses.run("saliency", quick_baseline, dict(indices=[10_000]))
