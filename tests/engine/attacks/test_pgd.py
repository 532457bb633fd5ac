"""Native batched PGD: stays in the ε-ball and [0, 1], hurts accuracy, agrees with advertorch."""
import pytest
import torch

from engine.attacks import advertorch_pgd, pgd
from engine.checkpoint import load_checkpoint
from engine.ensemble import attack_mode


@pytest.fixture(scope="module")
def member_and_batch(quick_baseline, fmnist_test):
    ensemble, _ = load_checkpoint(quick_baseline)
    sub = fmnist_test.subset(200, seed=3)
    return ensemble, sub.images(), sub.y


def test_pgd_stays_in_the_eps_ball_and_in_pixel_range(member_and_batch):
    ensemble, x, y = member_and_batch
    with attack_mode(ensemble):
        adv = pgd(ensemble.members[0], x, y, eps=0.1, step_size=0.03, steps=5, restarts=2)
    assert adv.shape == (2, *x.shape)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_lowers_accuracy_of_an_undefended_model(member_and_batch):
    ensemble, x, y = member_and_batch
    member = ensemble.members[0]
    with attack_mode(ensemble):
        adv = pgd(member, x, y, eps=0.1, step_size=0.02, steps=20)[0]
        clean_acc = (member(x).argmax(1) == y).float().mean()
        adv_acc = (member(adv).argmax(1) == y).float().mean()
    assert clean_acc > 0.8 and adv_acc < clean_acc - 0.5


def test_native_pgd_equals_advertorch_without_random_start(member_and_batch):
    ensemble, x, y = member_and_batch
    with attack_mode(ensemble):
        ours = pgd(ensemble.log_probs, x, y, eps=0.1, step_size=0.02, steps=10, random_start=False)
        theirs = advertorch_pgd(ensemble.log_probs, x, y, eps=0.1, step_size=0.02, steps=10, random_start=False)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_native_and_advertorch_success_rates_agree_with_random_start(member_and_batch):
    ensemble, x, y = member_and_batch
    member = ensemble.members[1]
    with attack_mode(ensemble):
        ours = pgd(member, x, y, eps=0.1, step_size=0.02, steps=20, generator=torch.Generator().manual_seed(5))[0]
        theirs = advertorch_pgd(member, x, y, eps=0.1, step_size=0.02, steps=20)[0]
        rate = lambda a: (member(a).argmax(1) != y).float().mean().item()
    assert abs(rate(ours) - rate(theirs)) < 0.05


def test_restarts_are_independent_random_starts(member_and_batch):
    ensemble, x, y = member_and_batch
    with attack_mode(ensemble):
        adv = pgd(ensemble.members[0], x[:8], y[:8], eps=0.1, step_size=0.02, steps=0, restarts=3)
    assert not torch.equal(adv[0], adv[1])


def test_attacks_leave_no_parameter_gradients_and_restore_modes(member_and_batch):
    ensemble, x, y = member_and_batch
    ensemble.train()
    with attack_mode(ensemble):
        pgd(ensemble.log_probs, x[:16], y[:16], eps=0.1, step_size=0.02, steps=3)
    assert all(p.grad is None for p in ensemble.parameters())
    assert ensemble.training and all(p.requires_grad for p in ensemble.parameters())
    ensemble.eval()


def test_native_momentum_pgd_equals_advertorch_momentum_iterative_attack(member_and_batch):
    """``momentum=μ`` is MI-FGSM: the same iterates as advertorch's MomentumIterativeAttack."""
    from engine.compat import advertorch

    ensemble, x, y = member_and_batch
    member = ensemble.members[2]
    with attack_mode(ensemble):
        ours = pgd(member, x, y, eps=0.1, step_size=0.02, steps=10, random_start=False, momentum=1.0)[0]
        theirs = advertorch().MomentumIterativeAttack(member, eps=0.1, nb_iter=10, decay_factor=1.0,
                                                      eps_iter=0.02).perturb(x, y)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_native_cw_loss_pgd_equals_advertorch_with_the_cw_margin(member_and_batch):
    from engine.attacks.pgd import cw_margin
    from engine.compat import advertorch

    ensemble, x, y = member_and_batch
    member = ensemble.members[0]
    with attack_mode(ensemble):
        ours = pgd(member, x, y, eps=0.1, step_size=0.02, steps=10, random_start=False, loss="cw")[0]
        theirs = advertorch().LinfPGDAttack(member, loss_fn=cw_margin, eps=0.1, nb_iter=10, eps_iter=0.02,
                                            rand_init=False).perturb(x, y)
        margin = lambda a: cw_margin(member(a), y).item()
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert margin(ours) > margin(x)
