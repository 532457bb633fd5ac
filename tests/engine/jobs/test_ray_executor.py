"""The Ray executor on a real local Ray instance (2 CPUs, no dashboard), started
on demand as without RAY_ADDRESS: a job trains exactly like a local one for the same seed
(bit-identical weights on CPU), cancel and resume work, a finished job's actor frees its
core, and a 2 x 2 sweep runs, aggregates over seeds and skips its finished trials when rerun."""
import json
import os
import statistics
import time

import pytest
import torch

# A head started by `ray start` (the on-demand one below) requires token authentication, and
# Ray reads the client's mode when it is first imported: before the import, as in the CLI.
os.environ.setdefault("RAY_AUTH_MODE", "token")
ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install -r requirements-ray.txt); "
                                        "without it the Ray executor cannot be tested")

from engine import cli, jobs, sweep  # noqa: E402
from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.jobs.ray_executor import (ADDRESS_ENV, HEAD_FILE, RayExecutor,  # noqa: E402
                                      stop_local_head)
from tests import helpers  # noqa: E402

TINY = dict(members=2, train_subset=1000, batch_size=100, lr=0.05, eval_samples=100, history_samples=0, device="cpu")
#: a sweep trial: one epoch of 40 batches, enough to leave chance level (10 batches were not:
#: then no test sample is classified correctly by every member and transferability is undefined)
TRIAL = dict(TINY, train_subset=2000, batch_size=50)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """One local instance for the module, started on demand the way a user's first command
    starts it: no RAY_ADDRESS, no Ray in this process, so ``RayExecutor.connect`` runs
    ``ray start --head`` (2 CPUs, no dashboard), records its address (127.0.0.1:PORT) in
    the store and joins it. Ended afterwards by its own pids (``ray stop`` would end other
    people's instances too)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    saved = os.environ.pop(ADDRESS_ENV, None)
    if ray.is_initialized():
        ray.shutdown()
    root = tmp_path_factory.mktemp("ray-head")
    executor = RayExecutor(jobs.JobStore(root / "jobs", root / "ensembles"), num_cpus=2)
    for attempt in (1, 2, 3):  # Ray waits 30 s for its raylet: a very busy machine can miss that
        try:
            executor.connect()
            break
        except jobs.JobError as exc:
            ray.shutdown()
            stop_local_head(executor.store.root)
            if attempt == 3 or "timed out" not in str(exc).lower():
                raise
    try:
        yield executor
    finally:
        ray.shutdown()
        stop_local_head(executor.store.root)
        if saved is not None:
            os.environ[ADDRESS_ENV] = saved


def test_without_an_address_a_local_instance_starts_on_demand_and_is_recorded_for_later_commands(ray_instance):
    head = json.loads((ray_instance.store.root / HEAD_FILE).read_text())
    host, _, port = head["address"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert ray.get_runtime_context().gcs_address.rpartition(":")[2] == port  # this process joined it
    assert ray.cluster_resources()["CPU"] == 2
    assert RayExecutor(ray_instance.store)._recorded_head() == head["address"]  # what the next command joins
    assert ray_instance.slots() == ["ray:cpu#0", "ray:cpu#1"]  # CPU jobs by cores: 2 cores, 1 each


@pytest.fixture
def stores(tmp_path, monkeypatch, ray_instance):
    monkeypatch.setenv("ROBUST_ENSEMBLES_HOME", str(tmp_path))
    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    return jobs.JobStore(tmp_path / "ray-jobs", tmp_path / "ray-ensembles"), \
        jobs.JobStore(tmp_path / "local-jobs", tmp_path / "local-ensembles")


def tiny(epochs=1, **kw):
    return jobs.build_config("baseline", None, epochs=epochs, **{**TINY, **kw})


def wait_for(executor, job_id, predicate, timeout=600.0):
    """Wait until ``predicate(job)``; a job that ends without it fails the test at once."""
    def settled_or(job):
        if predicate(job):
            return True
        if job.state in ("done", "failed", "cancelled"):
            log = executor.store.log_path(job_id)
            raise AssertionError(f"job ended {job.state} (error: {job.error}); log:\n"
                                 f"{log.read_text(errors='replace')[-2000:] if log.exists() else '(none)'}")
        return False

    return helpers.wait_for(executor, job_id, settled_or, timeout=timeout, poll=0.2)


def test_cancel_kills_the_actor_and_resume_continues_from_the_last_saved_epoch(stores):
    ray_store, _ = stores
    executor = RayExecutor(ray_store)
    job = executor.submit(tiny(epochs=4, train_subset=3000), name="cancelled")
    job = wait_for(executor, job.id, lambda j: jobs.saved_epochs(j)["train"] >= 1)
    cancelled = executor.cancel(job.id)
    assert cancelled.state == "cancelled" and executor._actor(cancelled) is None
    saved = jobs.saved_epochs(cancelled)["train"]
    before = jobs.history(cancelled)
    _, meta = load_checkpoint(cancelled.out)  # consistent: hashes verified
    assert 1 <= saved == meta["epoch"] < 4

    job = helpers.resume_until_done(executor, job.id, saved=saved, before=before, epochs=4, timeout=600)
    # the finished job's actor ended itself, so its core is free for the next job
    deadline = time.time() + 60
    while executor._actor(job) is not None and time.time() < deadline:
        time.sleep(0.2)
    assert executor._actor(job) is None


def test_a_two_by_two_sweep_on_ray_trains_like_local_jobs_aggregates_over_seeds_and_reruns_nothing(
        stores, tmp_path, monkeypatch, capsys):
    ray_store, local_store = stores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray gives a 1-CPU actor: same float reduction order
    executor = RayExecutor(ray_store)
    assert executor.slots() == ["ray:cpu#0", "ray:cpu#1"]
    spec = sweep.SweepSpec(methods=["baseline"], seeds=[0, 1], grid={"lr": [0.05, 0.1]}, preset=None,
                           fixed={**TRIAL, "epochs": 1}, name="grid")
    record = sweep.start(spec, executor, root=tmp_path / "sweeps")
    assert record["last_run"]["submitted"] == 4 and len(record["trials"]) == 4
    running = [j for j in ray_store.list() if j.state == "running"]
    assert sorted(j.slot for j in running) == ["ray:cpu#0", "ray:cpu#1"]  # two at once, two queued
    local = jobs.LocalProcessExecutor(local_store, max_jobs=1)
    reference = local.submit(tiny(**TRIAL), name="on local")  # = the (lr 0.05, seed 0) trial; trains meanwhile

    states = sweep.wait(record, executor, poll=0.3, timeout=900)
    assert states == {"done": 4}
    reference = wait_for(local, reference.id, lambda j: j.state != "running")
    assert reference.state == "done", reference.error

    [entry] = [e for e in record["trials"].values() if e["seed"] == 0 and e["params"] == {"lr": 0.05}]
    job = ray_store.get(entry["job"])
    assert job.executor == "ray" and job.config == reference.config
    ours, _ = load_checkpoint(job.out)
    theirs, _ = load_checkpoint(reference.out)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name  # same seed, same result
    assert jobs.history(job)[0]["ensemble_clean_accuracy"] == jobs.history(reference)[0]["ensemble_clean_accuracy"]

    # what `jobs list` and the Train page read: progress, loss curve, history, log
    progress = ray_store.progress(job.id)
    row = jobs.summary(job, progress)
    assert (row["state"], row["progress"], row["epochs_saved"]) == ("done", 1.0, 1)
    assert progress["losses"][-1]["x"] == 1.0 and len(progress["losses"][-1]["members"]) == 2
    assert "Traceback" not in ray_store.log_path(job.id).read_text()
    assert executor._actor(job) is None  # the actor exited with its job

    rows = sweep.evaluate(record, executor, analysis="transferability",
                          config={"samples": 100, "steps": 2, "examples": 0}, device="cpu")
    table = {row["params"]["lr"]: row for row in sweep.aggregate(rows)}
    assert sorted(table) == [0.05, 0.1]
    for lr, row in table.items():
        assert row["seeds"] == [0, 1]
        runs = sorted((r for r in rows if r["params"]["lr"] == lr), key=lambda r: r["seed"])
        accs = [jobs.history(ray_store.get(r["job"]))[-1]["ensemble_clean_accuracy"] for r in runs]
        acc = row["metrics"]["accuracy"]
        assert acc["values"] == accs and acc["n"] == 2
        assert acc["mean"] == pytest.approx(sum(accs) / 2) and acc["std"] == pytest.approx(statistics.stdev(accs))
        assert "transferability.off_diagonal_mean" in row["metrics"]
    assert "± " in sweep.format_table(sweep.aggregate(rows))

    # the same sweep from the command line: every trial is finished, nothing is queued again
    assert cli.main(["sweep", "--method", "baseline", "--seeds", "0-1", "--param", "lr=0.05,0.1", "--preset", "none",
                     "--name", "grid", "--members", "2", "--epochs", "1", "--train-subset", "2000",
                     "--batch-size", "50", "--eval-samples", "100", "--history-samples", "0", "--device", "cpu",
                     "--executor", "ray", "--store", str(ray_store.root), "--sweeps-dir", str(tmp_path / "sweeps"),
                     "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["last_run"]["skipped"] == 4 and out["last_run"]["submitted"] == 0
    assert out["states"] == {"done": 4} and len(out["table"]) == 2
    assert out["table"] == json.loads(json.dumps(sweep.aggregate(sweep.evaluate(record, executor))))
    assert len(ray_store.list()) == 4  # nothing new was queued
