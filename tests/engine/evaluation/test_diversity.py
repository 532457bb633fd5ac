"""The diversity analysis: DVERGE Eq. (2) vulnerability diversity, ADP log-det, GAL/SMD
cosines per member pair, checked against hand computations and the effects the papers
claim on the quick-preset ensembles."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from engine import analyses
from engine.attacks import distill
from engine.ensemble import Ensemble
from engine.evaluation.diversity import (diversity_metrics, source_images, vulnerability_diversity,
                                         vulnerability_losses)
from engine.export import export_bytes
from engine.models import build_classifier


def _lenet(seed: int):
    torch.manual_seed(seed)
    return build_classifier("lenet5", channels=1, num_classes=10, mean=(0.286,), std=(0.353,))


@pytest.fixture(scope="module")
def samples(fmnist_test):
    sub = fmnist_test.subset(24, seed=3)
    return sub.images(), sub.y


@pytest.fixture(scope="module")
def pair_ensemble():
    return Ensemble([_lenet(1), _lenet(2)])


def test_with_a_zero_budget_and_the_image_as_its_own_source_eq2_is_plain_cross_entropy(pair_ensemble, samples):
    x, y = samples
    layers = torch.randint(1, 6, (len(y),), generator=torch.Generator().manual_seed(0))
    losses = vulnerability_losses(pair_ensemble, x, y, x, layers, eps=0.0, steps=1)  # x' = x
    with torch.no_grad():
        plain = torch.stack([F.cross_entropy(m(x), y) for m in pair_ensemble.members])
    for j in range(2):
        assert torch.allclose(losses[:, j], plain, atol=1e-5)


def test_pair_diversity_is_half_the_two_cross_distilled_losses(pair_ensemble, samples):
    x, y = samples
    result = vulnerability_diversity(pair_ensemble, x, y, eps=0.2, steps=5, layer=3, seed=11)
    xs, _ = source_images(x, y, torch.Generator().manual_seed(11))
    f0, f1 = pair_ensemble.members
    from_1, from_0 = distill(f1, 3, x, xs, eps=0.2, steps=5), distill(f0, 3, x, xs, eps=0.2, steps=5)
    with torch.no_grad():
        ce_0_on_1, ce_1_on_0 = F.cross_entropy(f0(from_1), y), F.cross_entropy(f1(from_0), y)
    expected = 0.5 * (ce_0_on_1 + ce_1_on_0)
    assert result["matrix"][0][1] == pytest.approx(float(expected), rel=1e-4)
    assert result["matrix"][1][0] == result["matrix"][0][1]
    assert result["directional"][0][1] == pytest.approx(float(ce_0_on_1), rel=1e-4)
    assert result["mean"] == pytest.approx(float(expected), rel=1e-4)
    assert result["layers"] == [0, 0, len(y), 0, 0]


def test_identical_members_have_no_diversity_by_any_metric(samples):
    x, y = samples
    model = _lenet(4)
    twins = Ensemble([model, copy.deepcopy(model)])
    m = diversity_metrics(twins, x, y, eps=0.2, steps=2, seed=0)
    v = torch.tensor(m["vulnerability"]["directional"])
    assert torch.allclose(v, v[0, 0].expand(2, 2), rtol=1e-5)  # x'_{f_0} = x'_{f_1}: every loss is the same
    assert m["gradient_cosine"]["mean"] == pytest.approx(1.0, abs=1e-5)
    assert m["saliency_cosine"]["mean"] == pytest.approx(1.0, abs=1e-5)
    # ADP Eq. 3 for two equal unit vectors: log det [[1+δ, 1], [1, 1+δ]] = log(2δ + δ²)
    assert m["adp_logdet"]["mean"] == pytest.approx(math.log(2e-6), abs=0.05)


def test_sources_pair_every_sample_with_another_one():
    x = torch.arange(10.0)[:, None]
    xs, ys = source_images(x, torch.arange(10), torch.Generator().manual_seed(5))
    assert sorted(ys.tolist()) == list(range(10)) and (ys != torch.arange(10)).all()
    assert torch.equal(xs[:, 0], ys.float())


def test_random_layers_are_seeded_and_leave_the_global_rng_alone(pair_ensemble, samples):
    x, y = samples
    state = torch.get_rng_state()
    a = diversity_metrics(pair_ensemble, x, y, ["vulnerability"], eps=0.2, steps=1, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # training's RNG is not consumed
    b = diversity_metrics(pair_ensemble, x, y, ["vulnerability"], eps=0.2, steps=1, seed=7)
    assert a["vulnerability"] == b["vulnerability"] and sum(a["vulnerability"]["layers"]) == len(y)
    assert len([c for c in a["vulnerability"]["layers"] if c]) > 1  # several layers drawn


@pytest.fixture(scope="module")
def quick_results(quick_zoo, quick_baseline):
    dverge = quick_zoo.get("dverge", init_from=str(quick_baseline))
    smd = quick_zoo.get("smd")
    config = {"samples": 100, "metrics": ["vulnerability", "saliency_cosine"]}
    return {name: analyses.run("diversity", path, config, device="cpu")
            for name, path in (("baseline", quick_baseline), ("dverge", dverge), ("smd", smd))}


def test_dverge_has_higher_vulnerability_diversity_than_the_baseline(quick_results):
    base, dverge = (quick_results[n]["metrics"]["vulnerability"] for n in ("baseline", "dverge"))
    assert dverge["mean"] > base["mean"] + 1.0  # measured: 7.7 vs 3.7
    pairs = [(i, j) for i in range(3) for j in range(i + 1, 3)]
    assert all(dverge["matrix"][i][j] > base["matrix"][i][j] for i, j in pairs)


def test_smd_has_lower_saliency_alignment_than_the_baseline(quick_results):
    base, smd = (quick_results[n]["metrics"]["saliency_cosine"] for n in ("baseline", "smd"))
    assert smd["mean"] < base["mean"] - 0.2  # measured: -0.22 vs 0.45
    assert smd["ensemble"] < base["ensemble"]


def test_the_figure_and_table_export(quick_results):
    results = [(name, r) for name, r in quick_results.items()]
    diversity = analyses.get("diversity")
    for kind in ("heatmaps", "bars"):
        assert export_bytes(diversity, results, "png", kind=kind).startswith(b"\x89PNG")
    lines = export_bytes(diversity, results, "csv").decode().strip().splitlines()
    # per ensemble and metric: 3 pairs + the pair mean (+ the log Σ exp value for saliency)
    assert len(lines) == 1 + 3 * (4 + 5)
    with pytest.raises(ValueError, match="adp_logdet"):
        diversity.figure(results, metric="adp_logdet")
