"""ARCHITECTURE.md's worked examples are real: each ```python block that starts with a
``# engine/...`` path is written to a temporary module, imported (its decorator registers
it), and used: the method trains one epoch through the one training loop and matches an
independent loss computation; the attack runs through ``run_attack``."""
import importlib.util
import re
import sys

import pytest
import torch
import torch.nn.functional as F

from engine import checkpoint as ckpt
from engine.attacks.registry import ATTACKS, run_attack
from engine.config import make_config
from engine.data import SPECS
from engine.ensemble import Ensemble
from engine.methods import METHODS, Batch, get_method
from engine.models import build_classifier
from engine.train import train
from tests.conftest import REPO

SPEC = SPECS["fashion_mnist"]


def examples() -> dict[str, str]:
    """{path in the first comment line: code} of every example block."""
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return {m.group(1): m.group(0)[len("```python\n"):-len("```")]
            for m in re.finditer(r"```python\n# (engine/\S+\.py)\n.*?```", text, flags=re.S)}


@pytest.fixture
def load_example(tmp_path):
    loaded = []

    def load(path: str):
        code = examples()[path]
        file = tmp_path / path.replace("/", "_")
        file.write_text(code, encoding="utf-8")
        name = f"architecture_example_{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        loaded.append(name)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
    METHODS.unregister("label_smoothing")
    ATTACKS.unregister("random-sign")


def test_the_document_has_the_examples_and_stays_one_page():
    assert set(examples()) == {"engine/methods/label_smoothing.py", "engine/attacks/random_sign.py"}
    assert len((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()) < 170


def test_the_example_method_registers_and_trains_through_the_one_loop(load_example, tmp_path):
    assert "label_smoothing" not in METHODS
    module = load_example("engine/methods/label_smoothing.py")
    assert get_method("label_smoothing") is module.LabelSmoothing

    # its loss is the sum over members of the label-smoothed CE, computed independently
    torch.manual_seed(0)
    ensemble = Ensemble(build_classifier("lenet5", channels=1, num_classes=10, mean=SPEC.mean, std=SPEC.std)
                        for _ in range(2))
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
    s = 0.2
    method = module.LabelSmoothing(module.LabelSmoothing.Params(smoothing=s), SPEC)
    target = torch.full((8, 10), s / 10).scatter_(1, y[:, None], 1 - s + s / 10)
    expected = sum(-(target * F.log_softmax(m(x), -1)).sum(1).mean() for m in ensemble.members)
    assert float(method.loss(ensemble, Batch(x, y)).total) == pytest.approx(float(expected), rel=1e-5)

    config = make_config("label_smoothing", "quick", members=2, epochs=1, train_subset=512, history_samples=0,
                         eval_samples=200, device="cpu", method_params={"smoothing": s})
    out = train(config, tmp_path / "run")
    meta = ckpt.read_meta(out)
    assert meta["method"] == "label_smoothing" and meta["method_params"] == {"smoothing": s} and meta["complete"]
    assert len(meta["history"]) == 1 and meta["history"][0]["loss"] > 0


def test_the_example_attack_registers_and_runs_through_run_attack(load_example):
    load_example("engine/attacks/random_sign.py")
    assert ATTACKS.get("random-sign").norm == "linf"
    model = build_classifier("lenet5", channels=1, num_classes=10, mean=SPEC.mean, std=SPEC.std)
    x = torch.full((4, 1, 28, 28), 0.5)
    adv = run_attack("random-sign", model, x, torch.zeros(4, dtype=torch.long), eps=0.1,
                     generator=torch.Generator().manual_seed(0))
    assert adv.shape == (1, 4, 1, 28, 28)
    assert torch.allclose((adv - x).abs(), torch.full_like(adv, 0.1))  # every pixel moved by exactly ε
