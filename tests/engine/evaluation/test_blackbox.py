"""Black-box transfer analysis (DVERGE 4.3): transfer sets are generated once per
surrogate and reused for every target; all-or-nothing accuracy falls with ε below clean."""
import numpy as np
import pytest

from engine import analyses
from engine.analyses import AnalysisError
from engine.cache import ResultCache
from engine.evaluation import blackbox
from engine.figures import blackbox as blackbox_figures

CONFIG = dict(samples=60, eps=[0.05, 0.2], steps=5, restarts=2, losses=["ce"], seed=0)


@pytest.fixture(scope="module")
def surrogate(quick_zoo):
    """A hold-out baseline: another seed, cheap training."""
    return quick_zoo.get("baseline", seed=1, epochs=1, train_subset=5000)


def test_transfer_sets_are_generated_once_and_reused_for_every_target(quick_baseline, quick_zoo, surrogate,
                                                                      tmp_path):
    cache = ResultCache(tmp_path / "cache")
    config = dict(CONFIG, surrogates=[str(surrogate)])
    first = analyses.run("blackbox", quick_baseline, config, device="cpu", cache=cache)
    # one miss for the result + one per transfer set: 2 attacks (SGM skipped: LeNet) x 1 loss x 2 ε
    assert (cache.hits, cache.misses) == (0, 1 + 4)
    second = analyses.run("blackbox", quick_zoo.get("dverge"), config, device="cpu", cache=cache)
    assert (cache.hits, cache.misses) == (4, 1 + 4 + 1)

    for r in (first, second):
        # fractions of the 60 samples: whole counts, never a rounding or averaging artefact
        assert all(abs(a * 60 - round(a * 60)) < 1e-6 for a in r["accuracy"] + [r["clean_accuracy"]])
        assert r["skipped"] and r["skipped"][0]["attack"] == "sgm" and "residual" in r["skipped"][0]["reason"]
        assert r["versions_per_sample"] == 2 + 1  # PGD-momentum restarts + M-DI²-FGSM
        # all-or-nothing: never above any single attack's accuracy
        for accs in r["per_attack"].values():
            assert all(a <= b + 1e-9 for a, b in zip(r["accuracy"], accs))
    acc = first["accuracy"]
    assert acc[1] <= acc[0] + 0.05  # non-increasing in ε (up to sampling noise)
    assert acc[1] < first["clean_accuracy"] - 0.1  # transfer attacks hurt the undefended baseline
    assert first["surrogates"][0]["name"] == surrogate.name


def test_missing_surrogates_is_an_actionable_error(quick_baseline, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))  # an empty zoo
    monkeypatch.setattr("engine.zoo.SHIPPED", tmp_path / "none")
    with pytest.raises(AnalysisError, match="python -m engine train --method baseline"):
        analyses.run("blackbox", quick_baseline, dict(CONFIG), device="cpu", cache=ResultCache(tmp_path / "c"))


def test_the_target_cannot_be_its_own_surrogate(quick_baseline, tmp_path):
    with pytest.raises(AnalysisError, match="white-box"):
        analyses.run("blackbox", quick_baseline, dict(CONFIG, surrogates=[str(quick_baseline)]), device="cpu",
                     cache=ResultCache(tmp_path / "c"))


def test_figure_and_table_have_one_line_per_ensemble():
    r = {"eps": [0.1, 0.2], "accuracy": [0.5, 0.2], "clean_accuracy": 0.9, "per_attack": {"pgd-momentum/ce": [0.6, 0.3]},
         "surrogates": [{"name": "s", "members": 3, "arch": "lenet5"}], "steps": 5, "samples": 10}
    fig = blackbox_figures.blackbox_figure([("a", r), ("b", r)])
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[0].y) == [0.9, 0.5, 0.2]
    rows = blackbox_figures.blackbox_table([("a", r)])
    assert [row["accuracy"] for row in rows] == [0.5, 0.2] and rows[0]["accuracy[pgd-momentum/ce]"] == 0.6


def test_the_discovered_surrogates_are_part_of_the_cache_key(quick_baseline, surrogate, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.setattr("engine.zoo.SHIPPED", tmp_path / "none")
    from engine.zoo import user_ensembles_dir

    def key():
        return analyses.request_key(analyses.get("blackbox"), quick_baseline, analyses.get("blackbox").config(**CONFIG))[0]

    empty = key()
    zoo = user_ensembles_dir()
    shutil.copytree(surrogate, zoo / "surrogate-a")
    one = key()
    shutil.copytree(quick_baseline, zoo / "surrogate-b")  # a different ensemble joins
    two = key()
    assert len({empty, one, two}) == 3
    shutil.rmtree(zoo / "surrogate-b")
    assert key() == one  # the same surrogates again: the same key


# ---------------------------------------------------------------- the fast path, same numbers
# (issue 15: every ε of a surrogate's attack as one batch, the target asked only about
# samples it still classifies correctly; the straightforward path is spelled out here)


@pytest.fixture(scope="module")
def shipped_pair():
    """The shipped 3-member LeNet-5 surrogate and DVERGE target, 16 test images."""
    from engine.checkpoint import load_checkpoint
    from engine.data import load_split
    from engine.zoo import SHIPPED

    data = load_split("fashion_mnist", "test").subset(16, 0)
    return (str(SHIPPED / "surrogate_3"), load_checkpoint(str(SHIPPED / "surrogate_3"), "cpu")[0],
            load_checkpoint(str(SHIPPED / "dverge"), "cpu")[0], data.images(), data.y)


def test_blackbox_equals_the_straightforward_path(shipped_pair, tmp_path):
    """Every version of every sample evaluated, one transfer set per ε, as before the change."""
    import torch

    path, surrogate, target, x, y = shipped_pair
    eps, steps, restarts = [0.05, 0.15], 3, 2
    fast = blackbox.blackbox(target, x, y, [path], dataset="fashion_mnist", eps=eps, steps=steps,
                             restarts=restarts, seed=0, cache=ResultCache(tmp_path / "c"))
    per_attack = {}
    for attack in ("pgd-momentum", "mdi2fgsm"):  # SGM: skipped on LeNet-5
        for loss in blackbox.LOSSES:
            rows = []
            for e in eps:
                delta = torch.from_numpy(blackbox.generate_transfer_set(
                    surrogate, x, y, attack=attack, loss=loss, eps=e, steps=steps, restarts=restarts,
                    seed=0).astype(np.float32))
                adv = blackbox.enforce_budget("linf", x, x[None] + delta, e)
                with torch.no_grad():
                    rows.append(torch.stack([target.log_probs(v).argmax(-1) == y for v in adv]).all(0))
            per_attack[f"{attack}/{loss}"] = torch.stack(rows)
    overall = torch.stack(list(per_attack.values())).all(0)
    assert fast["accuracy"] == overall.double().mean(1).tolist()
    assert fast["per_attack"] == {k: v.double().mean(1).tolist() for k, v in per_attack.items()}
    assert fast["versions_per_sample"] == len(blackbox.LOSSES) * (restarts + 1)  # per surrogate: 1 here
    assert 0 < min(fast["accuracy"]) < fast["clean_accuracy"]  # the attacks bite: not a vacuous comparison
