"""Within-ensemble transferability (DVERGE 4.2): the engine's shortcuts -- restarts only on
samples not yet fooled everywhere, parallel (member, chunk) tasks -- give exactly the
matrix of the plain protocol."""
import pytest
import torch

from engine.attacks import pgd
from engine.checkpoint import load_checkpoint
from engine.ensemble import attack_mode
from engine.evaluation.transferability import correct_samples, transfer_matrix

EPS, STEPS, RESTARTS, SEED = 0.1, 5, 3, 0


@pytest.fixture(scope="module")
def setup(quick_baseline, fmnist_test):
    ensemble = load_checkpoint(quick_baseline)[0]
    x, y = correct_samples(ensemble, fmnist_test, 60, seed=3)
    return ensemble, x, y


def _plain_protocol(ensemble, x, y):
    """Every restart on every sample, fooled = any restart fools; random starts drawn per
    (seed, source, restart) as the engine documents."""
    k = len(ensemble)
    fooled = torch.zeros(k, k + 1, x.shape[0], dtype=torch.bool)
    with attack_mode(ensemble):
        for i, source in enumerate(ensemble.members):
            for r in range(RESTARTS):
                g = torch.Generator().manual_seed(SEED * 1_000_003 + i * 10_007 + r)
                adv = pgd(source, x, y, eps=EPS, step_size=EPS / 5, steps=STEPS, noise=torch.rand(x.shape, generator=g))[0]
                with torch.no_grad():
                    for j, target in enumerate(ensemble.members):
                        fooled[i, j] |= target(adv).argmax(1) != y
                    fooled[i, k] |= ensemble(adv).argmax(1) != y
    return fooled.float().mean(-1)


@pytest.mark.parametrize("workers", [1, 2])
def test_skipping_fooled_samples_and_parallel_tasks_change_nothing(setup, workers):
    ensemble, x, y = setup
    ours = transfer_matrix(ensemble, x, y, eps=EPS, steps=STEPS, restarts=RESTARTS, seed=SEED, workers=workers)
    plain = _plain_protocol(ensemble, x, y)
    # identical math; allow one sample's flip from float rounding differences between batch sizes
    assert torch.tensor(ours["matrix"]) == pytest.approx(plain[:, :3], abs=1 / 60 + 1e-6)
    assert torch.tensor(ours["ensemble"]) == pytest.approx(plain[:, 3], abs=1 / 60 + 1e-6)
    assert min(ours["matrix"][i][i] for i in range(3)) > 0.5  # white-box PGD fools its own source


def test_progress_reports_every_task(setup):
    ensemble, x, y = setup
    calls = []
    transfer_matrix(ensemble, x[:10], y[:10], eps=EPS, steps=1, workers=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] and [d for d, _ in calls] == list(range(1, len(calls) + 1))


def test_member_batched_attacks_of_the_cuda_path_give_the_same_result(setup):
    """On CUDA all source members are attacked in one PGD loop over their concatenated
    samples; forced on here (CPU), it must reproduce the member-by-member result."""
    ensemble, x, y = setup
    kwargs = dict(eps=EPS, steps=STEPS, restarts=RESTARTS, seed=SEED, examples=4)
    batched = transfer_matrix(ensemble, x, y, batch_members=True, **kwargs)
    one_by_one = transfer_matrix(ensemble, x, y, batch_members=False, workers=1, **kwargs)
    assert batched["matrix"] == one_by_one["matrix"] and batched["ensemble"] == one_by_one["ensemble"]
    for key in ("adversarial", "prediction"):
        assert (batched["examples"][key] == one_by_one["examples"][key]).all()
    assert min(batched["matrix"][i][i] for i in range(3)) > 0.5
