"""Sweep grids: seeds and grid parsing, expansion into validated trial configs, and the
mean ± std table (checked against numpy). Running sweeps on an executor is tested with
a real Ray instance in tests/engine/jobs/test_ray_executor.py."""
import numpy as np
import pytest

from engine import sweep
from engine.config import make_config


def test_seeds_and_grid_are_parsed_with_clear_errors():
    assert sweep.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert sweep.parse_seeds("3,0-1,3") == [3, 0, 1]
    with pytest.raises(sweep.SweepError, match=r"--seeds expects e.g. 0-4 or 0,1,2 \(non-negative integers\), got 'a-b'"):
        sweep.parse_seeds("a-b")
    with pytest.raises(sweep.SweepError, match="--seeds range '4-1' is empty"):
        sweep.parse_seeds("4-1")
    assert sweep.parse_grid(["eps=0.05,0.1", "mode=rm", "batch-size=64"]) == {
        "eps": [0.05, 0.1], "mode": ["rm"], "batch_size": [64]}
    with pytest.raises(sweep.SweepError, match="--param expects KEY=V1,V2,..., got 'eps'"):
        sweep.parse_grid(["eps"])
    with pytest.raises(sweep.SweepError, match="--param eps is given twice"):
        sweep.parse_grid(["eps=0.1", "eps=0.2"])


def test_a_hyperparameter_expands_only_the_methods_that_have_it():
    spec = sweep.SweepSpec(methods=["dverge", "baseline"], seeds=[0, 1], grid={"eps": [0.05, 0.1], "lr": [0.01]})
    trials = sweep.expand(spec)
    dverge = [t for t in trials if t.method == "dverge"]
    baseline = [t for t in trials if t.method == "baseline"]
    assert [(t.params, t.seed) for t in dverge] == [({"eps": 0.05, "lr": 0.01}, 0), ({"eps": 0.05, "lr": 0.01}, 1),
                                                    ({"eps": 0.1, "lr": 0.01}, 0), ({"eps": 0.1, "lr": 0.01}, 1)]
    assert [(t.params, t.seed) for t in baseline] == [({"lr": 0.01}, 0), ({"lr": 0.01}, 1)]
    expected = make_config("dverge", "quick", seed=1, lr=0.01, method_params={"eps": 0.1}).model_dump()
    assert dverge[3].config == expected
    assert len({t.key for t in trials}) == len(trials)
    assert all(len(sweep.trial_name(spec.sweep_name(), t)) <= 64 for t in trials)
    # the name depends on the grid, not on the order of runs: a rerun finds the same sweep
    assert spec.sweep_name() == sweep.SweepSpec(**spec.model_dump()).sweep_name()


def test_bad_grids_are_rejected_before_anything_runs():
    with pytest.raises(sweep.SweepError, match="--param lam: not a training field nor a hyperparameter of baseline"):
        sweep.expand(sweep.SweepSpec(methods=["baseline"], grid={"lam": [0.5]}))
    with pytest.raises(sweep.SweepError, match="unknown method 'dvergee'"):
        sweep.expand(sweep.SweepSpec(methods=["dvergee"]))
    with pytest.raises(sweep.SweepError, match=r"dverge with \{'eps': -1\}: invalid training configuration"):
        sweep.expand(sweep.SweepSpec(methods=["dverge"], grid={"eps": [-1]}))
    with pytest.raises(sweep.SweepError, match="--param seed: use --seeds for that"):
        sweep.expand(sweep.SweepSpec(methods=["dverge"], grid={"seed": [1]}))


def test_the_table_is_mean_and_sample_std_over_seeds_per_grid_point():
    rng = np.random.default_rng(0)
    values = {(lr, seed): float(rng.random()) for lr in (0.1, 0.2) for seed in range(3)}
    rows = [{"method": "baseline", "seed": s, "params": {"lr": lr}, "state": "done", "metrics": {"accuracy": v}}
            for (lr, s), v in values.items()]
    rows.append({"method": "baseline", "seed": 9, "params": {"lr": 0.1}, "state": "failed", "metrics": {}})
    table = sweep.aggregate(rows)
    assert [row["params"] for row in table] == [{"lr": 0.1}, {"lr": 0.2}]
    for row in table:
        expected = np.array([values[(row["params"]["lr"], s)] for s in range(3)])
        acc = row["metrics"]["accuracy"]
        assert row["seeds"] == [0, 1, 2] and acc["n"] == 3  # the failed seed is not counted
        assert acc["mean"] == pytest.approx(expected.mean()) and acc["std"] == pytest.approx(expected.std(ddof=1))
    text = sweep.format_table(table).splitlines()
    assert text[0].split() == ["method", "lr", "n", "accuracy"]
    first = table[0]["metrics"]["accuracy"]
    assert text[1].split() == ["baseline", "0.1", "3", f"{first['mean']:.4f}", "±", f"{first['std']:.4f}"]


def test_a_rerun_skips_finished_trials_resumes_failed_ones_and_submits_only_missing_ones(tmp_path, monkeypatch):
    """No training here (the queue is paused: max_jobs=0); a real run on Ray is in
    tests/engine/jobs/test_ray_executor.py."""
    from engine import jobs

    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    executor = jobs.LocalProcessExecutor(jobs.JobStore(tmp_path / "jobs", tmp_path / "ensembles"), max_jobs=0)
    spec = sweep.SweepSpec(methods=["baseline"], seeds=[0, 1, 2], preset="quick", name="rerun")
    record = sweep.start(spec, executor, root=tmp_path / "sweeps")
    assert record["last_run"]["submitted"] == 3 and {j.state for j in executor.store.list()} == {"queued"}
    by_seed = {e["seed"]: e["job"] for e in record["trials"].values()}
    executor.store.update(by_seed[0], state="done")
    executor.store.update(by_seed[1], state="failed", error="interrupted")

    again = sweep.start(spec, executor, root=tmp_path / "sweeps")
    assert {k: again["last_run"][k] for k in ("skipped", "resumed", "submitted", "active")} == \
        {"skipped": 1, "resumed": 1, "submitted": 0, "active": 1}
    assert executor.get(by_seed[1]).state == "queued" and executor.get(by_seed[1]).error is None
    assert len(executor.store.list()) == 3  # the same three jobs, nothing new
    assert sweep.load_record(spec.sweep_name(), tmp_path / "sweeps")["trials"] == record["trials"]


def test_the_figure_draws_each_grid_points_mean_with_its_std_as_error_bar():
    from engine.figures.sweep import sweep_figure

    rows = [{"method": m, "seed": s, "params": {"lr": lr}, "state": "done", "metrics": {"accuracy": v}}
            for m, lr, s, v in [("baseline", 0.1, 0, 0.5), ("baseline", 0.1, 1, 0.7), ("baseline", 0.2, 0, 0.2),
                                ("baseline", 0.2, 1, 0.3), ("baseline", 0.2, 2, 0.7), ("adp", 0.1, 0, 0.9)]]
    table = sweep.aggregate(rows)
    fig = sweep_figure(table, "accuracy")
    by_method = {trace.name: trace for trace in fig.data}
    base = by_method["baseline"]
    assert list(base.x) == ["lr=0.1", "lr=0.2"]
    assert list(base.y) == pytest.approx([0.6, 0.4])
    assert list(base.error_y.array) == pytest.approx([np.std([0.5, 0.7], ddof=1), np.std([0.2, 0.3, 0.7], ddof=1)])
    assert list(by_method["adp"].y) == pytest.approx([0.9]) and list(by_method["adp"].error_y.array) == [0.0]  # one seed
    assert "mean ± std over seeds" in fig.layout.title.text
