"""The "distill" analysis: DVERGE Eq. 1 distilled images with the appendix-B distance."""
import numpy as np
import pytest
import torch

from engine import analyses
from engine.checkpoint import load_checkpoint
from engine.evaluation.distill import default_layers, distilled_gallery
from engine.export import export_bytes

TARGET, SOURCE = 0, 1  # Ankle boot and Pullover, the first two Fashion-MNIST test images
SMALL = dict(members=[0, 2], layers=[1, 3], steps=4)


def lenet_features(member, layer: int, x: torch.Tensor) -> torch.Tensor:
    """LeNet-5's feature layers written out by hand (conv1, conv2, fc1, fc2 before their
    activation, then the logits), independent of the hook in engine.ensemble.layer_output."""
    net, h = member.model, member.normalizer(x)
    h = net.conv1(h)
    if layer == 1:
        return h
    h = net.conv2(net.pool(net.act(h)))
    if layer == 2:
        return h
    h = net.fc1(torch.flatten(net.pool(net.act(h)), 1))
    if layer == 3:
        return h
    h = net.fc2(net.act(h))
    return h if layer == 4 else net.fc3(net.act(h))


def test_default_layers_spread_over_the_feature_layers():
    assert default_layers(5) == [1, 3, 5]  # LeNet-5
    assert default_layers(20)[0] == 1 and default_layers(20)[-1] == 20 and len(default_layers(20)) == 3
    assert default_layers(2) == [1, 2]


@pytest.fixture(scope="module")
def baseline(quick_baseline):
    return load_checkpoint(quick_baseline)[0]


def test_distillation_lowers_the_table_2_distance_and_stays_in_the_source_ball(baseline, fmnist_test):
    target, source = fmnist_test.images([TARGET]), fmnist_test.images([SOURCE])
    layers = [1, 3, 5]
    out = distilled_gallery(baseline, target, source, int(fmnist_test.y[SOURCE]), members=[0, 1, 2], layers=layers,
                            eps=0.2, steps=10, step_size=None, momentum=1.0)
    distilled = torch.from_numpy(out["distilled"].astype(np.float32))  # [M, L, C, H, W]
    assert distilled.shape == (3, 3, 1, 28, 28)
    # float16 storage rounds by at most ~5e-4 on [0, 1]
    assert (distilled - source[0]).abs().max() <= 0.2 + 1e-3
    assert distilled.min() >= 0 and distilled.max() <= 1
    for m, member in enumerate(baseline.members):
        for l_pos, layer in enumerate(layers):
            with torch.no_grad():
                goal = lenet_features(member, layer, target)
                before = (lenet_features(member, layer, source) - goal).norm()
                after = (lenet_features(member, layer, distilled[m, l_pos][None]) - goal).norm()
            assert out["distance_before"][m][l_pos] == pytest.approx(float(before), rel=1e-4)
            assert out["distance_after"][m][l_pos] == pytest.approx(float(after), rel=2e-2)  # float16 images
            assert out["distance_after"][m][l_pos] < out["distance_before"][m][l_pos]
            with torch.no_grad():
                pred = baseline.member_logits(distilled[m, l_pos][None].float()).argmax(-1)[:, 0].tolist()
            assert out["prediction"][m][l_pos][:3] == pred


def test_end_to_end_with_seeded_images_shared_by_compared_ensembles(quick_zoo, quick_baseline, fmnist_test):
    dverge = quick_zoo.get("dverge", init_from=str(quick_baseline))
    results = [(analyses.label(p), analyses.run("distill", p, {**SMALL, "seed": 3})) for p in (dverge, quick_baseline)]
    a, b = results[0][1], results[1][1]
    assert (a["target_index"], a["source_index"]) == (b["target_index"], b["source_index"])
    assert fmnist_test.y[a["source_index"]] != fmnist_test.y[a["target_index"]]  # another class by default
    assert np.array_equal(a["target_image"], fmnist_test.x[a["target_index"]].numpy())
    assert a["distilled"].shape == (2, 2, 1, 28, 28) and a["distilled"].dtype == np.float16
    assert a["eps"] == 0.2 and a["step_size"] == pytest.approx(0.05)  # Fashion-MNIST distill_eps, ε/steps
    assert np.all(np.array(a["distance_after"]) < np.array(a["distance_before"]))
    assert a["method"] == "dverge"

    spec = analyses.get("distill")
    for compared in (results[:1], results):
        fig = spec.figure(compared)
        assert sum(t.type == "image" for t in fig.data) == 2 + 2 * 2 * len(compared)
        assert b"<html" in export_bytes(spec, compared, "html")
    rows = export_bytes(spec, results, "csv").decode().splitlines()
    assert len(rows) == 1 + 2 * 2 * 2 and "distance_after" in rows[0]


def test_explicit_images_and_invalid_choices(quick_baseline):
    result = analyses.run("distill", quick_baseline, dict(target_index=TARGET, source_index=SOURCE, members=[1],
                                                          layers=[5], steps=2))
    assert (result["target_index"], result["source_index"], result["members"], result["layers"]) == (0, 1, [1], [5])
    with pytest.raises(analyses.AnalysisError, match="layers"):
        analyses.run("distill", quick_baseline, dict(layers=[6], steps=1))
    with pytest.raises(analyses.AnalysisError, match="members"):
        analyses.run("distill", quick_baseline, dict(members=[3], steps=1))
    with pytest.raises(analyses.AnalysisError, match="target_index"):
        analyses.run("distill", quick_baseline, dict(target_index=10_000, steps=1))
