"""``python -m engine bench analyses``: counted passes and the stable JSON (no timings asserted)."""
import json
import re

import torch

from engine.bench_analyses import KEYS, PassCounter
from engine.cli import main
from engine.ensemble import attack_mode, layer_output
from engine.models import build_classifier


def _lenet():
    torch.manual_seed(0)
    return build_classifier("lenet5", channels=1, num_classes=10, mean=[0.5], std=[0.3])


def test_counter_counts_member_forwards_and_the_backwards_that_reach_them():
    a, b = _lenet(), _lenet()
    x = torch.rand(6, 1, 28, 28)
    counter = PassCounter().install()
    try:
        with torch.no_grad():
            a(x), b(x[:2])  # two forwards, 8 samples, no gradient
        with attack_mode(a, b):
            z = x.clone().requires_grad_(True)
            (a(z).sum() + b(z).sum()).backward()  # one input-gradient pass through each member
            layer_output(a, 2, z).sum().backward()  # an early-exit forward + its backward
            b(x).sum()  # frozen, input without grad: nothing flows back
        a(x).sum().backward()  # a weights-only backward (training)
    finally:
        counter.remove()
    assert counter.snapshot() == {"forward_passes": 7, "backward_passes": 4, "forward_samples": 38}
    with torch.no_grad():
        a(x)  # removed: no longer counted
    assert counter.forward == 7


def test_cli_prints_the_stable_keys_per_analysis(capsys):
    assert main(["bench", "analyses", "--analyses", "history", "--samples", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(out["analyses"]) == ["history"]  # a subset without 'report' leaves the report out
    assert out["device"] == "cpu"  # every bench command says where it ran
    r = out["analyses"]["history"]
    assert "error" not in r, r
    assert set(KEYS) <= set(r) and r["forward_passes"] == 0 and r["backward_passes"] == 0
    assert r["cold_s"] > 0 and r["warm_s"] > 0 and r["peak_mb"] >= r["base_mb"] > 0


def test_unknown_analysis_is_one_clear_error(capsys):
    assert main(["bench", "analyses", "--analyses", "nope"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown analyses nope; choose from transferability")


def test_compare_measures_an_old_revision_alternately_with_this_tree(capsys):
    assert main(["bench", "analyses", "--analyses", "history", "--samples", "4", "--compare", "HEAD", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    before = out["before"]
    assert before["revision"] == "HEAD" and len(before["commit"]) == 40
    assert set(KEYS) <= set(before["analyses"]["history"]) and set(KEYS) <= set(out["analyses"]["history"])
    assert out["speedup"]["history"] > 0
    assert re.fullmatch(r"PASSIVE|ACTIVE|default|spin \d+", out["wait_policy"])  # engine.threads.describe


def test_compare_with_an_unknown_revision_is_one_clear_error(capsys):
    assert main(["bench", "analyses", "--analyses", "history", "--compare", "no-such-rev"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --compare no-such-rev: not a commit of")
