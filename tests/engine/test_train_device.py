"""Device-agnostic hot paths of the training loop, checked on CPU: bf16 autocast against
fp32 on a fixed batch, loss sums kept on the device, batch copies, and no hard-coded
CUDA calls anywhere in the engine."""
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine.data import get_spec, load_split
from engine.ensemble import Ensemble
from engine.methods import Batch, get_method
from engine.methods.base import Losses
from engine.models import build_classifier
from engine.config import TrainConfig
from engine.device import bf16_autocast, to_device
from engine.train import TrainingError, _LossSums, train

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _fixed_batch(n=32):
    test = load_split("fashion_mnist", "test")
    idx = torch.arange(n)
    return test.images(idx), test.y[idx], test.images(idx + n), test.y[idx + n]


def _ensemble(spec, leaky):
    torch.manual_seed(0)
    return Ensemble(build_classifier("lenet5", channels=1, num_classes=10, mean=spec.mean, std=spec.std, leaky=leaky)
                    for _ in range(3))


@pytest.mark.parametrize("method_name", ["baseline", "dverge"])
def test_bf16_autocast_matches_fp32_on_a_fixed_batch(method_name):
    """The same loss and gradient direction in bf16 mixed precision as in fp32 (bf16 keeps
    8 bits of mantissa: ~0.4% per op), including DVERGE's feature distillation."""
    spec = get_spec("fashion_mnist")
    method_cls = get_method(method_name)
    method = method_cls(method_cls.Params(), spec)
    ensemble = _ensemble(spec, method_cls.leaky_relu)
    x, y, xs, ys = _fixed_batch()
    if method_name == "dverge":
        method.layer = 2
    results = []
    for enabled in (False, True):
        ensemble.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same random starts in both runs
        with bf16_autocast(torch.device("cpu"), enabled):
            losses = method.loss(ensemble, Batch(x, y, xs, ys))
        losses.total.backward()
        grad = torch.cat([p.grad.flatten() for p in ensemble.parameters() if p.grad is not None])
        results.append((float(losses.total.detach()), grad, losses.total.dtype))
    (fp32, g32, _), (bf16, g16, dtype) = results
    assert dtype == torch.float32  # losses are reduced in fp32 under autocast
    assert bf16 == pytest.approx(fp32, rel=2e-2)
    assert F.cosine_similarity(g32, g16, dim=0) > 0.99
    assert g16.dtype == torch.float32  # parameters and their gradients stay fp32


def test_loss_sums_stay_on_the_device_and_equal_plain_sums():
    sums = _LossSums(2, torch.device("cpu"))
    values = [(1.5, [0.5, 1.0], 0.25), (2.0, [1.25, 0.75], 0.5), (0.5, [0.25, 0.25], 0.125)]
    for total, members, term in values:
        sums.add(Losses(torch.tensor(total, requires_grad=True), torch.tensor(members),
                        {"alignment": torch.tensor(term), "layer": 3}))
    assert sums.finite() and sums.total.device.type == "cpu"
    means = sums.means(3)
    assert means["loss"] == pytest.approx(sum(v[0] for v in values) / 3)
    assert means["member_loss"] == pytest.approx([sum(v[1][i] for v in values) / 3 for i in range(2)])
    assert means["alignment"] == pytest.approx(sum(v[2] for v in values) / 3) and "layer" not in means
    sums.add(Losses(torch.tensor(float("nan")), [0.0, 0.0]))
    assert not sums.finite() and str(sums.first_bad()) == "nan"


def test_a_diverging_run_stops_with_a_clear_error_before_saving(tmp_path, monkeypatch):
    method_cls = get_method("baseline")
    calls = []
    original = method_cls.loss

    def loss_going_nan_at_batch_2(self, ensemble, batch):
        losses = original(self, ensemble, batch)
        calls.append(1)
        if len(calls) == 2:
            losses.total = losses.total * float("nan")
        return losses

    monkeypatch.setattr(method_cls, "loss", loss_going_nan_at_batch_2)
    config = TrainConfig(method="baseline", members=2, epochs=1, train_subset=512, batch_size=128,
                         history_samples=0, eval_samples=100, device="cpu")
    with pytest.raises(TrainingError, match=r"^loss became nan at epoch 1 \(by batch 2\); lower the learning rate"):
        train(config, tmp_path)
    assert not (tmp_path / "meta.json").exists()


def test_batch_copies_keep_values_and_plain_cpu_stays_unpinned():
    x = torch.rand(4, 1, 28, 28)
    out = to_device(x, torch.device("cpu"))
    assert torch.equal(out, x) and not out.is_pinned() if torch.cuda.is_available() else torch.equal(out, x)
    meta = to_device(x, torch.device("meta"))  # any non-CUDA device: a plain .to
    assert meta.device.type == "meta" and meta.shape == x.shape


def test_no_hard_coded_cuda_calls_in_the_engine():
    """Device selection stays automatic: tensors move with .to(device), never .cuda()."""
    offenders = [f"{path.relative_to(ENGINE.parent)}:{n}" for path in ENGINE.rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"\.cuda\(\s*\)", line)]
    assert offenders == []
