"""Every registered method: built from its default hyperparameters, one loss on a real
batch trains every member (a finite loss whose gradient reaches each member's weights);
an unknown method name is refused with the choices."""
import random

import pytest
import torch
from pydantic import ValidationError

from engine.config import make_config
from engine.data import SPECS
from engine.ensemble import Ensemble
from engine.methods import METHODS, Batch, Method, get_method
from engine.models import build_classifier
from engine.registry import UnknownName

SPEC = SPECS["fashion_mnist"]


def test_the_papers_methods_are_registered():
    assert {"baseline", "adp", "gal", "dverge", "dverge_advt", "advt", "smd", "smd_plus", "cce"} <= set(METHODS)


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_computes_a_loss_that_trains_every_member(name, fmnist_test):
    cls = get_method(name)
    assert issubclass(cls, Method) and cls.name == name
    torch.manual_seed(0)
    ensemble = Ensemble(build_classifier("lenet5", channels=1, num_classes=10, mean=SPEC.mean, std=SPEC.std,
                                         leaky=cls.leaky_relu) for _ in range(2))
    data = fmnist_test.subset(32, seed=1)
    batch = Batch(data.images()[:16], data.y[:16])
    if cls.needs_source_batch:
        batch.xs, batch.ys = data.images()[16:], data.y[16:]
    method = cls(cls.Params(), SPEC)
    method.begin_epoch(1, ensemble, random.Random(0))
    ensemble.train()
    losses = method.loss(ensemble, batch)
    assert losses.total.dim() == 0 and torch.isfinite(losses.total)
    assert len(losses.members) == 2
    losses.total.backward()
    for member in ensemble.members:
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in member.parameters()), name


def test_an_unknown_method_is_refused_with_the_choices():
    with pytest.raises(UnknownName, match="unknown method 'dvergee'; choose from: baseline, "):
        get_method("dvergee")
    with pytest.raises(ValidationError, match="unknown method 'dvergee'"):
        make_config("dvergee")
